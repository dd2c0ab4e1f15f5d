"""What the DSR desk keeps a subject for: their requests (``retention.subject_expiry``).

A request's record (who asked what, when, what was answered) is evidence of how it was handled,
kept ``CUSTOS_REQUEST_RECORD_RETENTION_DAYS`` after it closed; the subject's name, phone and
email stay with it until then. Registered at start by ``dsr.apps``, since retention may not
import this app.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db.models import Exists, OuterRef, Q

from dsr.models import DataSubjectRequest
from retention.subject_expiry import REQUESTS_KEEPER, SubjectKeeper


def _request_kept(now: datetime.datetime) -> Q:
    """An open request, or one closed less than the request-record retention before ``now``."""
    bound = now - datetime.timedelta(days=settings.CUSTOS_REQUEST_RECORD_RETENTION_DAYS)
    requests = DataSubjectRequest.objects.filter(subject=OuterRef("pk")).filter(
        Q(status__in=DataSubjectRequest.OPEN_STATUSES) | Q(closed_at__isnull=True) | Q(closed_at__gt=bound)
    )
    return Q(Exists(requests))


REQUEST_KEEPER = SubjectKeeper(
    REQUESTS_KEEPER,
    "an open request, or one closed within CUSTOS_REQUEST_RECORD_RETENTION_DAYS",
    _request_kept,
)
