"""The stages a request goes through, per request type, and where a request stands among them.

One table (``STAGES``) says what a right's way to the subject looks like; the request page shows
it as a numbered progress line ("1 Match · 2 Verify · … · 7 Send") with each stage done, current
or to come, and ``dsr.admin_actions.steps_available`` offers the steps that move it on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dsr.models import DataSubjectRequest, LetterDelivery, RequestType, ResponseLetter

Status = DataSubjectRequest.Status


@dataclass(frozen=True)
class Stage:
    key: str
    label: str
    done: Callable[[DataSubjectRequest], bool]
    optional: bool = False  # passed over once a later stage is done (a DPO may work it alone)


def _package_built(dsr: DataSubjectRequest) -> bool:
    return dsr.executed_at is not None and dsr.packages.exists()


def outcome_letter(dsr: DataSubjectRequest) -> ResponseLetter | None:
    """The response to send: the latest outcome letter (completion or refusal)."""
    return dsr.letters.filter(kind=ResponseLetter.Kind.OUTCOME).order_by("-created_at", "-pk").first()


def response_delivered(dsr: DataSubjectRequest) -> bool:
    """The response reached the subject: its letter was sent (email or post), or an access or
    portability request was completed by its delivery (a download of the package)."""
    letter = outcome_letter(dsr)
    if (
        letter is not None
        and LetterDelivery.objects.filter(letter=letter, state=LetterDelivery.State.SENT).exists()
    ):
        return True
    return dsr.request_type in PACKAGE_TYPES and dsr.status == Status.COMPLETED


PACKAGE_TYPES = {RequestType.ACCESS, RequestType.PORTABILITY}

MATCH = Stage("match", "Match", lambda dsr: dsr.subject_id is not None)
VERIFY = Stage("verify", "Verify", lambda dsr: dsr.identity_verified_at is not None)
ASSIGN = Stage("assign", "Assign", lambda dsr: dsr.assignee_id is not None, optional=True)
PREPARE = Stage(
    "prepare",
    "Prepare",
    lambda dsr: dsr.prepared_by_id is not None or dsr.approved_without_preparer,
)
APPROVE = Stage("approve", "Approve", lambda dsr: dsr.approved_at is not None)
EXECUTE = Stage("execute", "Execute", lambda dsr: dsr.executed_at is not None)
BUILD = Stage("build", "Build", _package_built)
SEND = Stage("send", "Send", response_delivered)

STAGES: dict[str, tuple[Stage, ...]] = {
    RequestType.ERASURE: (MATCH, VERIFY, ASSIGN, PREPARE, APPROVE, EXECUTE, SEND),
    RequestType.ACCESS: (MATCH, VERIFY, ASSIGN, BUILD, SEND),
    RequestType.PORTABILITY: (MATCH, VERIFY, ASSIGN, BUILD, SEND),
    RequestType.RECTIFICATION: (MATCH, VERIFY, ASSIGN, EXECUTE, SEND),
    RequestType.RESTRICTION: (MATCH, VERIFY, ASSIGN, EXECUTE, SEND),
    RequestType.OBJECTION: (MATCH, VERIFY, ASSIGN, EXECUTE, SEND),
    RequestType.CONSENT_WITHDRAWAL: (MATCH, VERIFY, ASSIGN, EXECUTE, SEND),
}


STAGE_STATE_LABELS = {"done": "done", "current": "current", "todo": "to come", "skipped": "not reached"}


@dataclass(frozen=True)
class StageState:
    number: int
    key: str
    label: str
    state: str  # "done", "current", "todo" or "skipped" (a refused or withdrawn request's rest)


def stages_of(dsr: DataSubjectRequest, *, four_eyes: bool = True) -> tuple[Stage, ...]:
    stages = STAGES[dsr.request_type]
    if not four_eyes:
        stages = tuple(stage for stage in stages if stage not in (PREPARE, APPROVE))
    return stages


def progress(dsr: DataSubjectRequest, *, four_eyes: bool = True) -> list[StageState]:
    """Each stage of the request's type with its state: the first stage not done is current; a
    request refused or withdrawn skips what it never reached, but for the refusal's letter, which
    is still sent."""
    stages = stages_of(dsr, four_eyes=four_eyes)
    done = [stage.done(dsr) for stage in stages]
    ended = dsr.status in (Status.REFUSED, Status.WITHDRAWN)
    rows: list[StageState] = []
    current_given = False
    for index, stage in enumerate(stages):
        passed_over = stage.optional and any(done[index + 1 :])
        if done[index]:
            state = "done"
        elif passed_over or (ended and not (stage is SEND and dsr.status == Status.REFUSED)):
            state = "skipped"
        elif not current_given:
            state, current_given = "current", True
        else:
            state = "todo"
        rows.append(StageState(index + 1, stage.key, stage.label, state))
    return rows
