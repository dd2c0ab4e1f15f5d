"""A request's life: identity, assignment, extension, status transitions and four-eyes approval.

Every change goes through one of these services (each saves through the model, so it lands in
history with its author); the admin's buttons call them and nothing else writes a status.

Completion: the quick rights are carried out inside ``request_complete``'s transaction. Access,
portability and erasure are long work: ``request_complete`` (and ``request_approve`` for the
second DPO's approval of an erasure) records the decision, moves the request to "being carried
out" and queues a job; the worker's job (``dsr.jobs``) does the work and completes the request
with ``request_close_completed`` (an erasure) or leaves it ready to send with
``request_package_ready`` (a package: it completes on delivery, ``request_response_delivered``).
While the job is queued or running the request changes no further (``dsr.jobs.request_job_guard``).

The request page offers these as explicit steps, per request type (``dsr.stages``); the generic
``request_transition`` stays the one place a status moves, behind the named steps.
"""

from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from compliance_site.model_update import history_save, model_update
from compliance_site.roles import DPO, PRIVACY_ANALYST, is_dpo
from dsr.deadlines import due_at_for, end_of_day, extension_limit_date, local_date
from dsr.models import DataSubjectRequest, RecipientNotification, RequestType, ResponseLetter
from recordings.models import DataSubject, Recipient

if TYPE_CHECKING:
    from dsr.rights import RightInput

logger = logging.getLogger(__name__)

Status = DataSubjectRequest.Status

# Where each status may go next. Completion runs the right (dsr.rights) first, or, for the long
# rights, goes to "being carried out" and is completed by the worker's job (dsr.jobs). A request
# being carried out goes back, or is refused or withdrawn, only once its job has failed.
TRANSITIONS: dict[str, set[str]] = {
    Status.NEW: {Status.IDENTITY_PENDING, Status.IN_PROGRESS, Status.REFUSED, Status.WITHDRAWN},
    Status.IDENTITY_PENDING: {Status.IN_PROGRESS, Status.REFUSED, Status.WITHDRAWN},
    Status.IN_PROGRESS: {
        Status.AWAITING_APPROVAL,
        Status.EXECUTING,
        Status.COMPLETED,
        Status.REFUSED,
        Status.WITHDRAWN,
    },
    Status.AWAITING_APPROVAL: {
        Status.IN_PROGRESS,
        Status.EXECUTING,
        Status.COMPLETED,
        Status.REFUSED,
        Status.WITHDRAWN,
    },
    Status.EXECUTING: {Status.IN_PROGRESS, Status.REFUSED, Status.WITHDRAWN},
    # The package is built and the response written; only its delivery completes it
    # (request_response_delivered), unless the subject withdraws meanwhile.
    Status.READY_TO_SEND: {Status.WITHDRAWN},
    Status.COMPLETED: set(),
    Status.REFUSED: set(),
    Status.WITHDRAWN: set(),
}


def _locked(dsr: DataSubjectRequest) -> DataSubjectRequest:
    return DataSubjectRequest.objects.select_for_update().get(pk=dsr.pk)


def _save(dsr: DataSubjectRequest, actor) -> DataSubjectRequest:
    return history_save(dsr, actor=actor, clean=True)


def needs_approval(dsr: DataSubjectRequest) -> bool:
    return dsr.request_type == RequestType.ERASURE and settings.DSR_ERASURE_FOUR_EYES


def _job_kind(dsr: DataSubjectRequest) -> str | None:
    """The job that carries out the request's right on a worker; None for a quick right."""
    from dsr.models import RequestJob

    kinds: dict[str, RequestJob.Kind] = {
        RequestType.ACCESS: RequestJob.Kind.PACKAGE,
        RequestType.PORTABILITY: RequestJob.Kind.PACKAGE,
        RequestType.ERASURE: RequestJob.Kind.ERASURE,
    }
    return kinds.get(dsr.request_type)


def _job_guard(dsr: DataSubjectRequest) -> None:
    from dsr.jobs import request_job_guard

    request_job_guard(dsr=dsr)


@transaction.atomic
def request_identity_verify(*, dsr: DataSubjectRequest, method: str, note: str, actor) -> DataSubjectRequest:
    """Record how the requester's identity was verified (Art. 12(6)); where the clock starts at
    verification (``DSR_CLOCK_START``), the period runs from now."""
    dsr = _locked(dsr)
    if not dsr.is_open:
        raise ValidationError("The request is closed.")
    if method not in DataSubjectRequest.IdentityMethod.values:
        raise ValidationError({"identity_method": "Choose how the identity was verified."})
    if not note.strip():
        raise ValidationError({"identity_note": "Note the evidence (what matched, which document)."})
    now = timezone.now()
    dsr.identity_method, dsr.identity_note = method, note.strip()
    dsr.identity_verified_by, dsr.identity_verified_at = actor, now
    if settings.DSR_CLOCK_START == "verification" and dsr.extended_until is None:
        dsr.due_at = due_at_for(now)
    if dsr.status in (Status.NEW, Status.IDENTITY_PENDING):
        dsr.status = Status.IN_PROGRESS
    return _save(dsr, actor)


@transaction.atomic
def request_assign(*, dsr: DataSubjectRequest, assignee, actor) -> DataSubjectRequest:
    """Give the request to a privacy analyst (or a DPO). An analyst gets guardian grants on this
    request and on its subject, and sees nothing else."""
    dsr = _locked(dsr)
    if not assignee.is_active or not assignee.groups.filter(name__in=[DPO, PRIVACY_ANALYST]).exists():
        raise ValidationError({"assignee": "Requests go to an active privacy analyst or DPO."})
    previous = dsr.assignee
    dsr.assignee = assignee
    _save(dsr, actor)
    if previous is not None and previous != assignee:
        assignment_revoke(dsr=dsr, user=previous)
    assignment_grant(dsr=dsr)
    return dsr


def assignment_grant(*, dsr: DataSubjectRequest) -> None:
    """The assignee's object grants: this request and its subject (guardian keeps them in history)."""
    if dsr.assignee_id is None:
        return
    assign_perm("dsr.view_datasubjectrequest", dsr.assignee, dsr)
    assign_perm("dsr.change_datasubjectrequest", dsr.assignee, dsr)
    if dsr.subject_id:
        assign_perm("recordings.view_datasubject", dsr.assignee, dsr.subject)


def assignment_revoke(*, dsr: DataSubjectRequest, user) -> None:
    remove_perm("dsr.view_datasubjectrequest", user, dsr)
    remove_perm("dsr.change_datasubjectrequest", user, dsr)
    if dsr.subject_id:
        _subject_grant_revoke_unless_needed(user=user, subject_id=dsr.subject_id, dsr=dsr)


def _subject_grant_revoke_unless_needed(*, user, subject_id: int, dsr: DataSubjectRequest) -> None:
    """Take back the user's view grant on a subject unless another open request of theirs is
    matched to that subject."""
    still_needed = (
        DataSubjectRequest.objects.filter(
            assignee=user, subject_id=subject_id, status__in=DataSubjectRequest.OPEN_STATUSES
        )
        .exclude(pk=dsr.pk)
        .exists()
    )
    if not still_needed:
        remove_perm("recordings.view_datasubject", user, DataSubject.objects.get(pk=subject_id))


@transaction.atomic
def request_match(*, dsr: DataSubjectRequest, subject, actor) -> DataSubjectRequest:
    """Tie the request to the subject found by reference, phone or email: a DPO's decision only.

    Matching decides whose data the request reaches (and which subject the assignee may then
    open), so an analyst cannot point their own request at someone else. A re-match to another
    subject voids what was established for the old one: the identity verification (it proved
    the requester is *that* subject), a prepared or approved erasure, and the assignee's grant
    on the old subject. History keeps both subjects.
    """
    if not actor.has_perm("dsr.match_request"):
        raise ValidationError("Only a DPO matches a request to a subject.")
    dsr = _locked(dsr)
    if not dsr.is_open:
        raise ValidationError("The request is closed.")
    previous_subject_id = dsr.subject_id
    if previous_subject_id == subject.pk:
        return dsr
    if dsr.status == Status.READY_TO_SEND:
        raise ValidationError("The package for this subject is built; it cannot be matched to another.")
    _job_guard(dsr)
    dsr.subject = subject
    if previous_subject_id is not None:
        dsr.identity_method, dsr.identity_note = "", ""
        dsr.identity_verified_by, dsr.identity_verified_at = None, None
        dsr.prepared_by, dsr.approved_by, dsr.approved_at = None, None, None
        if dsr.status in (Status.IN_PROGRESS, Status.AWAITING_APPROVAL, Status.EXECUTING):
            dsr.status = Status.IDENTITY_PENDING
    _save(dsr, actor)
    if previous_subject_id is not None and dsr.assignee_id is not None:
        _subject_grant_revoke_unless_needed(user=dsr.assignee, subject_id=previous_subject_id, dsr=dsr)
    assignment_grant(dsr=dsr)
    return dsr


@transaction.atomic
def request_extend(
    *, dsr: DataSubjectRequest, until: datetime.date, reason: str, actor
) -> DataSubjectRequest:
    """Extend the deadline by up to two further months (Art. 12(3)): with a reason, notified by
    the letter to the subject no later than the original due date (any time of that day: a
    deadline is a date, ``dsr.deadlines``). ``until`` is the new due date (an aware datetime counts
    as its local date); the request is then due at the end of that day. The DPO's date is kept as
    chosen: ``DSR_DEADLINE_NEXT_WORKING_DAY`` moves computed deadlines, not a date a person set."""
    from dsr.letters import letter_write

    dsr = _locked(dsr)
    today = local_date(timezone.now())
    due_date = local_date(dsr.due_at)
    if not dsr.is_open:
        raise ValidationError("The request is closed.")
    if today > due_date:
        raise ValidationError(
            f"The original deadline ({due_date:%Y-%m-%d}) has passed; an extension must be notified "
            "no later than that day."
        )
    if not reason.strip():
        raise ValidationError({"extension_reason": "Give the reason (complexity, number of requests)."})
    new_date = local_date(until)
    limit = extension_limit_date(dsr.due_at)
    if new_date <= local_date(dsr.effective_due_at):
        raise ValidationError(
            {
                "extended_until": "An extension moves the deadline to a later date than "
                f"{local_date(dsr.effective_due_at):%Y-%m-%d}."
            }
        )
    if new_date > limit:
        raise ValidationError(
            {"extended_until": f"At most two further months: {limit:%Y-%m-%d} at the latest."}
        )
    dsr.extended_until, dsr.extension_reason = end_of_day(new_date), reason.strip()
    _save(dsr, actor)
    letter_write(dsr=dsr, kind=ResponseLetter.Kind.EXTENSION, actor=actor)
    return dsr


@transaction.atomic
def request_transition(
    *, dsr: DataSubjectRequest, to: str, actor, outcome: str = "", refusal_ground: str = ""
) -> DataSubjectRequest:
    """Move a request along its workflow (not to completed: ``request_complete`` does that)."""
    dsr = _locked(dsr)
    if to in (Status.COMPLETED, Status.EXECUTING):
        raise ValidationError("Complete a request with request_complete, which carries out the right.")
    if to not in TRANSITIONS[dsr.status]:
        raise ValidationError(
            f"A request that is {dsr.get_status_display().lower()} cannot become {Status(to).label.lower()}."
        )
    if to == Status.IN_PROGRESS and dsr.identity_verified_at is None:
        raise ValidationError("Verify the requester's identity first.")
    if dsr.status == Status.EXECUTING:
        _job_guard(dsr)
        if to == Status.IN_PROGRESS:
            # Back to work after a failed job: an erasure needs a fresh second approval.
            dsr.approved_by, dsr.approved_at = None, None
    if to == Status.AWAITING_APPROVAL:
        if not needs_approval(dsr):
            raise ValidationError("Only an erasure waits for a second approval.")
        if dsr.subject_id is None:
            raise ValidationError("Match the request to a subject first.")
        dsr.prepared_by, dsr.approved_by, dsr.approved_at = actor, None, None
    if dsr.status == Status.AWAITING_APPROVAL and to == Status.IN_PROGRESS:
        # Sent back from approval: whoever sends it again becomes its preparer.
        dsr.prepared_by = None
    if to == Status.REFUSED:
        if refusal_ground not in DataSubjectRequest.RefusalGround.values:
            raise ValidationError({"refusal_ground": "A refusal states its ground."})
        dsr.refusal_ground = refusal_ground
    if outcome:
        dsr.outcome = outcome
    dsr.status = to
    dsr.closed_at = None if to in DataSubjectRequest.OPEN_STATUSES else timezone.now()
    _save(dsr, actor)
    if to == Status.REFUSED:
        from dsr.letters import letter_write

        letter_write(dsr=dsr, kind=ResponseLetter.Kind.OUTCOME, actor=actor)
    return dsr


# The explicit steps of the request page (dsr.stages), each one transition with its own rule.


def request_identity_ask(*, dsr: DataSubjectRequest, actor, note: str = "") -> DataSubjectRequest:
    """Record that the requester was asked for proof of identity (Art. 12(6))."""
    return request_transition(dsr=dsr, to=Status.IDENTITY_PENDING, actor=actor, outcome=note)


def request_send_for_approval(*, dsr: DataSubjectRequest, actor) -> DataSubjectRequest:
    """The preparer's step of an erasure: it waits for a second DPO, who is not ``actor``."""
    return request_transition(dsr=dsr, to=Status.AWAITING_APPROVAL, actor=actor)


def request_send_back(*, dsr: DataSubjectRequest, actor, note: str = "") -> DataSubjectRequest:
    """Back to in progress: an erasure the approver will not approve as prepared, or a request
    whose job failed."""
    return request_transition(dsr=dsr, to=Status.IN_PROGRESS, actor=actor, outcome=note)


def request_refuse(*, dsr: DataSubjectRequest, ground: str, actor, note: str = "") -> DataSubjectRequest:
    """Refuse the request with its ground (Art. 12(5), 12(6), 17(3)); the refusal letter is written."""
    if not ground:
        raise ValidationError({"refusal_ground": "A refusal states its ground."})
    return request_transition(dsr=dsr, to=Status.REFUSED, actor=actor, refusal_ground=ground, outcome=note)


def request_withdraw(*, dsr: DataSubjectRequest, actor, note: str) -> DataSubjectRequest:
    """Record that the subject withdrew the request, with how they said so."""
    if not note.strip():
        raise ValidationError({"note": "Note how the subject withdrew the request."})
    return request_transition(dsr=dsr, to=Status.WITHDRAWN, actor=actor, outcome=note.strip())


# The rules of the two destructive steps, asked by the services before they act and by the
# request page before it offers the button (dsr.admin_actions.steps_available).


def approval_refusal(dsr: DataSubjectRequest, actor) -> str | None:
    """Why ``actor`` may not approve this erasure now, or None."""
    if dsr.request_type != RequestType.ERASURE:
        return "Only an erasure is approved by a second DPO."
    if dsr.status != Status.AWAITING_APPROVAL:
        return "Only a request awaiting approval can be approved."
    if dsr.prepared_by_id is None:
        return "Nobody sent this erasure for approval; send it for approval first."
    if not is_dpo(actor):
        return "Only a DPO approves an erasure."
    if dsr.prepared_by_id == actor.pk:
        return "Four eyes: a second DPO must approve what you prepared."
    return None


def completion_refusal(dsr: DataSubjectRequest) -> str | None:
    """Why this request cannot be carried out now, or None."""
    if Status.COMPLETED not in TRANSITIONS[dsr.status]:
        return f"A request that is {dsr.get_status_display().lower()} cannot be completed."
    if dsr.identity_verified_at is None:
        return "Verify the requester's identity first."
    if needs_approval(dsr) and dsr.approved_at is None:
        return "An erasure needs a second DPO's approval first."
    if dsr.subject_id is None:
        return "Match the request to a subject first."
    return None


@transaction.atomic
def request_approve(*, dsr: DataSubjectRequest, actor) -> DataSubjectRequest:
    """The second DPO's approval of an erasure, recorded at once; the erasure is then queued for a
    worker (``request_complete``), which completes the request when it has run."""
    dsr = _locked(dsr)
    refusal = approval_refusal(dsr, actor)
    if refusal:
        raise ValidationError(refusal)
    dsr.approved_by, dsr.approved_at = actor, timezone.now()
    _save(dsr, actor)
    return request_complete(dsr=dsr, actor=actor)


@transaction.atomic
def request_complete(
    *, dsr: DataSubjectRequest, actor, given: RightInput | None = None
) -> DataSubjectRequest:
    """Carry out the right on the data (``dsr.rights``), then close the request with its outcome
    and the response letter. All or nothing: a failure leaves data and request as they were.
    ``given`` carries what some rights need besides the request (``dsr.rights.RightInput``).

    Access, portability and erasure are carried out on a worker: here the request becomes "being
    carried out" with a queued job (``dsr.jobs``), and this returns at once. The job completes the
    request (outcome, ``executed_at``, ``closed_at``, letter) in the transaction that finishes its
    work; until then the request is open and its deadline runs."""
    from dsr.rights import RightInput, right_execute

    dsr = _locked(dsr)
    refusal = completion_refusal(dsr)
    if refusal:
        raise ValidationError(refusal)
    job_kind = _job_kind(dsr)
    if job_kind is not None:
        from dsr.jobs import request_job_queue

        dsr.status = Status.EXECUTING
        _save(dsr, actor)
        request_job_queue(dsr=dsr, kind=job_kind, actor=actor)
        logger.info("Request %s queued for a worker (%s)", dsr.reference, job_kind)
        return dsr
    result = right_execute(dsr=dsr, actor=actor, given=given or RightInput())
    return request_close_completed(dsr=dsr, result=result, actor=actor)


def request_package_ready(*, dsr: DataSubjectRequest, result, actor) -> DataSubjectRequest:
    """The package of an access or portability request is built (the caller, the job, holds the
    request locked inside its transaction): the outcome and the response letter are written and
    the request waits, open, for its delivery (``request_response_delivered``)."""
    from dsr.letters import letter_write

    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("request_package_ready runs inside the building transaction.")
    dsr.outcome = result.outcome
    dsr.executed_at = timezone.now()
    dsr.status = Status.READY_TO_SEND
    _save(dsr, actor)
    letter_write(dsr=dsr, kind=ResponseLetter.Kind.OUTCOME, actor=actor)
    logger.info("Request %s ready to send (%s)", dsr.reference, dsr.request_type)
    return dsr


DELIVERY_CHANNELS = ("email", "download", "post")


@transaction.atomic
def request_response_delivered(
    *, dsr: DataSubjectRequest, channel: str, actor, at: datetime.datetime | None = None
) -> DataSubjectRequest:
    """The response reached the subject (its email was delivered, they downloaded the package,
    or it was posted): a request ready to send is completed, closed at that moment, so the
    deadline counts to it. A no-op for a request already closed (a second download, a quick
    right's letter sent after the right was carried out)."""
    if channel not in DELIVERY_CHANNELS:
        raise ValidationError(f"Unknown delivery channel {channel!r}.")
    dsr = _locked(dsr)
    if not dsr.is_open:
        return dsr
    if dsr.status != Status.READY_TO_SEND:
        raise ValidationError("Only a response that is ready to send can be delivered.")
    dsr.status = Status.COMPLETED
    dsr.closed_at = at or timezone.now()
    _save(dsr, actor)
    logger.info("Request %s completed: response delivered by %s", dsr.reference, channel)
    return dsr


def request_close_completed(*, dsr: DataSubjectRequest, result, actor) -> DataSubjectRequest:
    """Close the request, locked by the caller inside its transaction, as completed with the
    right's result: the Art. 19 notices owed, the outcome, the response letter."""
    from dsr.letters import letter_write

    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("request_close_completed runs inside the completing transaction.")
    notifications_owed_create(dsr=dsr)
    dsr.outcome = result.outcome
    dsr.exemption = result.exemption
    dsr.executed_at = timezone.now()
    dsr.status = Status.COMPLETED
    dsr.closed_at = dsr.executed_at
    _save(dsr, actor)
    letter_write(dsr=dsr, kind=ResponseLetter.Kind.OUTCOME, actor=actor)
    logger.info("Request %s completed (%s)", dsr.reference, dsr.request_type)
    return dsr


# Art. 19: the rights whose effect must be passed on to everyone who received the data.
NOTIFIED_RIGHTS = {RequestType.RECTIFICATION, RequestType.ERASURE, RequestType.RESTRICTION}


def notifications_owed_create(*, dsr: DataSubjectRequest) -> list[RecipientNotification]:
    """One notice to send per recipient of the purposes the subject's recordings served."""
    if dsr.request_type not in NOTIFIED_RIGHTS or dsr.subject_id is None:
        return []
    # Those the registry says receive the purposes of the subject's calls, and those who were
    # actually sent one of them.
    recipients = Recipient.objects.filter(
        Q(purposes__recordings__subject=dsr.subject_id) | Q(shares__recording__subject=dsr.subject_id)
    ).distinct()
    return [
        RecipientNotification.objects.get_or_create(request=dsr, recipient=recipient)[0]
        for recipient in recipients
    ]


@transaction.atomic
def notification_record_sent(
    *, notification: RecipientNotification, actor, note: str = ""
) -> RecipientNotification:
    notification = RecipientNotification.objects.select_for_update().get(pk=notification.pk)
    if notification.notified_at is not None:
        raise ValidationError(f"{notification.recipient} was already notified.")
    return model_update(
        notification,
        actor=actor,
        notified_at=timezone.now(),
        notified_by=actor,
        note=note or notification.note,
    )
