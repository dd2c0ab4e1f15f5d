"""Reads of the DSR desk that carry a rule."""

from __future__ import annotations

import datetime

from django.db.models import QuerySet
from django.db.models.functions import Coalesce

from dsr.models import DataSubjectRequest, DeadlineReminder, RequestNote


def requests_visible_to(user) -> QuerySet[DataSubjectRequest]:
    """Every request for holders of ``view_all_requests``; an analyst sees those assigned to them."""
    if not user.is_active:
        return DataSubjectRequest.objects.none()
    if user.has_perm("dsr.view_all_requests"):
        return DataSubjectRequest.objects.all()
    return DataSubjectRequest.objects.filter(assignee=user)


def notes_visible_to(user) -> QuerySet[RequestNote]:
    if user.is_active and user.has_perm("dsr.view_all_requests"):
        return RequestNote.objects.all()
    return RequestNote.objects.filter(request__in=requests_visible_to(user).values("pk"))


def reminders_visible_to(user) -> QuerySet[DeadlineReminder]:
    if user.is_active and user.has_perm("dsr.view_all_requests"):
        return DeadlineReminder.objects.all()
    return DeadlineReminder.objects.filter(request__in=requests_visible_to(user).values("pk"))


def requests_open() -> QuerySet[DataSubjectRequest]:
    """Requests still waiting for an answer, most urgent first."""
    return (
        DataSubjectRequest.objects.filter(status__in=DataSubjectRequest.OPEN_STATUSES)
        .annotate(deadline=Coalesce("extended_until", "due_at"))
        .order_by("deadline", "pk")
    )


def requests_due_for_reminder(now: datetime.datetime, horizon_days: int) -> QuerySet[DataSubjectRequest]:
    """Open requests whose deadline falls within ``horizon_days`` of now, or has passed."""
    return requests_open().filter(deadline__lt=now + datetime.timedelta(days=horizon_days + 1))
