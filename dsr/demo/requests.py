"""The demo's requests: every type in every step of its workflow, each brought there by the
services a DPO's clicks call (``dsr.workflow``), so each has its history, access events and
letters."""

from __future__ import annotations

import datetime
from collections.abc import Callable

from django.utils import timezone

from compliance_site.model_update import history_save
from dsr.models import DataSubjectRequest, RequestNote, RequestType
from dsr.response_delivery import response_record_posted
from dsr.rights import RightInput
from dsr.services import request_create
from dsr.workflow import (
    request_approve,
    request_assign,
    request_complete,
    request_extend,
    request_identity_ask,
    request_identity_verify,
    request_refuse,
    request_send_for_approval,
    request_withdraw,
)
from recordings.models import Consent, DataSubject, RestrictionGround
from recordings.vault.keys import PersonalData


def demo_requests_create(rng, now, subjects: list[DataSubject], users) -> None:
    """Requests of every type in every step (but "being carried out", which lasts only while
    a worker runs), due from overdue to next month, each brought there by the services a DPO's
    clicks call, so each has its history, access events and letters."""
    dpo, dpo2, analyst = users["dpo"], users["dpo2"], users["analyst"]
    with_consents = [
        s
        for s in subjects
        if Consent.objects.filter(
            subject=s, decision=Consent.Decision.GIVEN, withdrawn_at__isnull=True
        ).exists()
    ]
    # A subject of their own for each request, those with consents kept for the withdrawals.
    pool = [s for s in subjects if s not in with_consents] + with_consents[4:]
    rng.shuffle(pool)
    consenting = with_consents[:4]

    def received(days: int) -> datetime.datetime:
        return now - datetime.timedelta(days=days, hours=rng.randint(1, 20))

    def new(kind: str, days: int, *, subject=True, language="en", assignee=None, source=None):
        return request_create(
            request_type=kind,
            channel=rng.choice(
                [
                    DataSubjectRequest.Channel.EMAIL,
                    DataSubjectRequest.Channel.PHONE,
                    DataSubjectRequest.Channel.LETTER,
                    DataSubjectRequest.Channel.WEB,
                ]
            ),
            received_at=received(days),
            subject=(source or pool).pop() if subject else None,
            language=language,
            assignee=assignee,
            actor=dpo,
        )

    def verified(dsr):
        return request_identity_verify(
            dsr=dsr,
            method=DataSubjectRequest.IdentityMethod.CALLER_NUMBER,
            note="Called from the number on file; date of birth confirmed.",
            actor=dpo,
        )

    quick_inputs: dict[str, Callable[[DataSubjectRequest], RightInput]] = {
        RequestType.RECTIFICATION: lambda dsr: RightInput(
            personal=PersonalData(email=f"new.{dsr.reference.lower()}@example.org")
        ),
        RequestType.RESTRICTION: lambda dsr: RightInput(
            restriction_ground=RestrictionGround.ACCURACY_CONTESTED
        ),
        RequestType.OBJECTION: lambda dsr: RightInput(),
        RequestType.CONSENT_WITHDRAWAL: lambda dsr: RightInput(),
    }
    refusals: dict[str, str] = {
        RequestType.ACCESS: DataSubjectRequest.RefusalGround.EXCESSIVE,
        RequestType.ERASURE: DataSubjectRequest.RefusalGround.LEGAL_OBLIGATION,
        RequestType.RECTIFICATION: DataSubjectRequest.RefusalGround.IDENTITY_NOT_VERIFIED,
        RequestType.OBJECTION: DataSubjectRequest.RefusalGround.MANIFESTLY_UNFOUNDED,
    }
    for kind in RequestType.values:
        german = kind in (RequestType.ACCESS, RequestType.ERASURE)
        # New: one not yet matched to a subject, waiting for the DPO's match.
        new(kind, rng.randint(0, 3), subject=kind != RequestType.ACCESS, language="de" if german else "en")
        # Identity pending: the requester was asked for proof.
        request_identity_ask(
            dsr=new(kind, rng.randint(2, 12)), actor=dpo, note="Asked for a copy of an identity document."
        )
        # In progress, with the analyst; one of them long overdue.
        working = request_assign(dsr=verified(new(kind, rng.randint(5, 40))), assignee=analyst, actor=dpo)
        # A note, saved as the request page saves one (its author, with history).
        history_save(
            RequestNote(request=working, author=dpo, body="Called back; the subject confirmed the request."),
            actor=dpo,
        )
        # Withdrawn by the subject.
        request_withdraw(
            dsr=new(kind, rng.randint(10, 40)), note="The subject withdrew the request by email.", actor=dpo
        )
        if kind in refusals:
            request_refuse(
                dsr=new(kind, rng.randint(10, 40)),
                ground=refusals[kind],
                note="Refused; the ground and the right to complain were stated to the subject.",
                actor=dpo,
            )
        # Completed: the right carried out (long rights by their job, run after the commit).
        source = consenting if kind == RequestType.CONSENT_WITHDRAWAL else None
        for _ in range(3 if kind == RequestType.CONSENT_WITHDRAWAL else 1):
            dsr = verified(new(kind, rng.randint(3, 25), language="de" if german else "en", source=source))
            if kind == RequestType.ERASURE:
                _erasure_approved(dsr, dpo, dpo2)
            else:
                given = quick_inputs[kind](dsr) if kind in quick_inputs else None
                request_complete(dsr=dsr, actor=dpo, given=given)
    # Awaiting approval: an erasure prepared by one DPO, for the other to approve.
    request_send_for_approval(dsr=verified(new(RequestType.ERASURE, 6, language="de")), actor=dpo)
    # An extension (Art. 12(3)), notified by letter before the original deadline.
    extended = verified(new(RequestType.ACCESS, 20))
    request_extend(
        dsr=extended,
        until=timezone.localdate(extended.due_at) + datetime.timedelta(days=30),
        reason="Twelve recordings over three years to review; the subject was told why.",
        actor=dpo,
    )
    _seed_ready_to_send(new, verified, dpo)


def _erasure_approved(dsr, dpo, dpo2) -> None:
    """Four eyes: one DPO prepares, the other approves; the erasure job runs after the commit."""
    request_send_for_approval(dsr=dsr, actor=dpo)
    request_approve(dsr=dsr, actor=dpo2)


def _seed_ready_to_send(new, verified, dpo) -> None:
    """An access request whose package is built but not yet sent ("ready to send"): its package
    job, run after the commit, stops there, and ``demo_responses_send`` leaves it so (it is the
    last one created)."""
    request_complete(dsr=verified(new(RequestType.ACCESS, 8)), actor=dpo)


def demo_responses_send(users) -> None:
    """After the package jobs ran: every built package but the newest went out by post, as the
    DPO records it, so those requests are completed and one stays ready to send."""
    ready = DataSubjectRequest.objects.filter(status=DataSubjectRequest.Status.READY_TO_SEND).order_by("pk")
    for dsr in list(ready)[:-1]:
        response_record_posted(
            dsr=dsr, note="Letter with an encrypted USB stick, posted by registered mail.", actor=users["dpo"]
        )
