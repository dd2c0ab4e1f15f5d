"""The access log anchored outside the database: keyed hashes and signed hourly digests.

Every tampering is done as a database writer without the keyring would do it: rows edited,
deleted, swapped or inserted, every later hash recomputed (plain SHA-256, the only hash such a
writer can compute) and the chain's head moved to match. Each is detected.
"""

from __future__ import annotations

import datetime
import io
import json

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection

from compliance_site.audit.chain import GENESIS_HASH, event_hash
from compliance_site.audit.digests import digest_names, digests_write_due, period_floor
from compliance_site.audit.models import AccessEvent, AuditChainHead, AuditKey
from compliance_site.audit.services import access_event_record, event_fields
from compliance_site.audit.tasks import verify_access_log, write_audit_digests
from compliance_site.audit.verification import access_log_report
from recordings.vault.storage import recordings_storage

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 3, 2, 9, 10, tzinfo=datetime.UTC)


def _record(n: int, actor=None) -> AccessEvent:
    return access_event_record(
        action="view", object_type="recording", object_id=n, actor=actor, detail={"n": n}
    )


@pytest.fixture
def anchored(dpo):
    """Three hours of log: 3 events, an empty hour, 3 events; digests written as beat would,
    and the check run an hour after the last period."""
    with time_machine.travel(T0, tick=False):
        for n in range(1, 4):
            _record(n, dpo)
    with time_machine.travel(T0 + datetime.timedelta(hours=1, minutes=1), tick=False):
        assert len(digests_write_due()) == 1
    with time_machine.travel(T0 + datetime.timedelta(hours=2), tick=False):
        for n in range(4, 7):
            _record(n, dpo)
    with time_machine.travel(T0 + datetime.timedelta(hours=3, minutes=1), tick=False):
        assert len(digests_write_due()) == 2  # the empty hour gets its digest too
    traveller = time_machine.travel(T0 + datetime.timedelta(hours=3, minutes=30), tick=False)
    traveller.start()
    yield list(AccessEvent.objects.order_by("sequence"))
    traveller.stop()


def _rehash_from(sequence: int) -> None:
    """What a writer without the key does after tampering: recompute every hash from
    ``sequence`` on with plain SHA-256, and move the head to the new end."""
    prev = (
        AccessEvent.objects.filter(sequence=sequence - 1).values_list("hash", flat=True).first()
        or GENESIS_HASH
    )
    last = 0
    for event in AccessEvent.objects.filter(sequence__gte=sequence).order_by("sequence"):
        event.key_version = ""
        event.prev_hash = prev
        event.hash = prev = event_hash(prev, event_fields(event))
        AccessEvent.objects.filter(pk=event.pk).update(
            prev_hash=event.prev_hash, hash=event.hash, key_version=""
        )
        last = event.sequence
    last = last or AccessEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0
    AuditChainHead.objects.filter(id=1).update(sequence=last, last_hash=prev)


def _problems() -> str:
    return "\n".join(access_log_report().problems())


def test_an_untouched_log_verifies_against_its_digests(anchored):
    out = io.StringIO()
    call_command("verify_audit_log", stdout=out)

    assert "intact: 6 events verified against 3 digests" in out.getvalue()
    assert {e.key_version for e in anchored} == {"a1"}
    digest = json.loads(recordings_storage().open(digest_names()[0]).read())
    assert (digest["first_event"]["sequence"], digest["last_event"]["sequence"], digest["count"]) == (1, 3, 3)
    assert digest["last_event"]["hash"] == anchored[2].hash
    assert digest["period_start"] == "2026-03-02T09:00:00+00:00"
    empty = json.loads(recordings_storage().open(digest_names()[1]).read())
    assert (empty["first_event"], empty["last_event"], empty["count"]) == (None, None, 0)
    assert AuditKey.objects.count() == 1


def test_the_hash_is_keyed(anchored):
    # the stored hash is not the plain SHA-256 a database writer could compute
    event = anchored[0]
    assert event.hash != event_hash(event.prev_hash, event_fields(event))


def test_an_edit_with_every_later_hash_and_the_head_recomputed_is_detected(anchored):
    AccessEvent.objects.filter(sequence=2).update(actor_label="mallory")
    _rehash_from(2)

    problems = _problems()
    assert "event #2" in problems and "not keyed" in problems
    assert "last event of digest" in problems  # #3's hash is anchored in the first digest


def test_an_edit_that_keeps_the_key_label_is_detected(anchored):
    AccessEvent.objects.filter(sequence=5).update(detail={"n": 99})

    with pytest.raises(CommandError, match=r"event #5 .*edited"):
        call_command("verify_audit_log", stdout=io.StringIO(), stderr=io.StringIO())


def test_a_deleted_event_in_the_middle_renumbered_and_rehashed_is_detected(anchored):
    AccessEvent.objects.filter(sequence=2).delete()
    for event in AccessEvent.objects.filter(sequence__gt=2).order_by("sequence"):
        AccessEvent.objects.filter(pk=event.pk).update(sequence=event.sequence - 1)
    _rehash_from(2)

    problems = _problems()
    assert "not keyed" in problems
    assert "differs in the database" in problems or "missing" in problems


def test_a_truncated_tail_with_the_head_rewound_is_detected(anchored):
    # the chain in the database reads as whole: only the digest knows there were six events
    AccessEvent.objects.filter(sequence__gte=5).delete()
    AuditChainHead.objects.filter(id=1).update(sequence=4, last_hash=anchored[3].hash)

    report = access_log_report()
    assert report.broken is None
    problems = "\n".join(report.digest_problems)
    assert "event #6" in problems and "missing from the database" in problems
    assert "head is at #4" in problems


def test_swapped_events_are_detected(anchored):
    first, second = anchored[3], anchored[4]
    with connection.cursor() as cursor:
        table = AccessEvent._meta.db_table
        cursor.execute(f"UPDATE {table} SET sequence = %s WHERE id = %s", [1000, first.pk])
        cursor.execute(f"UPDATE {table} SET sequence = %s WHERE id = %s", [first.sequence, second.pk])
        cursor.execute(f"UPDATE {table} SET sequence = %s WHERE id = %s", [second.sequence, first.pk])

    problems = _problems()
    assert "event #4" in problems
    assert "first event of digest" in problems


def test_a_forged_event_inserted_and_the_chain_rehashed_is_detected(anchored):
    for event in AccessEvent.objects.filter(sequence__gte=5).order_by("-sequence"):
        AccessEvent.objects.filter(pk=event.pk).update(sequence=event.sequence + 1)
    AccessEvent.objects.create(
        sequence=5,
        occurred_at=anchored[4].occurred_at,
        actor_label="mallory",
        action="view",
        object_type="recording",
        object_id=42,
        prev_hash="",
        hash="",
        key_version="a1",  # claims the real key, but cannot compute its HMAC
    )
    _rehash_from(5)

    problems = _problems()
    assert "event #5" in problems
    # the digest's last event (#6) is now another row, under another hash
    assert "event #6" in problems and "differs in the database" in problems


def test_a_forged_event_signed_with_a_key_of_the_intruders_own_is_detected(anchored):
    AuditKey.objects.create(label="a9", master_version="v1", wrapped_key=b"\x01" + b"x" * 60, created_at=T0)
    forged = AccessEvent(
        sequence=7,
        occurred_at=T0,
        actor_label="mallory",
        action="view",
        object_type="recording",
        prev_hash=anchored[-1].hash,
        key_version="a9",
    )
    forged.hash = event_hash(forged.prev_hash, event_fields(forged), b"k" * 32)
    forged.save()
    AuditChainHead.objects.filter(id=1).update(sequence=7, last_hash=forged.hash)

    assert "audit key Custos does not hold" in _problems()


def test_moving_the_switch_over_to_pass_rewritten_events_as_legacy_is_detected(anchored):
    AccessEvent.objects.filter(sequence=4).update(actor_label="mallory")
    _rehash_from(1)
    AuditChainHead.objects.filter(id=1).update(keyed_from=100)

    report = access_log_report()
    assert report.broken is None  # the database alone reads as a whole legacy chain
    problems = "\n".join(report.digest_problems)
    assert "switch-over to keyed hashes is at #100" in problems
    assert "differs in the database" in problems


def test_a_deleted_digest_is_detected(anchored):
    recordings_storage().delete(digest_names()[1])

    assert "a digest between them was deleted" in _problems()


def test_the_newest_digests_deleted_are_detected(anchored):
    recordings_storage().delete(digest_names()[-1])
    with time_machine.travel(T0 + datetime.timedelta(hours=4, minutes=30), tick=False):
        assert "the digests after it are missing" in _problems()


def test_an_edited_digest_is_detected(anchored):
    name = digest_names()[0]
    document = json.loads(recordings_storage().open(name).read())
    document["count"] = 2
    recordings_storage().delete(name)
    recordings_storage().save(name, io.BytesIO(json.dumps(document).encode()))

    assert f"digest {name} does not match its signature" in _problems()


def test_every_digest_deleted_is_detected(anchored):
    for name in digest_names():
        recordings_storage().delete(name)

    assert "no digest exists" in _problems()


def test_the_nightly_check_alerts_on_a_digest_mismatch(anchored, roles):
    AccessEvent.objects.filter(sequence__gte=5).delete()
    AuditChainHead.objects.filter(id=1).update(sequence=4, last_hash=anchored[3].hash)

    result = verify_access_log.apply().get()

    assert "event #6" in result
    assert len(mail.outbox) == 1
    assert "does not match its signed digests" in mail.outbox[0].subject
    assert "head is at #4" in mail.outbox[0].body


def test_a_digest_is_not_signed_over_a_broken_chain(dpo):
    with time_machine.travel(T0, tick=False):
        _record(1, dpo)
        _record(2, dpo)
    AccessEvent.objects.filter(sequence=1).update(actor_label="mallory")
    with (
        time_machine.travel(T0 + datetime.timedelta(hours=1, minutes=1), tick=False),
        pytest.raises(Exception, match="no digest was signed"),
    ):
        write_audit_digests.apply(throw=True).get()
    assert digest_names() == []


def test_rotation_keeps_old_events_verifiable_after_the_old_master_version_is_destroyed(anchored):
    from compliance_site.keys import get_provider

    call_command("rotate_master_key", stdout=io.StringIO())
    old = [v.version for v in get_provider().versions() if not v.current]
    for version in old:
        get_provider().destroy_version(version)
    from compliance_site.audit import audit_keys

    audit_keys._unwrapped.clear()  # a fresh process: nothing unwrapped in memory
    _record(7)
    with time_machine.travel(T0 + datetime.timedelta(hours=5, minutes=1), tick=False):
        digests_write_due()
        assert access_log_report().intact
    # the events after the rotation are signed with a new audit key, the old ones still verify
    assert AccessEvent.objects.get(sequence=7).key_version == "a2"
    assert AccessEvent.objects.get(sequence=1).key_version == "a1"
    assert AuditKey.objects.filter(master_version__in=old).count() == 0


def test_events_before_the_switch_over_keep_their_plain_hashes(dpo):
    # given: a log written before keyed hashes (plain SHA-256, no key label), the switch-over
    # recorded after it as the migration does
    prev = GENESIS_HASH
    for n in range(1, 4):
        event = AccessEvent(
            sequence=n,
            occurred_at=T0,
            actor_label="system",
            action="view",
            object_type="recording",
            prev_hash=prev,
        )
        event.hash = prev = event_hash(prev, event_fields(event))
        event.save()
    AuditChainHead.objects.create(id=1, sequence=3, last_hash=prev, keyed_from=4)

    with time_machine.travel(T0 + datetime.timedelta(minutes=5), tick=False):
        _record(4, dpo)
    with time_machine.travel(T0 + datetime.timedelta(hours=1, minutes=1), tick=False):
        digests_write_due()
        assert access_log_report().intact
        # a legacy event edited with the legacy chain recomputed: the keyed #4 links to the old #3
        AccessEvent.objects.filter(sequence=2).update(actor_label="mallory")
        _rehash_from(2)
        problems = _problems()
    assert "event #4" in problems


def test_the_switch_over_migration_starts_after_the_head(db):
    from importlib import import_module

    from django.apps import apps

    AuditChainHead.objects.create(id=1, sequence=41, last_hash="a" * 64)
    migration = import_module("compliance_site.audit.migrations.0004_keyed_chain")
    migration.switch_over_at_head(apps, None)

    assert AuditChainHead.objects.get().keyed_from == 42


def test_beat_writes_the_digests_hourly(settings):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.select_related("crontab").get(name="Access log digests")
    assert (task.task, task.enabled, task.crontab.minute, task.crontab.hour) == (
        "compliance_site.audit.tasks.write_audit_digests",
        True,
        "1",
        "*",
    )
    assert settings.CUSTOS_AUDIT_DIGEST_MINUTES == 60
    assert period_floor(T0) == datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)


def _standalone_verify(folder, keys) -> tuple[int, str]:
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "docs" / "verify_audit_export.py"
    done = subprocess.run(
        [sys.executable, str(script), str(folder), str(keys)], capture_output=True, text=True
    )
    return done.returncode, done.stdout


def test_an_export_verifies_with_the_standalone_script_and_a_tampered_one_does_not(anchored, tmp_path):
    folder, keys = tmp_path / "export", tmp_path / "keys.json"
    call_command(
        "export_audit_period",
        "--from",
        "2026-03-02T10:00",
        "--to",
        "2026-03-02T12:00",
        "--keys-file",
        str(keys),
        str(folder),
        stdout=io.StringIO(),
    )

    assert sorted(p.name for p in (folder / "digests").iterdir()) == [
        "20260302T100000Z.json",
        "20260302T110000Z.json",
    ]
    assert (folder / "previous-digest.json").exists()
    assert _standalone_verify(folder, keys) == (0, "verified\n")
    assert oct(keys.stat().st_mode & 0o777) == "0o600"

    lines = (folder / "events.jsonl").read_text().splitlines()
    edited = json.loads(lines[1])
    edited["fields"]["actor_label"] = "mallory"
    lines[1] = json.dumps(edited)
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
    code, out = _standalone_verify(folder, keys)
    assert code == 1 and "event #5: content does not match its hash" in out


def test_an_export_of_a_period_without_digests_is_refused(anchored, tmp_path):
    with pytest.raises(CommandError, match="No digest covers"):
        call_command("export_audit_period", "--from", "2025-01-01", "--to", "2025-01-02", str(tmp_path / "x"))


S3_BUCKET = "custos-digests-test"


@pytest.fixture
def s3_recordings(settings, moto_server):
    import boto3

    boto3.client("s3", endpoint_url=moto_server, region_name="eu-central-1").create_bucket(
        Bucket=S3_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": S3_BUCKET,
                "region_name": "eu-central-1",
                "endpoint_url": moto_server,
                "file_overwrite": False,
                "default_acl": None,
            },
        },
    }


def test_digests_in_s3_chain_up_and_a_deleted_one_is_detected(s3_recordings, dpo):
    with time_machine.travel(T0, tick=False):
        _record(1, dpo)
    with time_machine.travel(T0 + datetime.timedelta(hours=1, minutes=1), tick=False):
        assert len(digests_write_due()) == 1
    with time_machine.travel(T0 + datetime.timedelta(hours=3, minutes=1), tick=False):
        assert len(digests_write_due()) == 2
        assert digests_write_due() == []  # written once: the next run finds them all
        assert len(digest_names()) == 3
        assert access_log_report().intact
        recordings_storage().delete(digest_names()[1])
        assert "a digest between them was deleted" in _problems()
