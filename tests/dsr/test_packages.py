"""Access and portability packages: what they hold, how they are stored, who downloads them."""

from __future__ import annotations

import datetime
import hashlib
import io
import itertools
import json
import os
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.core.files.storage import storages
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessAction, AccessEvent
from compliance_site.audit.verification import access_log_first_break
from dsr import packages
from dsr.models import DataPackage
from dsr.packages import package_build, package_link, package_open, packages_expired_purge
from dsr.services import request_create
from dsr.workflow import request_assign, request_complete, request_identity_verify
from recordings.models import Recipient, Recording
from recordings.services import consent_withdraw
from recordings.vault.services import subject_key_destroy
from recordings.vault.storage import recordings_storage
from recordings.vault.streaming_decrypt import DecryptingReader
from tests.factories import (
    DataSubjectFactory,
    PurposeFactory,
    RecordingFactory,
    RetentionPolicyFactory,
    UserFactory,
)

ACCESS_FILES = {"manifest.json", "summary.html"}


def _audio(size: int, seed: int) -> bytes:
    """Distinct bytes per recording (a real call would be a WAV; the package does not care)."""
    return hashlib.sha256(str(seed).encode()).digest() * (size // 32) + b"\x00" * (size % 32)


@pytest.fixture
def subject(db):
    return DataSubjectFactory(full_name="Erika Mustermann", phone="+49 30 1234567", email="erika@example.org")


@pytest.fixture
def calls(subject):
    """Three calls of the subject, one of them over several 64 KiB segments, with their audio."""
    audio = [_audio(100_000, 1), _audio(700_000, 2), _audio(5_000, 3)]
    recordings = [
        RecordingFactory(
            subject=subject,
            audio=data,
            started_at=timezone.now() - datetime.timedelta(days=3 - n, minutes=5),
        )
        for n, data in enumerate(audio)
    ]
    return dict(zip([r.reference for r in recordings], audio, strict=True))


@pytest.fixture
def someone_else(db):
    return RecordingFactory(audio=_audio(2_000, 99))


def _request(subject, request_type="access", **kwargs):
    return request_create(
        request_type=request_type, channel="email", received_at=timezone.now(), subject=subject, **kwargs
    )


def _zip(package: DataPackage) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(package_open(package=package))))


def _blob(package: DataPackage) -> bytes:
    with storages["recordings"].open(package.storage_ref, "rb") as blob:
        return blob.read()


def _files_under(folder: str) -> list[str]:
    root = Path(storages["recordings"].location) / folder
    return [str(p) for p in root.rglob("*") if p.is_file()] if root.exists() else []


# --- What an access package holds ----------------------------------------------------------------


def test_an_access_package_holds_the_subjects_data_and_their_audio_byte_for_byte(
    subject, calls, someone_else, dpo
):
    # given
    request = _request(subject)

    # when
    package = package_build(dsr=request, actor=dpo)

    # then
    archive = _zip(package)
    expected_audio = {f"recordings/{reference}.wav" for reference in calls}
    assert set(archive.namelist()) == ACCESS_FILES | expected_audio
    for reference, audio in calls.items():
        assert archive.read(f"recordings/{reference}.wav") == audio
        assert archive.getinfo(f"recordings/{reference}.wav").compress_type == zipfile.ZIP_STORED
    assert archive.getinfo("manifest.json").compress_type == zipfile.ZIP_DEFLATED
    assert archive.testzip() is None

    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["data_subject"] == {
        "reference": subject.reference,
        "name": "Erika Mustermann",
        "phone": "+49301234567",
        "email": "erika@example.org",
    }
    assert manifest["request"]["reference"] == request.reference
    assert [r["reference"] for r in manifest["recordings"]] == list(calls)  # oldest first, only theirs
    first = manifest["recordings"][0]
    recording = Recording.objects.get(reference=first["reference"])
    assert first["started_at"] == recording.started_at.isoformat()
    assert first["queue"] == recording.queue.name
    assert first["direction"] == "inbound"
    assert first["lawful_basis"]["code"] == "consent"
    assert first["purposes"] == [
        {"code": "quality_assurance", "name": "Quality assurance", "still_served": True, "retention_days": 90}
    ]
    assert first["status"] == "active"
    assert first["source"] == "telephony recording"
    assert first["recipients"] == []  # no recipient registered for its purposes
    assert first["audio"] == {
        "file": f"recordings/{recording.reference}.wav",
        "content_type": "audio/wav",
        "size_bytes": len(calls[recording.reference]),
        "sha256": hashlib.sha256(calls[recording.reference]).hexdigest(),
    }

    assert len(manifest["consents"]) == 3
    consent = manifest["consents"][0]
    assert consent["purpose"]["code"] == "quality_assurance"
    assert consent["decision"] == "given"
    assert consent["method"]["code"] == "ivr_keypress"
    assert consent["notice"] == {"version": "2026.1", "language": "en"}
    assert consent["evidence_offset_seconds"] == 12
    assert consent["jurisdiction"] == "DE"
    assert consent["captured_at"] and consent["withdrawn_at"] is None

    information = manifest["information"]
    assert [p["code"] for p in information["purposes"]] == ["quality_assurance"]
    assert information["recipients"] == []
    assert set(information["rights"]) >= {"rectification", "erasure", "restriction", "objection", "complaint"}
    assert information["categories_of_data"] and information["source"]
    assert information["automated_decision_making"].startswith("None")
    assert information["retention"]["periods"] == [
        {"purpose": "Quality assurance", "days": 90, "legal_reference": ""}
    ]

    assert package.kind == "access"
    assert package.recordings == 3
    plaintext = b"".join(package_open(package=package))
    assert package.size_bytes == len(plaintext)
    assert package.name == f"{request.reference}-access.zip"


def test_the_manifest_tells_retention_withdrawals_and_recordings_without_audio(subject, calls, dpo):
    # given: a policy of 400 days, a withdrawn consent, an erased call and one shredded by retention
    policy = RetentionPolicyFactory(purpose=PurposeFactory(), keep_days=400, legal_reference="HGB 257")
    withdrawn = subject.consents.order_by("pk").first()
    consent_withdraw(consent=withdrawn, via="email", actor=dpo)
    erased = RecordingFactory(subject=subject, status=Recording.Status.ERASED, consented=False)
    shredded = RecordingFactory(subject=subject, consented=False)
    shredded.key.wrapped_key, shredded.key.destroyed_at = b"", timezone.now()
    shredded.key.save()

    # when
    package = package_build(dsr=_request(subject), actor=dpo)

    # then
    archive = _zip(package)
    manifest = json.loads(archive.read("manifest.json"))
    by_reference = {r["reference"]: r for r in manifest["recordings"]}
    assert by_reference[erased.reference]["audio"] is None
    assert by_reference[erased.reference]["status"] == "erased"
    assert by_reference[shredded.reference]["audio"] is None
    assert "retention" in by_reference[shredded.reference]["audio_note"]
    assert set(archive.namelist()) == ACCESS_FILES | {f"recordings/{r}.wav" for r in calls}
    assert package.recordings == 3
    assert manifest["information"]["retention"]["periods"] == [
        {"purpose": "Quality assurance", "days": 400, "legal_reference": "HGB 257"}
    ]
    assert by_reference[withdrawn.recording.reference]["purposes"][0]["still_served"] is False
    assert by_reference[withdrawn.recording.reference]["retention_days"] == policy.keep_days
    withdrawal = next(c for c in manifest["consents"] if c["withdrawn_at"])
    assert withdrawal["withdrawn_via"] == "email"


def test_the_summary_speaks_the_requests_language(subject, calls, dpo):
    request = _request(subject)
    request.language = "de"
    request.save(update_fields=["language"])

    summary = _zip(package_build(dsr=request, actor=dpo)).read("summary.html").decode()

    assert '<html lang="de">' in summary
    assert "Ihre Gesprächsaufzeichnungen (3)" in summary
    assert "Erika Mustermann" in summary
    assert "Einwilligung (Art. 6(1)(a))" in summary
    assert "Beschwerde bei einer Aufsichtsbehörde" in summary
    for reference in calls:
        assert f'href="recordings/{reference}.wav"' in summary


def test_the_summary_in_english_escapes_what_it_shows(dpo):
    subject = DataSubjectFactory(full_name="<script>alert(1)</script>")
    RecordingFactory(subject=subject)

    summary = _zip(package_build(dsr=_request(subject), actor=dpo)).read("summary.html").decode()

    assert "Your call recordings (1)" in summary
    assert "<script>alert(1)</script>" not in summary
    assert "&lt;script&gt;" in summary


def test_a_portability_package_holds_structured_data_and_the_original_audio(subject, calls, dpo):
    package = package_build(dsr=_request(subject, "portability"), actor=dpo)

    archive = _zip(package)
    assert set(archive.namelist()) == {"data.json", "README.txt"} | {f"recordings/{r}.wav" for r in calls}
    for reference, audio in calls.items():
        assert archive.read(f"recordings/{reference}.wav") == audio
    data = json.loads(archive.read("data.json"))
    assert data["format"] == "custos-portability-package"
    assert set(data) == {
        "format",
        "version",
        "generated_at",
        "request",
        "data_subject",
        "recordings",
        "consents",
    }
    assert data["data_subject"]["name"] == "Erika Mustermann"
    assert [r["reference"] for r in data["recordings"]] == list(calls)
    assert set(data["recordings"][0]) == {
        "reference",
        "started_at",
        "ended_at",
        "duration_seconds",
        "direction",
        "audio",
    }
    assert len(data["consents"]) == 3
    assert "Recordings included: 3." in archive.read("README.txt").decode()
    assert package.kind == "portability"
    assert package.name.endswith("-portability.zip")


def test_only_access_and_portability_requests_have_a_package(subject, dpo):
    with pytest.raises(ValidationError, match="Only an access or a portability request"):
        package_build(dsr=_request(subject, "erasure"), actor=dpo)


def test_completing_an_access_request_builds_its_package(
    subject, calls, dpo, django_capture_on_commit_callbacks, jobs_eager
):
    # given
    request = _request(subject)
    request_identity_verify(dsr=request, method="document", note="passport", actor=dpo)

    # when: completed (the package is built on a worker once that commits; here, eagerly)
    with django_capture_on_commit_callbacks(execute=True):
        request = request_complete(dsr=request, actor=dpo)

    # then
    request.refresh_from_db()
    package = DataPackage.objects.get(request=request)
    assert request.status == "ready_to_send" and request.closed_at is None
    assert package.name in request.outcome
    assert "3 recording(s)" in request.outcome


# --- Stored encrypted ----------------------------------------------------------------------------


def test_the_stored_package_is_ciphertext_under_a_random_name(subject, calls, dpo):
    package = package_build(dsr=_request(subject), actor=dpo)

    blob = _blob(package)
    assert b"PK\x03\x04" not in blob and b"PK\x01\x02" not in blob
    for audio in calls.values():
        assert audio[:64] not in blob
    assert b"Erika" not in blob and b"manifest" not in blob
    assert package.storage_ref.startswith("packages/") and package.storage_ref.endswith(".zip.tink")
    assert subject.reference not in package.storage_ref
    assert request_reference_not_in(package)


def request_reference_not_in(package: DataPackage) -> bool:
    return package.request.reference not in package.storage_ref


def test_the_wrapped_key_stays_out_of_history(subject, calls, dpo):
    package = package_build(dsr=_request(subject), actor=dpo)

    history = package.history.model
    assert "wrapped_key" not in {f.name for f in history._meta.get_fields()}
    assert package.history.count() == 1
    assert package.history.first().history_user == dpo
    assert len(bytes(package.wrapped_key)) > 32  # sealed, never the bare key


def test_building_writes_an_export_event_with_ids_only(subject, calls, dpo):
    package = package_build(dsr=_request(subject), actor=dpo)

    event = AccessEvent.objects.get(action=AccessAction.EXPORT)
    assert (event.object_type, event.object_id, event.actor) == ("package", package.pk, dpo)
    assert event.object_reference == package.request.reference
    assert event.detail == {
        "subject": subject.reference,
        "kind": "access",
        "recordings": 3,
        "bytes": package.size_bytes,
    }
    assert "Erika" not in json.dumps(event.detail) and "example.org" not in json.dumps(event.detail)


def test_a_failure_in_the_middle_of_building_leaves_no_row_no_blob_and_no_event(
    subject, calls, dpo, monkeypatch
):
    # given: the second recording's audio fails after its first chunk
    real_iter_into = DecryptingReader.iter_into
    opened = []

    def failing_iter_into(self, *args, **kwargs):
        opened.append(self)
        chunks = real_iter_into(self, *args, **kwargs)
        if len(opened) == 2:
            yield next(chunks)
            raise OSError("storage went away")
        yield from chunks

    monkeypatch.setattr(DecryptingReader, "iter_into", failing_iter_into)
    request = _request(subject)  # registering it is an event of its own
    events = AccessEvent.objects.count()

    # when
    with pytest.raises(OSError, match="storage went away"):
        package_build(dsr=request, actor=dpo)

    # then
    assert len(opened) == 2
    assert DataPackage.objects.count() == 0
    assert DataPackage.history.count() == 0
    assert _files_under("packages") == []
    assert AccessEvent.objects.count() == events


def test_a_storage_failure_while_writing_leaves_no_row_no_blob_and_no_thread(
    subject, calls, dpo, monkeypatch
):
    # given: the storage fails after writing part of the package
    from django.core.files.storage import FileSystemStorage

    real_save = FileSystemStorage._save

    def failing_save(self, name, content):
        def chunks(chunk_size=None):
            yield from itertools.islice(File.chunks(content, chunk_size), 3)
            raise OSError("disk full")

        content.chunks = chunks
        return real_save(self, name, content)

    monkeypatch.setattr(FileSystemStorage, "_save", failing_save)
    threads = threading.active_count()

    # when
    with pytest.raises(OSError, match="disk full"):
        package_build(dsr=_request(subject), actor=dpo)

    # then
    assert DataPackage.objects.count() == 0
    assert _files_under("packages") == []
    assert threading.active_count() == threads  # no thread left behind


def test_each_recording_lists_the_recipients_of_its_purposes(subject, calls, dpo):
    purpose = Recording.objects.filter(subject=subject).first().purposes.get()
    vendor = Recipient.objects.create(name="QA Vendor GmbH", role="processor", country="DE")
    vendor.purposes.add(purpose)
    Recipient.objects.create(name="Unrelated Ltd", role="third_party", country="IE")

    manifest = json.loads(_zip(package_build(dsr=_request(subject), actor=dpo)).read("manifest.json"))

    assert {tuple(r["recipients"]) for r in manifest["recordings"]} == {("QA Vendor GmbH",)}


def test_a_subject_erased_before_the_build_has_nothing_to_export(subject, calls, dpo):
    subject_key_destroy(subject=subject, actor=dpo, reason="erasure DSR-2026-000001")

    with pytest.raises(ValidationError, match="erased"):
        package_build(dsr=_request(subject), actor=dpo)

    assert DataPackage.objects.count() == 0
    assert _files_under("packages") == []


def _peak_of_build(subject, dpo) -> int:
    request = _request(subject)
    tracemalloc.start()
    try:
        package_build(dsr=request, actor=dpo)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def test_memory_does_not_grow_with_the_size_of_the_package(dpo):
    small, large = DataSubjectFactory(), DataSubjectFactory()
    for _ in range(2):
        RecordingFactory(subject=small, audio=os.urandom(1_000_000))
    for _ in range(3):
        RecordingFactory(subject=large, audio=os.urandom(5_000_000))  # 15 MB in all

    small_peak = _peak_of_build(small, dpo)
    large_peak = _peak_of_build(large, dpo)

    size = DataPackage.objects.get(request__subject=large).size_bytes
    assert size > 15_000_000
    # The archive and encryption threads each run a couple of 512 KiB pieces ahead: the peak
    # varies by that much, whatever the package's size.
    assert large_peak < small_peak + 2 * 1024 * 1024, (small_peak, large_peak)
    assert large_peak < size / 2, (small_peak, large_peak)  # it was never held whole


# --- Download ------------------------------------------------------------------------------------


@pytest.fixture
def package(subject, calls, dpo):
    return package_build(dsr=_request(subject), actor=dpo)


def _get(client, user, package, token_user=None):
    client.force_login(user)
    return client.get(package_link(package=package, user=token_user or user))


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_dpo_downloads_the_decrypted_package(client, dpo, package, calls):
    # when
    response = _get(client, dpo, package)

    # then
    assert response.status_code == 200
    body = _body(response)
    assert body == b"".join(package_open(package=package))
    assert zipfile.ZipFile(io.BytesIO(body)).testzip() is None
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Length"] == str(package.size_bytes)
    assert response["Content-Disposition"] == f'attachment; filename="{package.name}"'
    assert "no-store" in response["Cache-Control"]
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert {archive.read(f"recordings/{r}.wav") for r in calls} == set(calls.values())


def test_each_download_is_counted_and_logged_with_ids_only(client, dpo, package):
    _body(_get(client, dpo, package))
    _body(_get(client, dpo, package))

    package.refresh_from_db()
    assert package.downloaded_count == 2
    events = list(AccessEvent.objects.filter(action=AccessAction.DOWNLOAD).order_by("sequence"))
    assert [(e.object_type, e.object_id, e.actor) for e in events] == [("package", package.pk, dpo)] * 2
    assert events[-1].detail == {"kind": "access", "bytes": package.size_bytes, "download": 2}
    assert events[-1].object_reference == package.request.reference
    assert package.history.first().history_user == dpo


def test_the_assigned_analyst_downloads_and_another_analyst_gets_404(
    client, subject, calls, dpo, analyst, roles
):
    # given
    other = UserFactory(username="otto.analyst", groups=[roles["Privacy analyst"]])
    request = request_assign(dsr=_request(subject), assignee=analyst, actor=dpo)
    package = package_build(dsr=request, actor=dpo)

    # then
    assert _get(client, analyst, package).status_code == 200
    assert _get(client, other, package).status_code == 404
    package.refresh_from_db()
    assert package.downloaded_count == 1


@pytest.mark.parametrize("persona", ["analyst", "auditor", "qa_lead_a", "stranger"])
def test_who_does_not_work_the_request_gets_404(client, package, persona, request):
    user = request.getfixturevalue(persona)

    assert _get(client, user, package).status_code == 404
    package.refresh_from_db()
    assert package.downloaded_count == 0
    assert not AccessEvent.objects.filter(action=AccessAction.DOWNLOAD).exists()


def test_anonymous_is_sent_to_the_login(client, dpo, package):
    response = client.get(package_link(package=package, user=dpo))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_link_works_only_for_its_user_and_its_package(client, subject, calls, dpo, roles):
    other_dpo = UserFactory(username="dora.dpo", groups=[roles["DPO"]])
    package = package_build(dsr=_request(subject), actor=dpo)
    second = package_build(dsr=_request(subject), actor=dpo)
    url = reverse("dsr-package-download", args=[package.pk])

    assert _get(client, other_dpo, package, token_user=dpo).status_code == 404
    client.force_login(dpo)
    token_of_second = package_link(package=second, user=dpo).split("token=")[1]
    assert client.get(f"{url}?token={token_of_second}").status_code == 404
    assert client.get(url).status_code == 404
    assert client.get(f"{url}?token=forged").status_code == 404


def test_an_expired_link_is_gone(client, dpo, package, monkeypatch):
    link = package_link(package=package, user=dpo)
    later = time.time() + packages.LINK_MAX_AGE.total_seconds() + 1
    monkeypatch.setattr(signing.time, "time", lambda: later)
    client.force_login(dpo)

    response = client.get(link)

    assert response.status_code == 410
    assert b"link has expired" in response.content


def test_an_expired_package_is_gone(client, dpo, package):
    now = timezone.now()
    DataPackage.objects.filter(pk=package.pk).update(
        created_at=now - datetime.timedelta(days=31), expires_at=now - datetime.timedelta(seconds=1)
    )

    response = _get(client, dpo, package)

    assert response.status_code == 410
    assert b"expired" in response.content
    package.refresh_from_db()
    assert package.downloaded_count == 0


def test_after_the_subject_is_erased_the_package_cannot_be_opened(client, subject, dpo, package):
    # when
    subject_key_destroy(subject=subject, actor=dpo, reason="erasure")

    # then
    response = _get(client, dpo, package)
    assert response.status_code == 410
    assert b"subject was erased" in response.content
    with pytest.raises(packages.PackageUnavailable):
        package_open(package=package)
    assert not AccessEvent.objects.filter(action=AccessAction.DOWNLOAD).exists()


def test_the_ttl_comes_from_the_setting(subject, calls, dpo, settings):
    settings.DSR_PACKAGE_TTL_DAYS = 7

    package = package_build(dsr=_request(subject), actor=dpo)

    assert package.expires_at - package.created_at == datetime.timedelta(days=7)


# --- Admin ---------------------------------------------------------------------------------------


def test_the_request_page_shows_a_signed_link_that_downloads(client, dpo, package):
    client.force_login(dpo)

    page = client.get(reverse("admin:dsr_datasubjectrequest_change", args=[package.request.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    prefix = reverse("dsr-package-download", args=[package.pk]) + "?token="
    assert prefix in html
    token = html.split(prefix, 1)[1].split('"', 1)[0]
    assert _body(client.get(prefix + token)) == b"".join(package_open(package=package))


def test_the_request_page_offers_no_link_once_the_subject_is_erased(client, subject, dpo, package):
    subject_key_destroy(subject=subject, actor=dpo, reason="erasure")
    client.force_login(dpo)

    html = client.get(
        reverse("admin:dsr_datasubjectrequest_change", args=[package.request.pk])
    ).content.decode()

    assert "shredded with the subject" in html
    assert "?token=" not in html


# --- Purge of expired packages -------------------------------------------------------------------


def test_an_expired_package_is_deleted_and_its_key_destroyed(package):
    # given
    blob = package.storage_ref
    later = package.expires_at + datetime.timedelta(minutes=1)

    # when
    purged = packages_expired_purge(now=later)

    # then
    package.refresh_from_db()
    assert purged == 1
    assert not recordings_storage().exists(blob)
    assert bytes(package.wrapped_key) == b"" and package.purged_at == later
    event = AccessEvent.objects.get(action=AccessAction.KEY_DESTROYED, object_type="package")
    assert event.object_id == package.pk and event.detail["reason"] == "package expired"
    assert access_log_first_break() is None
    assert package.history.first().purged_at == later
    assert packages_expired_purge(now=later) == 0  # a second run finds nothing


def test_a_package_still_in_its_window_is_kept(package):
    assert packages_expired_purge(now=package.expires_at - datetime.timedelta(seconds=1)) == 0

    package.refresh_from_db()
    assert package.purged_at is None
    assert b"".join(package_open(package=package))


def test_an_archive_the_storage_fails_to_delete_is_retried_on_the_next_run(package, monkeypatch):
    later = package.expires_at + datetime.timedelta(minutes=1)
    storage = recordings_storage()

    def fail(self, name):
        raise OSError("storage unavailable")

    monkeypatch.setattr(type(storage), "delete", fail)
    assert packages_expired_purge(now=later) == 0
    package.refresh_from_db()
    assert package.purged_at is None and bytes(package.wrapped_key)

    monkeypatch.undo()
    assert packages_expired_purge(now=later) == 1
    assert not storage.exists(package.storage_ref)
