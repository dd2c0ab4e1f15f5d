"""``manage.py seed_demo``: a believable back office to click through, made idempotently.

Everything is synthetic, with a fixed random seed so that every run produces the same data; a
second run changes nothing. Calls last one to three minutes and sound like speech (espeak-ng when
installed, else formant synthesis in code: ``compliance_site.demo``), with a WebVTT transcript
with word timings, and the card number and IBAN the caller reads out marked as sensitive segments
where they are said. Consents fit their evidence; requests stand in every step of their workflow,
each moved there by the workflow's own services, with their letters; shares open and play.
"""

from __future__ import annotations

import datetime
import io
import logging
import random
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from compliance_site.demo import calls, scripts, speech
from compliance_site.provisioning import provision
from compliance_site.roles import AUDITOR, DPO, PRIVACY_ANALYST, QA_LEAD
from dsr.jobs import request_job_run
from dsr.models import DataSubjectRequest, RequestJob, RequestType
from dsr.rights import RightInput
from dsr.services import request_create
from dsr.workflow import (
    request_approve,
    request_assign,
    request_complete,
    request_extend,
    request_identity_verify,
    request_transition,
)
from recordings.intake.services import recording_ingest
from recordings.models import (
    Consent,
    DataSubject,
    LawfulBasis,
    LegitimateInterestAssessment,
    Purpose,
    Queue,
    Recipient,
    Recording,
    RecordingNotice,
    RestrictionGround,
    Share,
)
from recordings.services import subject_create
from recordings.sharing.services import share_create, share_ground_problem
from recordings.vault.keys import PersonalData
from retention.models import LegalHold, RetentionPolicy
from retention.services import hold_place

DEMO_PASSWORD = "custos-demo-2026"  # noqa: S105 - printed for the demo; never used in production
MARKER_REFERENCE = "REC-DEMO-00001"
# Enough to fill every list and queue; each call is one to three minutes of 8 kHz audio
# (about 1.5 MB), so more would only make the seed slower.
RECORDING_COUNT = 90
SUBJECT_COUNT = 60
CALL_SECONDS = (62.0, 170.0)

DEMO_USERS = [
    # username, first name, role, description
    ("dpo", "Dana", DPO, "data protection officer"),
    ("dpo2", "Dario", DPO, "second DPO (four-eyes approvals)"),
    ("analyst", "Ana", PRIVACY_ANALYST, "privacy analyst"),
    ("qa.billing", "Bea", QA_LEAD, "QA lead, Billing queue"),
    ("qa.technical", "Tom", QA_LEAD, "QA lead, Technical support queue"),
    ("auditor", "Aud", AUDITOR, "auditor (read-only)"),
]

# The call centre's agents: no staff access (no password, not staff), named on their calls and on
# the consents they asked for.
AGENTS = [("agent.mila", "Mila"), ("agent.jonas", "Jonas"), ("agent.sara", "Sara")]

QUEUES = [
    ("billing", "Billing", "Invoices, payments and refunds."),
    ("technical-support", "Technical support", "Connectivity and device problems."),
    ("sales", "Sales", "New contracts and upgrades."),
]

PURPOSES = [
    (Purpose.QUALITY_ASSURANCE, "Quality assurance", "Reviewing calls to improve service quality."),
    ("training", "Agent training", "Using calls to train new support agents."),
    ("dispute_resolution", "Dispute resolution", "Evidence of what was agreed on a call."),
    (Purpose.SHARING, "Sharing with third parties", "Giving a recording to a named recipient."),
    ("legal_compliance", "Legal record-keeping", "Recording required by law (e.g. contract orders)."),
]

# purpose code -> (keep days, disposition review)
POLICIES = {
    Purpose.QUALITY_ASSURANCE: (90, False),
    "training": (180, True),
    "dispute_resolution": (365, False),
    "legal_compliance": (1825, False),
}

FIRST_NAMES = [
    "Lena",
    "Jonas",
    "Marie",
    "Luca",
    "Sofia",
    "Noah",
    "Emma",
    "Elias",
    "Mia",
    "Paul",
    "Clara",
    "Finn",
    "Hanna",
    "Felix",
    "Ida",
    "Karl",
    "Nora",
    "Oskar",
    "Greta",
    "Theo",
]
LAST_NAMES = [
    "Schmidt",
    "Dubois",
    "Rossi",
    "Novak",
    "Jansen",
    "Kowalski",
    "García",
    "Nielsen",
    "Müller",
    "Lefèvre",
    "Bianchi",
    "Horvat",
    "de Vries",
    "Svensson",
    "Costa",
]


class Command(BaseCommand):
    help = "Create the demo users, queues, purposes, recordings, consents, requests and holds (idempotent)."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            # The demo's accounts (a DPO and an auditor among them) share a published password.
            raise CommandError(
                "seed_demo creates staff accounts with the published demo password; "
                "it refuses to run with CUSTOS_ENV=production."
            )
        # One log line per stored call is right for the API, noise for three hundred demo calls.
        logging.getLogger("recordings.services").setLevel(logging.WARNING)
        provision()
        users = self._users()
        if Recording.objects.filter(reference=MARKER_REFERENCE).exists():
            self.stdout.write("Demo data already present; users are up to date.")
        else:
            self._seed(users)
            self.stdout.write(self.style.SUCCESS(f"Seeded {RECORDING_COUNT} recordings."))
        self._print_logins()

    # --- users -------------------------------------------------------------------------------

    @transaction.atomic
    def _users(self) -> dict[str, Any]:
        User = get_user_model()
        users: dict[str, Any] = {}
        for username, first_name, role, _ in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": first_name, "email": f"{username}@custos.example", "is_staff": True},
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            user.groups.add(Group.objects.get(name=role))
            users[username] = user
        agents = []
        for username, first_name in AGENTS:
            agent, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first_name, "is_staff": False}
            )
            if created:
                agent.set_unusable_password()
                agent.save()
            agents.append(agent)
        users["agents"] = agents
        return users

    def _print_logins(self) -> None:
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
        for username, _, _, description in DEMO_USERS:
            self.stdout.write(f"  {username:<14} {description}")
        if settings.CUSTOS_REQUIRE_2FA:
            self.stdout.write(
                "\nTwo-factor login is on: at their first login each user scans a QR code with an "
                "authenticator app,\nconfirms one code and keeps ten recovery codes. Lost phone: "
                "manage.py reset_second_factor USER --by ADMIN --reason '...'"
            )
        else:
            self.stdout.write(
                "\nTwo-factor login is off in the demo (it is always on in production). "
                "To try it: CUSTOS_REQUIRE_2FA=1 make demo"
            )

    # --- data --------------------------------------------------------------------------------

    def _seed(self, users: dict) -> None:
        """Everything in one transaction (all or nothing: a second run then finds the marker or
        starts over); the request jobs (package builds, the approved erasure) then run here, as
        the worker would, once their requests have committed."""
        with transaction.atomic():
            links = self._seed_data(users)
        for job_id in RequestJob.objects.filter(state=RequestJob.State.QUEUED).values_list("pk", flat=True):
            request_job_run(job_id=job_id)
        site = getattr(settings, "CUSTOS_SITE_URL", "") or "http://127.0.0.1:8000"
        self.stdout.write("\nShare links (shown once; a recipient opens them without logging in):")
        for reference, token in links:
            self.stdout.write(f"  {reference}: {site.rstrip('/')}{reverse('share-open')}#{token}")

    def _seed_data(self, users: dict) -> list[tuple[str, str]]:
        rng = random.Random(2026)  # noqa: S311 - demo data, not security
        now = timezone.now()
        queues = {
            code: Queue.objects.get_or_create(code=code, defaults={"name": name, "description": d})[0]
            for code, name, d in QUEUES
        }
        assign_perm("recordings.review_queue", users["qa.billing"], queues["billing"])
        assign_perm("recordings.review_queue", users["qa.technical"], queues["technical-support"])
        purposes = {
            code: Purpose.objects.get_or_create(code=code, defaults={"name": name, "description": d})[0]
            for code, name, d in PURPOSES
        }
        for code, (days, review) in POLICIES.items():
            RetentionPolicy.objects.get_or_create(
                purpose=purposes[code], defaults={"keep_days": days, "disposition_review": review}
            )
        notices = {
            lang: RecordingNotice.objects.get_or_create(
                version="2026.1",
                language=lang,
                defaults={"text": text, "published_at": now - datetime.timedelta(days=200)},
            )[0]
            for lang, text in [
                (
                    "en",
                    "This call is recorded for quality assurance and training, stored in the EU "
                    "for up to 90 days. Press 1 to agree; you may withdraw at any time.",
                ),
                (
                    "de",
                    "Dieses Gespräch wird zur Qualitätssicherung und Schulung aufgezeichnet und "
                    "bis zu 90 Tage in der EU gespeichert. Drücken Sie 1, um zuzustimmen.",
                ),
            ]
        }
        lia = LegitimateInterestAssessment.objects.create(
            title="QA review of support calls",
            balancing_summary="Reviewing a small sample of calls improves service; callers are told "
            "at the start of the call, can object at any time, and audio is muted for payment data.",
            approved_by=users["dpo"],
            approved_at=now - datetime.timedelta(days=180),
        )
        lia.purposes.set([purposes[Purpose.QUALITY_ASSURANCE]])

        names = [f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" for _ in range(SUBJECT_COUNT)]
        subjects = [
            subject_create(
                personal=PersonalData(
                    full_name=names[n],
                    phone=f"+49 30 {rng.randint(2000000, 9999999)}",
                    email=f"caller{n:03d}@example.org",
                ),
                reference=f"DS-{uuid.UUID(int=rng.getrandbits(128)).hex[:10].upper()}",
            )[0]
            for n in range(SUBJECT_COUNT)
        ]
        engine = calls.choose_engine()
        recordings = [
            self._recording(
                n,
                rng,
                now,
                subjects=subjects,
                names=names,
                queues=queues,
                purposes=purposes,
                notices=notices,
                lia=lia,
                agents=users["agents"],
                engine=engine,
            )
            for n in range(1, RECORDING_COUNT + 1)
        ]
        hold_subject = recordings[0].subject
        hold = LegalHold(
            scope=LegalHold.Scope.SUBJECT,
            subject=hold_subject,
            case_reference="CASE-2026-014",
            reason="Customer dispute over a cancelled contract; keep every call until settled.",
        )
        hold_place(hold=hold, placed_by=users["dpo"])
        links = self._shares(recordings, users)
        shared = {r.subject_id for r in recordings if r.shares.exists()}
        self._requests(
            rng,
            now,
            [s for s in subjects if s.pk != hold_subject.pk and s.pk not in shared],
            users,
        )
        self.stdout.write(f"Calls synthesised with {engine}.")
        return links

    def _recording(self, n, rng, now, *, subjects, names, queues, purposes, notices, lia, agents, engine):
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

    def _shares(self, recordings, users) -> list[tuple[str, str]]:
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
            if r.queue.code == "billing"
            and r.subject_id != by_consent.subject_id
            and r.status == r.Status.ACTIVE
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

    # --- requests, each moved along its workflow by the workflow's services ----------------------

    def _requests(self, rng, now, subjects: list[DataSubject], users) -> None:
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
            new(
                kind, rng.randint(0, 3), subject=kind != RequestType.ACCESS, language="de" if german else "en"
            )
            # Identity pending: the requester was asked for proof.
            request_transition(
                dsr=new(kind, rng.randint(2, 12)), to=DataSubjectRequest.Status.IDENTITY_PENDING, actor=dpo
            )
            # In progress, with the analyst; one of them long overdue.
            request_assign(dsr=verified(new(kind, rng.randint(5, 40))), assignee=analyst, actor=dpo)
            # Withdrawn by the subject.
            request_transition(
                dsr=new(kind, rng.randint(10, 40)),
                to=DataSubjectRequest.Status.WITHDRAWN,
                outcome="The subject withdrew the request by email.",
                actor=dpo,
            )
            if kind in refusals:
                request_transition(
                    dsr=new(kind, rng.randint(10, 40)),
                    to=DataSubjectRequest.Status.REFUSED,
                    refusal_ground=refusals[kind],
                    outcome="Refused; the ground and the right to complain were stated to the subject.",
                    actor=dpo,
                )
            # Completed: the right carried out (long rights by their job, run after the commit).
            source = consenting if kind == RequestType.CONSENT_WITHDRAWAL else None
            for _ in range(3 if kind == RequestType.CONSENT_WITHDRAWAL else 1):
                dsr = verified(
                    new(kind, rng.randint(3, 25), language="de" if german else "en", source=source)
                )
                if kind == RequestType.ERASURE:
                    self._erasure_approved(dsr, dpo, dpo2)
                else:
                    given = quick_inputs[kind](dsr) if kind in quick_inputs else None
                    request_complete(dsr=dsr, actor=dpo, given=given)
        # Awaiting approval: an erasure prepared by one DPO, for the other to approve.
        request_transition(
            dsr=verified(new(RequestType.ERASURE, 6, language="de")),
            to=DataSubjectRequest.Status.AWAITING_APPROVAL,
            actor=dpo,
        )
        # An extension (Art. 12(3)), notified by letter before the original deadline.
        extended = verified(new(RequestType.ACCESS, 20))
        request_extend(
            dsr=extended,
            until=timezone.localdate(extended.due_at) + datetime.timedelta(days=30),
            reason="Twelve recordings over three years to review; the subject was told why.",
            actor=dpo,
        )
        self._seed_ready_to_send(new, verified, dpo)

    @staticmethod
    def _erasure_approved(dsr, dpo, dpo2) -> None:
        """Four eyes: one DPO prepares, the other approves; the erasure job runs after the commit."""
        request_transition(dsr=dsr, to=DataSubjectRequest.Status.AWAITING_APPROVAL, actor=dpo)
        request_approve(dsr=dsr, actor=dpo2)

    @staticmethod
    def _seed_ready_to_send(new, verified, dpo) -> None:
        """An access request whose package is built but not yet sent, where the workflow has that
        step ("ready to send"): its package job, run after the commit, stops there."""
        if "ready_to_send" not in DataSubjectRequest.Status.values:
            return
        request_complete(dsr=verified(new(RequestType.ACCESS, 8)), actor=dpo)
