"""What each data-subject right does to the data, with a preview before anything destructive.

``right_preview`` says what completing a request would do. The quick rights (rectification,
restriction, objection, consent withdrawal) run in ``right_execute`` inside the completing
transaction (``dsr.workflow.request_complete``), so a failure changes nothing. The long ones run
on a worker (``dsr.jobs``): an approved erasure in ``erasure_execute``, inside the job's own
transaction (all or nothing, as before); access and portability build their package in
``dsr.packages``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from dsr.erasure import hold_ground, holds_on, live_recordings, subject_erase
from dsr.models import DataSubjectRequest, RequestType
from recordings.models import (
    Consent,
    DataSubject,
    LawfulBasis,
    LegitimateInterestAssessment,
    Objection,
    Purpose,
    Recording,
)
from recordings.restrictions import restriction_place
from recordings.selectors import restriction_in_force
from recordings.services import consent_withdraw, objection_decide, subject_personal_data_rectify
from recordings.vault.keys import PersonalData


@dataclass
class RightResult:
    outcome: str
    exemption: str = ""


@dataclass(frozen=True)
class RightInput:
    """What the DPO adds when completing a request, for the rights that take more than the
    request itself: which consents to withdraw (Art. 7(3)), the compelling grounds that overrule
    an objection (Art. 21(1)), the corrected personal data (Art. 16), the ground of a restriction
    (Art. 18(1)). Each field belongs to one right; ``right_execute`` hands it to that right's
    service by name."""

    consent_ids: tuple[int, ...] | None = None
    restriction_ground: str = ""
    compelling_grounds: str = ""
    personal: PersonalData | None = None


@dataclass
class Preview:
    """What completing the request would do, for the DPO to read before confirming."""

    lines: list[str] = field(default_factory=list)
    destructive: bool = False


def _subject_of(dsr: DataSubjectRequest) -> DataSubject:
    """The request's subject; a right is carried out only for a matched request."""
    if dsr.subject is None:
        raise ValidationError("Match the request to a subject first.")
    return dsr.subject


# --- erasure (Art. 17) -------------------------------------------------------------------------


def erasure_preview(subject: DataSubject) -> Preview:
    recordings = list(live_recordings(subject))
    held = holds_on(subject)
    lines = [
        f"{len(recordings) - len(held)} recording(s) erased: key shredded, audio deleted, tombstone kept."
    ]
    if held:
        lines.append(
            f"{len(held)} recording(s) restricted instead, kept for "
            + hold_ground([h for hs in held.values() for h in hs])
            + "."
        )
        lines.append("The subject's name, phone and email are kept (restricted) while a hold covers them.")
    else:
        lines.append(
            "The subject key is shredded: name, phone and email become unreadable, history included."
        )
    consents = Consent.objects.filter(subject=subject).count()
    lines.append(f"{consents} consent record(s) stay as evidence, pseudonymous.")
    return Preview(lines=lines, destructive=True)


def erasure_execute(*, dsr: DataSubjectRequest, actor) -> RightResult:
    """Erase the request's subject (Art. 17), or restrict what a legal hold covers (Art. 17(3)(e)),
    inside the caller's transaction: the erasure job's (``dsr.jobs``), which completes the request
    in the same transaction. The blobs are deleted by a task once it commits."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("erasure_execute runs inside the erasure job's transaction.")
    erased = subject_erase(subject_id=_subject_of(dsr).pk, actor=actor, under=dsr.reference)
    if erased.held_by:
        return RightResult(
            outcome=(
                f"{erased.erased} recording(s) erased. {erased.restricted} recording(s) and the subject's "
                f"personal data are restricted instead of erased, because of a {erased.held_by}. "
                "They are erased once the hold is released: after a second DPO's approval, or at the "
                f"latest {settings.CUSTOS_HELD_ERASURE_GRACE_DAYS} days after the release."
            ),
            exemption=erased.held_by[:200],
        )
    return RightResult(
        outcome=f"{erased.erased} recording(s) erased; the subject's name, phone and email are destroyed."
    )


# --- restriction (Art. 18) ---------------------------------------------------------------------


def restriction_preview(subject: DataSubject) -> Preview:
    active = live_recordings(subject).filter(status=Recording.Status.ACTIVE).count()
    lines = [
        f"{active} recording(s) marked restricted: gone from QA review, exports and sharing, "
        "kept in storage (the retention sweep deletes none of them), flagged in the admin.",
        "Calls of the subject that arrive later are stored restricted too, until a DPO lifts the "
        "restriction (Art. 18(3)) on this request's page.",
    ]
    in_force = restriction_in_force(subject)
    if in_force is not None:
        lines.append(
            f"A restriction placed under {in_force.request_reference} is already in force; it stays."
        )
    return Preview(lines=lines)


def restriction_execute(*, dsr: DataSubjectRequest, actor, ground: str) -> RightResult:
    """Restrict the subject (Art. 18(1)): the durable record under this request, the recordings
    restricted, their shares revoked (``recordings.restrictions.restriction_place``)."""
    placed = restriction_place(
        subject=_subject_of(dsr), request_reference=dsr.reference, ground=ground, actor=actor
    )
    outcome = f"{placed.restricted} recording(s) restricted (Art. 18): stored, not used."
    if placed.already_in_force:
        outcome += f" The restriction placed under {placed.restriction.request_reference} stays in force."
    return RightResult(outcome=outcome)


# --- objection (Art. 21) -----------------------------------------------------------------------


def _objected_purposes(subject: DataSubject) -> list[Purpose]:
    """The purposes an objection reaches (Art. 21(1)): every purpose processed on legitimate
    interests, those an approved assessment lists and those the subject's legitimate-interest
    recordings serve. Not only the latter: a call that arrives after the objection must find it
    recorded for its purposes, or it would be used as if the subject had never objected."""
    assessed = LegitimateInterestAssessment.purposes.through.objects.filter(
        legitimateinterestassessment__approved_at__isnull=False
    ).values("purpose_id")
    served = (
        Recording.purposes.through.objects.filter(
            recording__subject=subject, recording__lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS
        )
        .exclude(recording__status=Recording.Status.ERASED)
        .values("purpose_id")
    )
    return list(Purpose.objects.filter(Q(pk__in=assessed) | Q(pk__in=served)).order_by("code"))


def objection_preview(subject: DataSubject) -> Preview:
    purposes = _objected_purposes(subject)
    if not purposes:
        return Preview(lines=["Nothing is processed on legitimate interests."])
    names = ", ".join(str(p) for p in purposes)
    return Preview(
        lines=[
            f"Stops {names} for the subject's legitimate-interest recordings, those that arrive "
            "later included, unless you record compelling legitimate grounds."
        ]
    )


def objection_execute(*, dsr: DataSubjectRequest, actor, compelling_grounds: str) -> RightResult:
    subject = _subject_of(dsr)
    decided = []
    for purpose in _objected_purposes(subject):
        objection = Objection.objects.create(subject=subject, purpose=purpose, received_at=dsr.received_at)
        decision = Objection.Decision.OVERRULED if compelling_grounds.strip() else Objection.Decision.UPHELD
        objection = objection_decide(
            objection=objection, decision=decision, actor=actor, reason=compelling_grounds
        )
        decided.append(f"{purpose}: {objection.get_decision_display().split(':')[0].lower()}")
    if not decided:
        return RightResult(outcome="Nothing is processed on legitimate interests: no objection to decide.")
    return RightResult(outcome="Objection decided — " + "; ".join(decided) + ".")


# --- consent withdrawal (Art. 7(3)) ------------------------------------------------------------

_REQUEST_CHANNEL_TO_CONSENT = {
    "phone": Consent.Channel.PHONE,
    "email": Consent.Channel.EMAIL,
    "letter": Consent.Channel.LETTER,
    "web": Consent.Channel.WEB,
}


def withdrawal_preview(subject: DataSubject) -> Preview:
    active = Consent.objects.filter(
        subject=subject, decision=Consent.Decision.GIVEN, withdrawn_at__isnull=True
    )
    # Destructive: a withdrawn consent is not given back; the subject would have to consent anew.
    return Preview(
        lines=[
            f"{active.count()} active consent(s) can be withdrawn; the chosen ones end now, and the "
            "calls they covered stop serving those purposes (keep-until is computed anew)."
        ],
        destructive=True,
    )


def withdrawal_execute(*, dsr: DataSubjectRequest, actor, consent_ids: tuple[int, ...] | None) -> RightResult:
    """Withdraw the chosen consents (all active ones when ``consent_ids`` is None)."""
    active = Consent.objects.filter(
        subject=dsr.subject, decision=Consent.Decision.GIVEN, withdrawn_at__isnull=True
    )
    if consent_ids is not None:
        active = active.filter(pk__in=consent_ids)
    via = _REQUEST_CHANNEL_TO_CONSENT.get(dsr.channel, Consent.Channel.DSR)
    withdrawn = [
        consent_withdraw(consent=c, via=via, actor=actor, under=dsr.reference) for c in active.order_by("pk")
    ]
    if not withdrawn:
        raise ValidationError("No active consent was chosen to withdraw.")
    purposes = ", ".join(sorted({str(c.purpose) for c in withdrawn}))
    return RightResult(outcome=f"{len(withdrawn)} consent(s) withdrawn ({purposes}).")


# --- rectification (Art. 16) -------------------------------------------------------------------


def rectification_execute(*, dsr: DataSubjectRequest, actor, personal: PersonalData | None) -> RightResult:
    if personal is None:
        raise ValidationError("Give the corrected name, phone or email.")
    changed = subject_personal_data_rectify(subject=_subject_of(dsr), personal=personal, actor=actor)
    if not changed:
        raise ValidationError("Nothing differs from what is on file.")
    return RightResult(outcome=f"Corrected: {', '.join(changed)}.")


# --- dispatch ----------------------------------------------------------------------------------


def right_preview(dsr: DataSubjectRequest) -> Preview:
    subject = dsr.subject
    if subject is None:
        return Preview(lines=["Match the request to a subject first."])
    previews: dict[str, Callable[[DataSubject], Preview]] = {
        RequestType.ERASURE: erasure_preview,
        RequestType.RESTRICTION: restriction_preview,
        RequestType.OBJECTION: objection_preview,
        RequestType.CONSENT_WITHDRAWAL: withdrawal_preview,
    }
    if dsr.request_type in previews:
        return previews[dsr.request_type](subject)
    if dsr.request_type == RequestType.RECTIFICATION:
        return Preview(lines=["The corrected fields are re-encrypted; the change stays in history."])
    return Preview(lines=["A package of the subject's data is built for you to download and send."])


def right_execute(*, dsr: DataSubjectRequest, actor, given: RightInput) -> RightResult:
    """Carry out one of the quick rights; must run inside the completing transaction. Erasure,
    access and portability run on a worker (``dsr.jobs``)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("right_execute runs inside request_complete's transaction.")
    kind = dsr.request_type
    if kind in (RequestType.ERASURE, RequestType.ACCESS, RequestType.PORTABILITY):
        raise ValidationError("This right is carried out on a worker (dsr.jobs).")
    if kind == RequestType.RESTRICTION:
        return restriction_execute(dsr=dsr, actor=actor, ground=given.restriction_ground)
    if kind == RequestType.OBJECTION:
        return objection_execute(dsr=dsr, actor=actor, compelling_grounds=given.compelling_grounds)
    if kind == RequestType.CONSENT_WITHDRAWAL:
        return withdrawal_execute(dsr=dsr, actor=actor, consent_ids=given.consent_ids)
    if kind == RequestType.RECTIFICATION:
        return rectification_execute(dsr=dsr, actor=actor, personal=given.personal)
    raise ValidationError(f"Unknown request type {kind!r}.")
