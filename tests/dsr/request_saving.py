"""Tests that set a request's status directly (to build a dashboard or a reminder scenario) save it
with its closing time in step, as the workflow services would leave it."""

from __future__ import annotations

from django.utils import timezone

from dsr.models import DataSubjectRequest


def request_save_as_is(*, dsr: DataSubjectRequest) -> DataSubjectRequest:
    closed = dsr.status not in DataSubjectRequest.OPEN_STATUSES
    if closed and dsr.closed_at is None:
        dsr.closed_at = timezone.now()
    elif not closed:
        dsr.closed_at = None
    dsr.full_clean()
    dsr.save()
    return dsr
