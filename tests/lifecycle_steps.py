"""The steps of ``tests/test_lifecycle_state_machine.py``, each through Custos's own services as a
user or beat would take it: the ingest behind the API, the DSR workflow behind the admin, beat's
tasks. ``machine`` is the state machine (its DPOs, purposes, queue, notice, assessment)."""

from __future__ import annotations

import datetime
import io
import smtplib

from django.core.mail.backends import locmem

from dsr.held_erasures import held_erasures_approve
from dsr.held_erasures import held_erasures_confirm as held_erasures_confirm_service
from dsr.models import DataSubjectRequest
from dsr.restriction import request_restriction_lift
from dsr.rights import RightInput
from dsr.services import request_create
from dsr.tasks import finish_held_erasures, retry_deadline_reminders, send_deadline_reminders
from dsr.workflow import request_approve, request_complete, request_identity_verify, request_transition
from recordings.intake.serializers import RecordingMetadataSerializer
from recordings.intake.services import recording_ingest
from recordings.models import DataSubject, Recording
from recordings.models.restrictions import RestrictionGround
from recordings.selectors import restriction_in_force
from retention.models import HeldErasure, RetentionPolicy
from tests.factories import _wav

WAV = _wav(seconds=0.2)


class FlakyMailBackend(locmem.EmailBackend):
    """The outbox (``django.core.mail.outbox``) behind a mail server that refuses the next
    ``refusals`` messages with a temporary error, as a busy relay does."""

    refusals = 0

    def send_messages(self, messages):
        if FlakyMailBackend.refusals > 0:
            FlakyMailBackend.refusals -= 1
            raise smtplib.SMTPDataError(451, b"4.3.0 Try again later")
        return super().send_messages(messages)


def access_request_file(machine, *, subject_id: int) -> DataSubjectRequest:
    """A request the desk has not answered yet: its deadline runs and reminders come."""
    return _request(machine, subject_id=subject_id, request_type="access")


def reminders_tick(machine, *, now: datetime.datetime) -> None:
    """Beat's hourly reminder tick, then its retry tick a few minutes later."""
    send_deadline_reminders.apply(kwargs={"now": now.isoformat()}).get()
    retry_deadline_reminders.apply().get()


def ingest(machine, *, phone: str, basis: str, purposes: set[str], started: datetime.datetime) -> Recording:
    """A call as the telephony integration posts it."""
    consents = [
        {
            "purpose": code,
            "decision": "given",
            "method": "ivr_keypress",
            "notice_version": machine.notice.version,
            "notice_language": machine.notice.language,
            "captured_at": (started + datetime.timedelta(seconds=12)).isoformat(),
            "evidence_offset_seconds": 12,
            "jurisdiction": "DE",
        }
        for code in sorted(purposes)
        if basis == "consent"
    ]
    metadata = {
        "subject": {"full_name": "Erika Mustermann", "phone": phone},
        "queue": machine.queue.code,
        "direction": "inbound",
        "started_at": started.isoformat(),
        "ended_at": (started + datetime.timedelta(minutes=4)).isoformat(),
        "lawful_basis": basis,
        "purposes": sorted(purposes),
        "consents": consents,
    }
    if basis == "legitimate_interests":
        metadata["legitimate_interest_assessment"] = machine.assessment.pk
    serializer = RecordingMetadataSerializer(data=metadata)
    serializer.is_valid(raise_exception=True)
    return recording_ingest(audio=io.BytesIO(WAV), metadata=serializer.validated_data)


def policy_change(machine, *, purpose, days: int) -> None:
    """The DPO edits the purpose's retention policy."""
    policy = RetentionPolicy.objects.get(purpose=purpose)
    policy.keep_days = days
    policy.save()


def _request(machine, *, subject_id: int, request_type: str) -> DataSubjectRequest:
    dsr = request_create(
        request_type=request_type,
        channel="email",
        received_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5),
        subject=DataSubject.objects.get(pk=subject_id),
        actor=machine.dpo,
    )
    return request_identity_verify(dsr=dsr, method="document", note="Passport seen.", actor=machine.dpo)


def restriction_request(machine, *, subject_id: int) -> None:
    """The subject asks for restriction (Art. 18); the DPO completes it, naming the ground."""
    request_complete(
        dsr=_request(machine, subject_id=subject_id, request_type="restriction"),
        actor=machine.dpo,
        given=RightInput(restriction_ground=RestrictionGround.LEGAL_CLAIMS),
    )


def restriction_lift(machine, *, subject_id: int) -> None:
    """The DPO lifts the subject's restriction (Art. 18(3)) on the request that placed it."""
    restriction = restriction_in_force(DataSubject.objects.get(pk=subject_id))
    dsr = DataSubjectRequest.objects.get(reference=restriction.request_reference)
    request_restriction_lift(dsr=dsr, actor=machine.dpo, reason="The claim is settled.")


def erasure_request(machine, *, subject_id: int) -> None:
    """The subject asks for erasure; one DPO sends it for approval, a second approves; the job
    runs on the (eager) worker once the approval commits."""
    dsr = _request(machine, subject_id=subject_id, request_type="erasure")
    dsr = request_transition(dsr=dsr, to=DataSubjectRequest.Status.AWAITING_APPROVAL, actor=machine.dpo)
    request_approve(dsr=dsr, actor=machine.dpo2)


def held_erasures_confirm(machine, *, recording_ids: list[int]) -> None:
    """After a hold's release, a DPO confirms the erasures it deferred and a second approves; a
    worker carries them out once the approval commits."""
    due = list(HeldErasure.objects.filter(recording_id__in=recording_ids, state=HeldErasure.State.DUE))
    confirmed = held_erasures_confirm_service(erasures=due, actor=machine.dpo)
    held_erasures_approve(erasures=confirmed, actor=machine.dpo2)


def beat_nightly(machine, *, now: datetime.datetime) -> None:
    """Beat's periodic work other than the sweep: erasures past their hold's grace period."""
    finish_held_erasures.apply(kwargs={"now": now.isoformat()}).get()
