"""Intake: a request gets its reference and due date at once."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from dsr.models import DataSubjectRequest, RequestType
from dsr.services import request_create

pytestmark = pytest.mark.django_db


def _create(**overrides) -> DataSubjectRequest:
    fields = {
        "request_type": RequestType.ACCESS,
        "channel": DataSubjectRequest.Channel.EMAIL,
        "received_at": timezone.now() - datetime.timedelta(days=1),
    }
    return request_create(**{**fields, **overrides})


def test_request_gets_a_sequential_reference_for_its_year():
    first, second = _create(), _create()
    year = timezone.localdate(first.received_at).year

    assert first.reference == f"DSR-{year}-000001"
    assert second.reference == f"DSR-{year}-000002"


def test_request_is_due_thirty_days_after_receipt_and_is_in_history():
    request = _create()

    # due until the end of the 30th day after the day of receipt (Reg. 1182/71 Art. 3)
    assert timezone.localdate(request.due_at) == timezone.localdate(request.received_at) + datetime.timedelta(
        days=30
    )
    assert timezone.localtime(request.due_at).time() == datetime.time.max
    assert request.status == DataSubjectRequest.Status.NEW
    assert request.history.count() == 1


def test_references_restart_each_year():
    old = _create(received_at=timezone.now().replace(year=2025, month=6, day=1))
    assert old.reference == "DSR-2025-000001"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"received_at": datetime.datetime(2026, 1, 1, 9, 0)}, "received_at"),  # naive
        ({"received_at": timezone.now() + datetime.timedelta(days=2)}, "received_at"),
        ({"request_type": "telepathy"}, "request_type"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(overrides, field):
    with pytest.raises(ValidationError) as excinfo:
        _create(**overrides)

    assert field in excinfo.value.message_dict
    assert DataSubjectRequest.objects.count() == 0
