"""The demo's calls: each one scripted, synthesised (``compliance_site.demo``) and stored the way
the telephony integration stores a call (``recording_ingest``), with consents that fit their
evidence; and two of them shared with the dispute mediator."""

from __future__ import annotations

import datetime
import io
import random
from decimal import Decimal

from django.utils import timezone

from compliance_site.demo import calls, scripts, speech
from recordings.intake.services import recording_ingest
from recordings.models import Consent, LawfulBasis, Purpose, Recipient, Recording, Share
from recordings.sharing.services import share_create, share_ground_problem
from recordings.vault.keys import PersonalData

MARKER_REFERENCE = "REC-DEMO-00001"
CALL_SECONDS = (62.0, 170.0)


def demo_call_ingest(
    n, rng, now, *, subjects, names, queues, purposes, notices, lia, agents, engine
) -> Recording:
    """One call, stored the way the telephony integration stores it (recording_ingest)."""
    started = now - datetime.timedelta(days=rng.uniform(0, 120), seconds=rng.randint(0, 86400))
    basis = rng.choices(
        [
            LawfulBasis.CONSENT,
            LawfulBasis.LEGITIMATE_INTERESTS,
            LawfulBasis.CONTRACT,
            LawfulBasis.LEGAL_OBLIGATION,
        ],
        weights=[50, 30, 15, 5],
    )[0]
    index = rng.randrange(len(subjects))
    subject = subjects[index]
    queue = rng.choice(list(queues.values()))
    agent = rng.choice(agents)
    plan = None
    if basis == LawfulBasis.CONSENT:
        # Every fifth call on consent also asks to share it with a named recipient, so that a
        # consent-based share can be tried in the demo.
        asked = [Purpose.QUALITY_ASSURANCE, "training"] + ([Purpose.SHARING] if n % 5 == 0 else [])
        if rng.random() < 0.6:
            # The IVR asks, a key press answers: 1 gives, 2 refuses (training, now and then).
            decisions = {code: not (code == "training" and rng.random() < 0.3) for code in asked}
            plan = scripts.ConsentPlan(Consent.Method.IVR_KEYPRESS, decisions)
        else:
            # The agent asks and the caller says yes: a verbal consent is only ever a yes.
            plan = scripts.ConsentPlan(Consent.Method.VERBAL_AGENT, {code: True for code in asked})
    # The subject's own card and IBAN, the same on each of their calls.
    own = random.Random(subject.reference)  # noqa: S311 - demo data
    call = scripts.conversation(
        queue=queue.code,
        plan=plan,
        agent_name=agent.first_name,
        caller_name=names[index],
        card=calls.luhn_card_number(own),
        iban=calls.german_iban(own),
        target_seconds=rng.uniform(*CALL_SECONDS),
        seed=n,
        voices={
            calls.IVR: speech.IVR_VOICE,
            calls.AGENT: speech.AGENT_VOICES[agents.index(agent) % len(speech.AGENT_VOICES)],
            calls.CALLER: speech.CALLER_VOICES[index % len(speech.CALLER_VOICES)],
        },
        engine=engine,
    )
    consents = []
    stated = []
    if plan is not None:
        notice = notices[rng.choice(["en", "de"])]
        jurisdiction = rng.choice(["DE", "FR", "NL", "AT", "IE"])
        for code, given in plan.decisions.items():
            answered = datetime.timedelta(seconds=call.answers[code])
            if given:
                stated.append(code)  # a refused purpose is recorded, never served
            consents.append(
                {
                    "purpose": purposes[code],
                    "decision": Consent.Decision.GIVEN if given else Consent.Decision.REFUSED,
                    "method": plan.method,
                    "notice": notice,
                    "captured_by": agent if plan.method == Consent.Method.VERBAL_AGENT else None,
                    "captured_at": started + answered,
                    "evidence_offset": answered,
                    "jurisdiction": jurisdiction,
                }
            )
    else:
        stated = {
            LawfulBasis.LEGITIMATE_INTERESTS: [Purpose.QUALITY_ASSURANCE],
            LawfulBasis.CONTRACT: ["dispute_resolution"],
            LawfulBasis.LEGAL_OBLIGATION: ["legal_compliance"],
        }[basis]
    return recording_ingest(
        audio=io.BytesIO(speech.wav_bytes(call.frames)),
        metadata={
            "reference": MARKER_REFERENCE if n == 1 else f"REC-DEMO-{n:05d}",
            "subject": {"reference": subject.reference, "personal": PersonalData()},
            "agent": agent,
            "queue": queue,
            "direction": Recording.Direction.INBOUND,
            "started_at": started,
            "ended_at": started + datetime.timedelta(seconds=call.seconds),
            "lawful_basis": basis,
            "legitimate_interest_assessment": lia if basis == LawfulBasis.LEGITIMATE_INTERESTS else None,
            "purposes": [purposes[c] for c in stated],
            "consents": consents,
            "sensitive_segments": [
                {
                    "start_seconds": Decimal(str(segment.start_seconds)),
                    "end_seconds": Decimal(str(min(segment.end_seconds, call.seconds))),
                    "kind": segment.kind,
                }
                for segment in call.segments
            ],
            "transcript": {
                "text": call.webvtt(),
                "language": "en",
                "source": f"Demo speech-to-text (WebVTT with word timings; audio: {call.engine})",
            },
        },
        actor_label="seed_demo",
    )


def demo_shares_create(recordings, users) -> list[tuple[str, str]]:
    """Two calls shared with the dispute mediator: one on the caller's consent to sharing, one
    for a legal claim; returns (recording reference, link token) to print."""
    mediator, _ = Recipient.objects.get_or_create(
        name="Schlichtungsstelle Telekommunikation (demo)",
        defaults={"role": Recipient.Role.THIRD_PARTY, "country": "DE"},
    )
    expires = timezone.now() + datetime.timedelta(days=14)
    links = []
    by_consent = next(
        r
        for r in recordings[1:]
        if share_ground_problem(recording=r, ground=Share.Ground.CONSENT, ground_note="") is None
    )
    _, token = share_create(
        recording=by_consent,
        recipient=mediator,
        ground=Share.Ground.CONSENT,
        expires_at=expires,
        actor=users["dpo"],
    )
    links.append((by_consent.reference, token))
    for_claim = next(
        r
        for r in recordings[1:]
        if r.queue.code == "billing" and r.subject_id != by_consent.subject_id and r.status == r.Status.ACTIVE
    )
    _, token = share_create(
        recording=for_claim,
        recipient=mediator,
        ground=Share.Ground.LEGAL_CLAIM,
        ground_note="Mediation case SCH-2026-0412: the caller disputes a double charge.",
        expires_at=expires,
        actor=users["dpo"],
    )
    links.append((for_claim.reference, token))
    return links
