"""Subjects with nothing left to keep are erased by the nightly sweep (issue 16, gap 4;
Art. 5(1)(e)): their name, phone, email and key, with a subject tombstone."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from compliance_site.audit.models import AccessEvent
from dsr.models import DataSubjectRequest
from dsr.services import request_create
from recordings.models import DataSubject, Recording
from recordings.vault.keys import KeyDestroyedError, personal_data_read
from retention.models import DeletionReason, LegalHold, SubjectDeletionRecord
from retention.services import hold_place, retention_sweep
from tests.factories import ConsentFactory, DataSubjectFactory, RecordingFactory

pytestmark = pytest.mark.django_db

SWEEP_AT = timezone.now() + datetime.timedelta(days=2)


def caller_with_old_request(*, closed_days_before_sweep: int, reference: str) -> DataSubject:
    """A caller whose only call is past retention (the sweep deletes it) and whose one request
    was closed that many days before the sweep."""
    subject = DataSubjectFactory(reference=reference, full_name="Erika Mustermann")
    recording = RecordingFactory(subject=subject)
    Recording.objects.filter(pk=recording.pk).update(keep_until=SWEEP_AT - datetime.timedelta(days=1))
    request = request_create(
        request_type="access",
        channel="email",
        received_at=timezone.now() - datetime.timedelta(days=1),
        subject=subject,
    )
    closed = SWEEP_AT - datetime.timedelta(days=closed_days_before_sweep)
    DataSubjectRequest.objects.filter(pk=request.pk).update(
        status=DataSubjectRequest.Status.COMPLETED, closed_at=closed
    )
    return subject


def erased(subject: DataSubject) -> bool:
    try:
        personal_data_read(DataSubject.objects.get(pk=subject.pk))
    except KeyDestroyedError:
        return True
    return False


def test_request_record_retention_boundary(settings):
    """Given two callers whose calls the sweep deletes and whose last request closed 1094 and
    1096 days before it (the record retention is 1095 days), when the nightly sweep runs, then
    the second caller's name, phone, email and key are erased with a subject tombstone naming
    the setting, counted on the run and in the access log; the first is kept."""
    settings.CUSTOS_REQUEST_RECORD_RETENTION_DAYS = 1095
    recent = caller_with_old_request(closed_days_before_sweep=1094, reference="DS-RECENT")
    old = caller_with_old_request(closed_days_before_sweep=1096, reference="DS-OLD")

    run = retention_sweep(now=SWEEP_AT)

    assert (erased(recent), erased(old)) == (False, True)
    assert run.deleted == 2 and run.subjects_erased == 1
    tombstone = SubjectDeletionRecord.objects.get()
    assert (tombstone.subject_id, tombstone.reason, tombstone.sweep_run) == (
        old.pk,
        DeletionReason.SUBJECT_STORAGE_LIMIT,
        run,
    )
    assert "CUSTOS_REQUEST_RECORD_RETENTION_DAYS" in tombstone.rule
    for row in [DataSubject.objects.get(pk=old.pk), *old.history.all()]:
        assert bytes(row.full_name_encrypted) == b"" and row.phone_index == "" and row.email_index == ""
    event = AccessEvent.objects.get(action="retention_deletion", object_type="subject")
    assert (event.object_id, event.detail["reason"]) == (old.pk, "subject_storage_limit")
    # and the next sweep has nothing more to do
    assert retention_sweep(now=SWEEP_AT).subjects_erased == 0


def test_an_active_consent_an_active_hold_or_an_open_request_keeps_the_caller(dpo):
    """Given callers with no live call and no recent request, but one with a standing consent,
    one under a legal hold and one with an open request, when the sweep runs, then all three keep
    their personal data; a consent withdrawn keeps nothing."""
    consenting = caller_with_old_request(closed_days_before_sweep=2000, reference="DS-CONSENT")
    ConsentFactory(subject=consenting, recording=None, captured_at=timezone.now())
    withdrawn = caller_with_old_request(closed_days_before_sweep=2000, reference="DS-WITHDRAWN")
    ConsentFactory(
        subject=withdrawn,
        recording=None,
        captured_at=timezone.now(),
        withdrawn_at=timezone.now(),
        withdrawn_via="web",
    )
    held = caller_with_old_request(closed_days_before_sweep=2000, reference="DS-HELD")
    hold_place(
        hold=LegalHold(scope="subject", subject=held, case_reference="CASE-1", reason="Claim."), placed_by=dpo
    )
    requesting = caller_with_old_request(closed_days_before_sweep=2000, reference="DS-ASKING")
    request_create(request_type="access", channel="email", received_at=timezone.now(), subject=requesting)

    retention_sweep(now=SWEEP_AT)

    assert [erased(s) for s in (consenting, withdrawn, held, requesting)] == [False, True, False, False]


def test_preview_lists_the_subjects_the_sweep_would_erase_and_why_the_others_stay(settings):
    """Given a caller with nothing left and one with a request closed 1094 days ago, when the DPO
    runs ``retention_preview --subjects``, then the first is listed to erase and the second as
    kept for the request, and nothing is changed."""
    settings.CUSTOS_REQUEST_RECORD_RETENTION_DAYS = 1095
    recent = caller_with_old_request(closed_days_before_sweep=1094, reference="DS-RECENT")
    old = caller_with_old_request(closed_days_before_sweep=1096, reference="DS-OLD")
    Recording.objects.filter(subject__in=[recent, old]).update(status=Recording.Status.ERASED, storage_ref="")
    out = io.StringIO()

    call_command("retention_preview", "--subjects", "--at", SWEEP_AT.isoformat(), stdout=out)

    lines = out.getvalue().splitlines()
    assert "ERASE   DS-OLD  nothing left to keep (Art. 5(1)(e))" in lines
    assert any(
        line.startswith("keep    DS-RECENT  kept for an open request, or one closed within") for line in lines
    )
    assert "1 subject(s) would be erased, 1 kept." in lines[-1]
    assert not erased(old)
