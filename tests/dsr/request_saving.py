"""Tests that set a request's status directly (to build a dashboard or a reminder scenario) save it
with its closing time in step, as the workflow services would leave it."""

from __future__ import annotations

from django.utils import timezone

from dsr.models import DataSubjectRequest


def request_save_as_is(*, request: DataSubjectRequest) -> DataSubjectRequest:
    closed = request.status not in DataSubjectRequest.OPEN_STATUSES
    if closed and request.closed_at is None:
        request.closed_at = timezone.now()
    elif not closed:
        request.closed_at = None
    request.full_clean()
    request.save()
    return request
