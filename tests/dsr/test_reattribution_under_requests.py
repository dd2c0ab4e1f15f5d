"""A call does not move between subjects under a request prepared, approved or built from their
calls: the erasure's preview, its approval and the access package would no longer say what is
carried out or sent (``dsr.receivers``)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from dsr.models import DataSubjectRequest, RequestType
from dsr.services import request_create
from dsr.workflow import request_identity_verify, request_send_for_approval
from recordings.reattribution import recording_reattribute
from tests.factories import DataSubjectFactory, RecordingFactory

pytestmark = pytest.mark.django_db

REASON = "Ticket OPS-4711: the agent picked the wrong caller."


def _erasure_awaiting_approval(subject, dpo) -> DataSubjectRequest:
    dsr = request_create(
        request_type=RequestType.ERASURE, channel="email", received_at=timezone.now(), subject=subject
    )
    request_identity_verify(dsr=dsr, method="document", note="ID card seen.", actor=dpo)
    return request_send_for_approval(dsr=dsr, actor=dpo)


@pytest.mark.parametrize("whose", ["old", "new"])
def test_a_call_does_not_move_under_an_erasure_awaiting_approval(dpo, queue_a, whose):
    call = RecordingFactory(queue=queue_a)
    other = DataSubjectFactory()
    dsr = _erasure_awaiting_approval(call.subject if whose == "old" else other, dpo)

    with pytest.raises(ValidationError) as refused:
        recording_reattribute(recording=call, new_subject=other, reason=REASON, actor=dpo)

    assert dsr.reference in " ".join(refused.value.messages)
    call.refresh_from_db()
    assert call.subject_id != other.pk


def test_an_open_request_not_yet_prepared_does_not_stop_it(dpo, queue_a):
    call = RecordingFactory(queue=queue_a)
    other = DataSubjectFactory()
    request_create(
        request_type=RequestType.ACCESS, channel="email", received_at=timezone.now(), subject=call.subject
    )

    recording_reattribute(recording=call, new_subject=other, reason=REASON, actor=dpo)

    call.refresh_from_db()
    assert call.subject_id == other.pk
