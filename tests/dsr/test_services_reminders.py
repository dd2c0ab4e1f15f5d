"""Deadline reminders: the right kind on the right day, each sent once."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from dsr.models import DataSubjectRequest, DeadlineReminder, RequestType
from dsr.reminders import reminders_send_due
from dsr.services import request_create
from tests.factories import DataSubjectFactory

pytestmark = pytest.mark.django_db


def _request_due_in(days: int, assignee) -> DataSubjectRequest:
    received = timezone.now() - datetime.timedelta(days=30 - days)
    return request_create(
        request_type=RequestType.ERASURE,
        channel=DataSubjectRequest.Channel.LETTER,
        received_at=received,
        assignee=assignee,
    )


def test_assignee_is_reminded_seven_days_before_once(analyst):
    # given
    request = _request_due_in(7, analyst)

    # when: two ticks in the same hour, as two beats would
    first = reminders_send_due(now=timezone.now())
    second = reminders_send_due(now=timezone.now())

    # then
    assert (first, second) == (1, 0)
    reminder = DeadlineReminder.objects.get(request=request)
    assert reminder.kind == "7-days-before"
    assert reminder.sent_at is not None
    assert [m.to for m in mail.outbox] == [[analyst.email]]
    assert request.reference in mail.outbox[0].subject


def test_no_reminder_between_offsets(analyst):
    _request_due_in(5, analyst)

    assert reminders_send_due(now=timezone.now()) == 0
    assert mail.outbox == []


def test_overdue_request_escalates_to_the_dpos(analyst, dpo):
    request = _request_due_in(-2, analyst)

    reminders_send_due(now=timezone.now())

    assert DeadlineReminder.objects.get(request=request).kind == "overdue-2"
    assert mail.outbox[0].to == [dpo.email]
    assert "OVERDUE" in mail.outbox[0].subject


def test_closed_requests_get_no_reminder(analyst):
    request = _request_due_in(1, analyst)
    request.status = DataSubjectRequest.Status.WITHDRAWN
    request.closed_at = timezone.now()
    request.save()

    assert reminders_send_due(now=timezone.now()) == 0


def test_reminder_email_carries_no_personal_data(analyst):
    request = _request_due_in(3, analyst)
    request.subject = DataSubjectFactory(full_name="Erika Mustermann", email="erika@example.org")
    request.save()

    reminders_send_due(now=timezone.now())

    message = mail.outbox[0]
    body = message.subject + message.body
    assert "Mustermann" not in body and "erika@" not in body and "+49" not in body
    assert request.reference in body
    assert "/admin/dsr/datasubjectrequest/" in body
