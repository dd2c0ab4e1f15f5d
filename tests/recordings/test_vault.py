"""Subject keys, sealed personal fields, blind-index lookup and crypto-shredding."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from recordings.models import DataSubject, SubjectKey
from recordings.selectors import subject_matching
from recordings.vault.keys import KeyDestroyedError, personal_data_read, recording_key
from recordings.vault.services import recording_keys_destroy, subject_key_destroy
from recordings.vault.storage import audio_open
from tests.factories import AUDIO, DataSubjectFactory, RecordingFactory

pytestmark = pytest.mark.django_db


def _raw_rows(table: str) -> bytes:
    """Every byte the database holds for a table, as the DBA (or a backup) would see it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        return repr(cursor.fetchall()).encode()


def test_personal_fields_are_stored_only_as_ciphertext_history_included():
    # given
    subject = DataSubjectFactory(full_name="Erika Mustermann", phone="030 1234567", email="Erika@Example.org")

    # then: readable through the vault, normalised
    personal = personal_data_read(subject)
    assert (personal.full_name, personal.phone, personal.email) == (
        "Erika Mustermann",
        "+49301234567",
        "erika@example.org",
    )
    # and nowhere in clear, neither in the table nor in its history
    for table in ("recordings_datasubject", "recordings_historicaldatasubject"):
        raw = _raw_rows(table)
        for clear in (b"Mustermann", b"1234567", b"erika@"):
            assert clear not in raw, f"{clear!r} in {table}"
    assert subject.history.count() == 1


def test_blind_index_finds_the_subject_by_any_spelling_of_phone_or_email():
    subject = DataSubjectFactory(phone="+49 30 1234567", email="erika@example.org")
    DataSubjectFactory()

    assert list(subject_matching(phone="030/123 45 67")) == [subject]
    assert list(subject_matching(email=" ERIKA@example.ORG ")) == [subject]


def test_dpo_finds_recordings_by_phone_in_the_admin(client, dpo):
    recording = RecordingFactory(subject=DataSubjectFactory(phone="+49 30 1234567"))
    RecordingFactory()
    client.force_login(dpo)

    result = client.get(reverse("admin:recordings_recording_changelist"), {"q": "+49 30 1234567"})

    assert list(result.context["cl"].result_list) == [recording]


def test_subject_page_decrypts_for_the_dpo_and_logs_it(client, dpo):
    from compliance_site.audit.models import AccessEvent

    subject = DataSubjectFactory(full_name="Erika Mustermann")
    client.force_login(dpo)

    page = client.get(reverse("admin:recordings_datasubject_change", args=[subject.pk]))

    assert "Erika Mustermann" in page.content.decode()
    event = AccessEvent.objects.get(action="decrypt")
    assert (event.object_id, event.actor) == (subject.pk, dpo)
    assert "Mustermann" not in str(event.detail)


def test_destroying_a_recording_key_makes_its_audio_unreadable():
    recording = RecordingFactory()
    key = recording_key(recording)
    with audio_open(name=recording.storage_ref, key=key, recording_id=recording.pk) as reader:
        assert b"".join(reader.iter_range()) == AUDIO

    recording_keys_destroy(recordings=[recording], reasons={recording.pk: "test"})

    with pytest.raises(KeyDestroyedError):
        recording_key(recording)


def test_destroying_a_subject_key_shreds_fields_and_every_recording():
    subject = DataSubjectFactory()
    recordings = RecordingFactory.create_batch(2, subject=subject)

    subject_key_destroy(subject=subject, reason="erasure DSR-2026-000001")

    with pytest.raises(KeyDestroyedError):
        personal_data_read(DataSubject.objects.get(pk=subject.pk))
    for recording in recordings:
        with pytest.raises(KeyDestroyedError):
            recording_key(recording)
    row = SubjectKey.objects.get(subject=subject)
    assert (bytes(row.wrapped_key), row.master_version) == (b"", "")
    assert row.destroyed_at is not None


def test_audio_blob_is_ciphertext():
    recording = RecordingFactory()

    from recordings.vault.storage import recordings_storage

    with recordings_storage().open(recording.storage_ref, "rb") as blob:
        stored = blob.read()
    assert AUDIO[44:200] not in stored
    assert stored[0] == 40  # Tink streaming header length byte


def test_rotation_rewraps_subject_keys_and_keeps_data_readable():
    # given
    subjects = [DataSubjectFactory() for _ in range(5)]
    recording = RecordingFactory(subject=subjects[0])
    before = {k.pk: k.master_version for k in SubjectKey.objects.all()}

    # when: an interrupted rotation (one batch of two), then a resumed one
    from compliance_site.keys import get_provider
    from recordings.vault.services import subject_keys_rewrap_batch

    new_version = get_provider().create_version()
    assert subject_keys_rewrap_batch(batch_size=2) == 2
    assert personal_data_read(subjects[4]).full_name  # old-version keys still read mid-rotation
    call_command("rotate_master_key", "--resume-only", stdout=io.StringIO())

    # then
    after = {k.pk: k.master_version for k in SubjectKey.objects.all()}
    assert set(after.values()) == {new_version} != set(before.values())
    for subject in subjects:
        assert personal_data_read(subject).full_name == "Erika Mustermann"
    key = recording_key(recording)
    with audio_open(name=recording.storage_ref, key=key, recording_id=recording.pk) as reader:
        assert b"".join(reader.iter_range()) == AUDIO


def test_rotate_master_key_command_starts_a_new_version():
    DataSubjectFactory()
    out = io.StringIO()

    call_command("rotate_master_key", stdout=out)

    assert "Rotation complete: 1 subject keys" in out.getvalue()
