"""Invariants the database itself refuses to break, whatever code writes to it."""

from __future__ import annotations

import datetime

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from dsr.models import DataSubjectRequest, DeadlineReminder, RequestType
from dsr.services import request_create
from recordings.models import LawfulBasis, Recording
from retention.models import LegalHold
from tests.factories import ConsentFactory, LegalHoldFactory, RecordingFactory, UserFactory

pytestmark = pytest.mark.django_db


def assert_refused(make):
    with pytest.raises(IntegrityError), transaction.atomic():
        make()


def test_recording_cannot_end_before_it_starts():
    now = timezone.now()
    assert_refused(lambda: RecordingFactory(started_at=now, ended_at=now - datetime.timedelta(seconds=1)))


def test_legitimate_interests_basis_needs_an_assessment():
    assert_refused(lambda: RecordingFactory(lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS))


def test_lawful_basis_must_be_one_of_article_6():
    assert_refused(lambda: RecordingFactory(lawful_basis="because"))


def test_live_recording_needs_a_blob_and_erased_one_has_none():
    recording = RecordingFactory()
    assert_refused(lambda: Recording.objects.filter(pk=recording.pk).update(storage_ref=""))
    assert_refused(lambda: Recording.objects.filter(pk=recording.pk).update(status="erased"))


def test_consent_withdrawal_needs_time_and_channel_and_a_given_consent():
    consent = ConsentFactory()
    assert_refused(lambda: type(consent).objects.filter(pk=consent.pk).update(withdrawn_at=timezone.now()))
    refused = ConsentFactory(decision="refused")
    assert_refused(
        lambda: (
            type(refused)
            .objects.filter(pk=refused.pk)
            .update(withdrawn_at=timezone.now(), withdrawn_via="phone")
        )
    )


def test_consent_cannot_be_withdrawn_before_it_was_given():
    consent = ConsentFactory()
    assert_refused(
        lambda: (
            type(consent)
            .objects.filter(pk=consent.pk)
            .update(withdrawn_at=consent.captured_at - datetime.timedelta(minutes=1), withdrawn_via="phone")
        )
    )


def test_legal_hold_targets_exactly_what_its_scope_says():
    recording = RecordingFactory()
    assert_refused(lambda: LegalHoldFactory(scope=LegalHold.Scope.SUBJECT, recording=recording))


def test_legal_hold_is_released_after_it_was_placed_and_by_someone():
    hold = LegalHoldFactory()
    assert_refused(
        lambda: LegalHold.objects.filter(pk=hold.pk).update(
            released_at=hold.placed_at - datetime.timedelta(days=1), released_by=UserFactory()
        )
    )
    assert_refused(lambda: LegalHold.objects.filter(pk=hold.pk).update(released_at=timezone.now()))


def _request() -> DataSubjectRequest:
    return request_create(request_type=RequestType.ACCESS, channel="email", received_at=timezone.now())


def test_refusal_states_a_ground():
    request = _request()
    assert_refused(
        lambda: DataSubjectRequest.objects.filter(pk=request.pk).update(
            status="refused", closed_at=timezone.now()
        )
    )


def test_extension_is_later_and_has_a_reason():
    request = _request()
    assert_refused(
        lambda: DataSubjectRequest.objects.filter(pk=request.pk).update(
            extended_until=request.due_at + datetime.timedelta(days=30)
        )
    )


def test_reminder_is_unique_per_request_kind_and_due_date():
    request = _request()
    DeadlineReminder.objects.create(request=request, kind="due-day", due_date=request.due_at.date())
    assert_refused(
        lambda: DeadlineReminder.objects.create(
            request=request, kind="due-day", due_date=request.due_at.date()
        )
    )
