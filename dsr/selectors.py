"""Reads of the DSR desk that carry a rule."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

from dsr.models import DataPackage, DataSubjectRequest, DeadlineReminder, RequestNote
from recordings.models import Consent, DataSubject, Recording, RecordingUserObjectPermission
from retention.models import LegalHold
from retention.selectors import holds_active

if TYPE_CHECKING:
    from typing import TypedDict

    from django_stubs_ext import WithAnnotations

    class _Deadline(TypedDict):
        deadline: datetime.datetime


def requests_visible_to(user) -> QuerySet[DataSubjectRequest]:
    """Every request for holders of ``view_all_requests``; an analyst sees the requests granted to
    them object by object (guardian), which assignment does."""
    if not user.is_active:
        return DataSubjectRequest.objects.none()
    if user.has_perm("dsr.view_all_requests"):
        return DataSubjectRequest.objects.all()
    return get_objects_for_user(
        user, "dsr.view_datasubjectrequest", klass=DataSubjectRequest, accept_global_perms=False
    )


def notes_visible_to(user) -> QuerySet[RequestNote]:
    if user.is_active and user.has_perm("dsr.view_all_requests"):
        return RequestNote.objects.all()
    return RequestNote.objects.filter(request__in=requests_visible_to(user).values("pk"))


def reminders_visible_to(user) -> QuerySet[DeadlineReminder]:
    if user.is_active and user.has_perm("dsr.view_all_requests"):
        return DeadlineReminder.objects.all()
    return DeadlineReminder.objects.filter(request__in=requests_visible_to(user).values("pk"))


def requests_open() -> QuerySet[WithAnnotations[DataSubjectRequest, _Deadline]]:
    """Requests still waiting for an answer, most urgent first."""
    return (
        DataSubjectRequest.objects.filter(status__in=DataSubjectRequest.OPEN_STATUSES)
        .annotate(deadline=Coalesce("extended_until", "due_at"))
        .order_by("deadline", "pk")
    )


def requests_due_for_reminder(now: datetime.datetime, horizon_days: int) -> QuerySet[DataSubjectRequest]:
    """Open requests whose deadline falls on a local day at most ``horizon_days`` after today's,
    or has passed. Counted in local days, not in 24-hour periods: the week after the autumn
    daylight-saving change is an hour longer."""
    day_after_horizon = timezone.localdate(now) + datetime.timedelta(days=horizon_days + 1)
    end = timezone.make_aware(datetime.datetime.combine(day_after_horizon, datetime.time.min))
    return requests_open().filter(deadline__lt=end)


def packages_downloadable_by(user) -> QuerySet[DataPackage]:
    """Packages of the requests the user works: visible to them (every request for a DPO, the
    assigned ones for an analyst) and the user may change requests. An auditor, who reads every
    request but works none, does not download the subject's decrypted data."""
    if not user.is_active or not user.has_perm("dsr.change_datasubjectrequest"):
        return DataPackage.objects.none()
    return DataPackage.objects.filter(request__in=requests_visible_to(user).values("pk"))


@dataclass
class SubjectOverview:
    """Everything held about a subject, for the request's page (ids and references only)."""

    subject: DataSubject
    recordings: list[Recording]
    consents: list[Consent]
    grants: list[RecordingUserObjectPermission]
    holds: list[LegalHold]
    requests: list[DataSubjectRequest]


def subject_overview(
    subject: DataSubject, *, exclude_request: DataSubjectRequest | None = None
) -> SubjectOverview:
    """The subject's recordings, consents, ad-hoc grants on their recordings, the legal holds that
    cover them, and their earlier requests: a fixed number of queries."""
    recordings = list(
        Recording.objects.filter(subject=subject).select_related("queue").order_by("-started_at")
    )
    ids = [r.pk for r in recordings]
    queues = {r.queue_id for r in recordings}
    requests = DataSubjectRequest.objects.filter(subject=subject).order_by("-received_at")
    if exclude_request is not None:
        requests = requests.exclude(pk=exclude_request.pk)
    return SubjectOverview(
        subject=subject,
        recordings=recordings,
        consents=list(
            Consent.objects.filter(subject=subject)
            .select_related("purpose", "recording")
            .order_by("captured_at")
        ),
        grants=list(
            RecordingUserObjectPermission.objects.filter(content_object_id__in=ids)
            .select_related("user", "content_object")
            .order_by("-pk")
        ),
        holds=list(
            holds_active()
            .filter(Q(subject=subject) | Q(recording_id__in=ids) | Q(queue_id__in=queues))
            .order_by("placed_at")
        ),
        requests=list(requests),
    )
