"""The erasure horizon: scheduled master-key rotation, destruction of retired versions, the
horizon's date, and a backup taken before an erasure that becomes unreadable by that date."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import uuid
from pathlib import Path

import boto3
import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connection

from compliance_site.audit.models import AccessAction, AccessEvent
from compliance_site.keys import (
    DestroyedKeyVersionError,
    KeyProviderError,
    get_provider,
    reset_provider_cache,
)
from compliance_site.schedule import PERIODIC_JOBS
from recordings.models import MasterKeyVersionRetirement, SubjectKey
from recordings.tasks import rotate_master_key
from recordings.vault.horizon import erasure_horizon
from recordings.vault.keys import (
    PERSONAL_FIELDS,
    _aad,
    _field_aad,
    open_sealed,
    personal_data_read,
    recording_aad,
    subject_key_aad,
)
from recordings.vault.retirement import master_key_versions_retire
from recordings.vault.services import subject_personal_data_shred
from recordings.vault.streaming_decrypt import DecryptingReader
from tests.factories import AUDIO, DataSubjectFactory, RecordingFactory

pytestmark = pytest.mark.django_db

START = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def _fresh_providers(settings):
    settings.CUSTOS_MASTER_KEY_ROTATION_DAYS = 7
    settings.CUSTOS_BACKUP_RETENTION_DAYS = 30
    reset_provider_cache()
    yield
    reset_provider_cache()


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def _versions() -> dict[str, object]:
    return {v.version: v for v in get_provider().versions()}


def test_rotation_is_scheduled_under_beat():
    job = next(job for job in PERIODIC_JOBS if job.task == "recordings.tasks.rotate_master_key")
    assert getattr(django_settings, job.crontab_setting) == "40 * * * *"


def test_rotation_starts_only_once_the_current_version_is_older_than_the_interval(clock):
    subjects = DataSubjectFactory.create_batch(3)
    first = get_provider().current_version()

    clock.move_to(START + 7 * DAY - datetime.timedelta(minutes=1))
    assert rotate_master_key()["started"] is None
    assert get_provider().current_version() == first

    clock.move_to(START + 7 * DAY)
    result = rotate_master_key()

    second = get_provider().current_version()
    assert result["started"] == second != first
    assert result["subject_keys"] == 3
    assert set(SubjectKey.objects.values_list("master_version", flat=True)) == {second}
    for subject in subjects:
        assert personal_data_read(subject).full_name == "Erika Mustermann"
    # and the next hour does not rotate again
    clock.move_to(START + 7 * DAY + datetime.timedelta(hours=1))
    assert rotate_master_key()["started"] is None


def test_an_interrupted_rotation_is_finished_before_another_starts(clock):
    DataSubjectFactory.create_batch(3)
    from recordings.vault.services import subject_keys_rewrap_batch

    clock.move_to(START + 30 * DAY)
    second = get_provider().create_version()
    subject_keys_rewrap_batch(batch_size=1)  # the worker died after one batch

    result = rotate_master_key()

    assert result["started"] is None and result["subject_keys"] == 2
    assert get_provider().current_version() == second


def test_a_retired_version_is_destroyed_once_retired_longer_than_the_backup_retention(clock, settings):
    subject = DataSubjectFactory()
    first = get_provider().current_version()
    clock.move_to(START + 7 * DAY)
    rotate_master_key()
    retired_at = MasterKeyVersionRetirement.objects.get(version=first).retired_at
    assert retired_at == START + 7 * DAY

    clock.move_to(retired_at + 30 * DAY - datetime.timedelta(minutes=1))
    assert master_key_versions_retire() == []
    assert _versions()[first].destroyed_at is None

    path = Path(settings.LOCAL_KEYRING_PATH)
    material = json.loads(path.read_text())["versions"][first]["key"]
    clock.move_to(retired_at + 30 * DAY)
    result = rotate_master_key()

    assert first in result["destroyed"]
    assert _versions()[first].destroyed_at is not None
    # the keyring file no longer holds the version's key, and is still private
    keyring = json.loads(path.read_text())
    assert keyring["versions"][first]["key"] is None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not list(path.parent.glob(f".{path.name}.*.tmp"))
    # recorded, with the version and the time, no key material
    record = MasterKeyVersionRetirement.objects.get(version=first)
    assert record.destroyed_at == retired_at + 30 * DAY
    event = AccessEvent.objects.get(action=AccessAction.KEY_DESTROYED, object_type="master_key_version")
    assert event.detail["version"] == first
    assert event.occurred_at == retired_at + 30 * DAY
    assert set(event.detail) == {"version", "retired_at", "backup_retention_days"}
    assert material not in path.read_text() + json.dumps(event.detail)
    # the live data under the current version still reads
    assert personal_data_read(subject).full_name == "Erika Mustermann"
    # and a second run records nothing twice
    assert master_key_versions_retire() == []
    assert AccessEvent.objects.filter(object_type="master_key_version").count() == 1


def test_a_version_that_still_wraps_a_key_is_never_destroyed(clock):
    DataSubjectFactory()
    first = get_provider().current_version()
    get_provider().create_version()  # a rotation that never re-wrapped anything

    clock.move_to(START + 365 * DAY)
    assert master_key_versions_retire() == []

    assert _versions()[first].destroyed_at is None
    assert not MasterKeyVersionRetirement.objects.filter(version=first).exists()


def test_a_staff_authenticator_key_keeps_its_version_alive_too(clock, dpo):
    from compliance_site.models import Authenticator

    authenticator = Authenticator(user=dpo, name="phone", confirmed=True)
    authenticator.set_key(os.urandom(20))
    authenticator.save()
    first = authenticator.key_version
    get_provider().create_version()

    clock.move_to(START + 365 * DAY)
    assert master_key_versions_retire() == []
    assert _versions()[first].destroyed_at is None


def test_horizon_is_erasure_plus_rotation_plus_backup_retention_and_margins(settings):
    erased_at = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)

    assert erasure_horizon(erased_at) == erased_at + (7 + 1 + 30 + 1) * DAY

    settings.CUSTOS_BACKUP_RETENTION_DAYS = 90
    settings.CUSTOS_MASTER_KEY_ROTATION_DAYS = 1
    assert erasure_horizon(erased_at) == erased_at + (1 + 1 + 90 + 1) * DAY


# --- The backup ---------------------------------------------------------------------------


def _is_postgresql() -> bool:
    return connection.vendor == "postgresql"


class _Backup:
    """A copy of the database (SQLite's online backup, or pg_dump restored into a scratch
    database) and of the recordings storage, as an operator's backup would hold them."""

    TABLES = ("recordings_subjectkey", "recordings_datasubject", "recordings_recordingkey")

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        storage = Path(django_settings.STORAGES["recordings"]["OPTIONS"]["location"])
        shutil.copytree(storage, folder / "storage")
        self.storage = folder / "storage"
        if _is_postgresql():
            dump = folder / "dump.sql"
            params = connection.settings_dict
            env = {**os.environ, "PGPASSWORD": params.get("PASSWORD") or ""}
            base = ["-h", params["HOST"] or "127.0.0.1", "-p", str(params["PORT"] or 5432)]
            base += ["-U", params["USER"]]
            args = [f"--table={table}" for table in self.TABLES]
            subprocess.run(["pg_dump", *base, *args, "-f", str(dump), params["NAME"]], check=True, env=env)
            self.dbname = f"custos_backup_{uuid.uuid4().hex[:8]}"
            subprocess.run(["createdb", *base, self.dbname], check=True, env=env)
            subprocess.run(
                ["psql", *base, "-q", "-f", str(dump), self.dbname], check=True, env=env, capture_output=True
            )
            self._base, self._env = base, env
        else:
            connection.ensure_connection()
            target = sqlite3.connect(folder / "backup.sqlite3")
            connection.connection.backup(target)
            target.close()

    def row(self, sql: str, *params: object) -> tuple:
        if _is_postgresql():
            import psycopg

            dsn = connection.settings_dict
            with psycopg.connect(
                host=dsn["HOST"] or "127.0.0.1",
                port=dsn["PORT"] or 5432,
                user=dsn["USER"],
                password=dsn.get("PASSWORD") or None,
                dbname=self.dbname,
            ) as conn:
                return conn.execute(sql.replace("?", "%s"), params).fetchone()
        with sqlite3.connect(self.folder / "backup.sqlite3") as conn:
            return conn.execute(sql, params).fetchone()

    def drop(self) -> None:
        if _is_postgresql():
            subprocess.run(["dropdb", *self._base, self.dbname], check=True, env=self._env)


def _decrypt_from_backup(backup: _Backup, subject, recording) -> dict[str, str | bytes]:
    """What the backup gives with the keyring Custos holds now: the subject's fields and audio."""
    version, wrapped = backup.row(
        "SELECT master_version, wrapped_key FROM recordings_subjectkey WHERE subject_id = ?", subject.pk
    )
    key = get_provider().unwrap(version, bytes(wrapped), associated_data=subject_key_aad(subject))
    fields = backup.row(
        "SELECT full_name_encrypted, phone_encrypted, email_encrypted FROM recordings_datasubject "
        "WHERE id = ?",
        subject.pk,
    )
    found: dict[str, str | bytes] = {
        field: open_sealed(key, bytes(blob), _field_aad(subject, field)).decode()
        for field, blob in zip(PERSONAL_FIELDS, fields, strict=True)
    }
    (wrapped_recording_key,) = backup.row(
        "SELECT wrapped_key FROM recordings_recordingkey WHERE recording_id = ?", recording.pk
    )
    recording_key = open_sealed(key, bytes(wrapped_recording_key), _aad("recording-key", recording.pk))
    blob = backup.storage / recording.storage_ref
    with blob.open("rb") as ciphertext:
        reader = DecryptingReader(
            ciphertext,
            key=recording_key,
            associated_data=recording_aad(recording.pk),
            ciphertext_size=blob.stat().st_size,
        )
        found["audio"] = b"".join(reader.iter_range())
        reader.close()
    return found


@pytest.mark.django_db(transaction=True)
def test_a_backup_taken_before_an_erasure_is_unreadable_by_the_horizon(clock, tmp_path):
    subject = DataSubjectFactory(full_name="Erika Mustermann", phone="030 1234567", email="erika@example.org")
    recording = RecordingFactory(subject=subject)
    backup = _Backup(tmp_path / "backup")
    try:
        # the erasure: live data is unreadable at once
        subject_personal_data_shred(subject=subject, reason="erasure DSR-2026-000001")
        erased_at = START
        # control: with the keyring as it is, the backup still gives everything back
        assert _decrypt_from_backup(backup, subject, recording) == {
            "full_name": "Erika Mustermann",
            "phone": "+49301234567",
            "email": "erika@example.org",
            "audio": AUDIO,
        }

        # beat runs every hour until the horizon
        moment = START
        while moment <= erasure_horizon(erased_at):
            clock.move_to(moment)
            rotate_master_key()
            moment += datetime.timedelta(hours=6)

        # then nothing Custos holds opens the backup's subject key: not the destroyed version,
        # nor any version still in the keyring
        with pytest.raises(DestroyedKeyVersionError):
            _decrypt_from_backup(backup, subject, recording)
        (wrapped,) = backup.row(
            "SELECT wrapped_key FROM recordings_subjectkey WHERE subject_id = ?", subject.pk
        )
        for version in get_provider().versions():
            with pytest.raises(KeyProviderError):
                get_provider().unwrap(
                    version.version, bytes(wrapped), associated_data=subject_key_aad(subject)
                )
    finally:
        backup.drop()


# --- AWS KMS ------------------------------------------------------------------------------


@pytest.fixture
def kms_settings(settings, moto_server):
    kms = boto3.client("kms", region_name="eu-central-1", endpoint_url=moto_server)
    alias = f"alias/custos-horizon-{uuid.uuid4().hex[:8]}"
    kms.create_alias(
        AliasName=alias, TargetKeyId=kms.create_key(Description="made by ops")["KeyMetadata"]["KeyId"]
    )
    settings.KEY_PROVIDER = "aws-kms"
    settings.AWS_KMS_KEY_ID = alias
    settings.AWS_KMS_REGION_NAME = "eu-central-1"
    settings.AWS_KMS_ENDPOINT_URL = moto_server
    settings.BLIND_INDEX_KEY = "ZGVtby1ibGluZC1pbmRleC1rZXktMzItYnl0ZXMhISE="
    reset_provider_cache()
    return kms


def test_on_kms_a_retired_version_is_scheduled_for_deletion_with_the_shortest_wait(kms_settings):
    subject = DataSubjectFactory()
    first = get_provider().current_version()
    now = datetime.datetime.now(tz=datetime.UTC)
    from recordings.vault.rotation import master_key_rotate

    master_key_rotate(force=True)
    assert master_key_versions_retire(now=now) == []  # retired now, destroyed 30 days on

    assert master_key_versions_retire(now=now + 30 * DAY) == [first]

    metadata = kms_settings.describe_key(KeyId=first)["KeyMetadata"]
    assert metadata["KeyState"] == "PendingDeletion"
    assert metadata["DeletionDate"] <= datetime.datetime.now(tz=datetime.UTC) + 7 * DAY + datetime.timedelta(
        minutes=1
    )
    assert personal_data_read(subject).full_name == "Erika Mustermann"
    erased_at = datetime.datetime(2026, 5, 4, tzinfo=datetime.UTC)
    assert erasure_horizon(erased_at) == erased_at + (7 + 1 + 30 + 1 + 7) * DAY
