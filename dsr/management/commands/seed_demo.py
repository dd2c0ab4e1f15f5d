"""``manage.py seed_demo``: a believable back office to click through, made idempotently.

Everything is synthetic and generated in code (the audio is a few seconds of tones), with a fixed
random seed so that every run produces the same data. A second run changes nothing.
"""

from __future__ import annotations

import array
import datetime
import functools
import io
import logging
import math
import random
import sys
import uuid
import wave
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from compliance_site.provisioning import provision
from compliance_site.roles import AUDITOR, DPO, PRIVACY_ANALYST, QA_LEAD
from dsr.letters import letter_write
from dsr.models import DataSubjectRequest, RequestJob, RequestNote, RequestType, ResponseLetter
from dsr.services import request_create
from recordings.intake.services import recording_ingest
from recordings.models import (
    Consent,
    LawfulBasis,
    LegitimateInterestAssessment,
    Purpose,
    Queue,
    Recording,
    RecordingNotice,
)
from recordings.services import consent_withdraw, subject_create
from recordings.vault.keys import PersonalData
from retention.models import LegalHold, RetentionPolicy
from retention.services import hold_place

DEMO_PASSWORD = "custos-demo-2026"  # noqa: S105 - printed for the demo; never used in production
MARKER_REFERENCE = "REC-DEMO-00001"
RECORDING_COUNT = 300
SUBJECT_COUNT = 120

DEMO_USERS = [
    # username, first name, role, description
    ("dpo", "Dana", DPO, "data protection officer"),
    ("dpo2", "Dario", DPO, "second DPO (four-eyes approvals)"),
    ("analyst", "Ana", PRIVACY_ANALYST, "privacy analyst"),
    ("qa.billing", "Bea", QA_LEAD, "QA lead, Billing queue"),
    ("qa.technical", "Tom", QA_LEAD, "QA lead, Technical support queue"),
    ("auditor", "Aud", AUDITOR, "auditor (read-only)"),
]

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


@functools.lru_cache(maxsize=64)
def _tone(freq: int, samples: int, rate: int) -> bytes:
    """Little-endian 16-bit PCM of one sine tone (WAV is little-endian)."""
    wave_samples = array.array(
        "h", (int(8000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(samples))
    )
    if sys.byteorder == "big":
        wave_samples.byteswap()
    return wave_samples.tobytes()


def synthetic_call_audio(rng: random.Random, seconds: float = 2.0, rate: int = 8000) -> bytes:
    """A short PCM WAV (8 kHz mono, the telephony norm) of four tones."""
    segment = int(seconds * rate) // 4
    frames = b"".join(
        _tone(rng.choice([350, 440, 480, 620, 697, 770, 852, 941]), segment, rate) for _ in range(4)
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return buffer.getvalue()


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
        users = {}
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

    @transaction.atomic
    def _seed(self, users: dict) -> None:
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

        subjects = [
            subject_create(
                personal=PersonalData(
                    full_name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                    phone=f"+49 30 {rng.randint(2000000, 9999999)}",
                    email=f"caller{n:03d}@example.org",
                ),
                reference=f"DS-{uuid.UUID(int=rng.getrandbits(128)).hex[:10].upper()}",
            )[0]
            for n in range(SUBJECT_COUNT)
        ]
        agents = [users["dpo"]]  # the demo has no agent accounts; consents captured by IVR mostly
        recordings = []
        for n in range(1, RECORDING_COUNT + 1):
            recordings.append(self._recording(n, rng, now, subjects, queues, purposes, notices, lia, agents))
        self._requests(rng, now, subjects, users)
        self._withdrawal(recordings, users)
        hold = LegalHold(
            scope=LegalHold.Scope.SUBJECT,
            subject=recordings[0].subject,
            case_reference="CASE-2026-014",
            reason="Customer dispute over a cancelled contract; keep every call until settled.",
        )
        hold_place(hold=hold, placed_by=users["dpo"])

    def _recording(self, n, rng, now, subjects, queues, purposes, notices, lia, agents):
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
        # Every fifth call on consent also asks to share it with a named recipient, so that a
        # consent-based share can be tried in the demo (no draw from rng: the rest stays the same).
        consent_codes = [Purpose.QUALITY_ASSURANCE, "training"] + ([Purpose.SHARING] if n % 5 == 0 else [])
        codes = {
            LawfulBasis.CONSENT: consent_codes,
            LawfulBasis.LEGITIMATE_INTERESTS: [Purpose.QUALITY_ASSURANCE],
            LawfulBasis.CONTRACT: ["dispute_resolution"],
            LawfulBasis.LEGAL_OBLIGATION: ["legal_compliance"],
        }[basis]
        consents, stated = [], list(codes)
        if basis == LawfulBasis.CONSENT:
            notice = notices[rng.choice(["en", "de"])]
            for code in codes:
                refused = code == "training" and rng.random() < 0.3
                if refused:
                    stated.remove(code)  # a refused purpose is recorded, never served
                consents.append(
                    {
                        "purpose": purposes[code],
                        "decision": Consent.Decision.REFUSED if refused else Consent.Decision.GIVEN,
                        "method": rng.choice([Consent.Method.IVR_KEYPRESS, Consent.Method.VERBAL_AGENT]),
                        "notice": notice,
                        "captured_by": rng.choice(agents) if rng.random() < 0.5 else None,
                        "captured_at": started + datetime.timedelta(seconds=5),
                        "evidence_offset": datetime.timedelta(seconds=rng.randint(3, 25)),
                        "jurisdiction": rng.choice(["DE", "FR", "NL", "AT", "IE"]),
                    }
                )
        subject = rng.choice(subjects)
        recording = recording_ingest(
            audio=io.BytesIO(synthetic_call_audio(rng, seconds=rng.choice([1.5, 2.0, 3.0]))),
            metadata={
                "reference": MARKER_REFERENCE if n == 1 else f"REC-DEMO-{n:05d}",
                "subject": {"reference": subject.reference, "personal": PersonalData()},
                "queue": rng.choice(list(queues.values())),
                "direction": rng.choice(Recording.Direction.values),
                "started_at": started,
                "ended_at": started + datetime.timedelta(seconds=rng.randint(40, 1800)),
                "lawful_basis": basis,
                "legitimate_interest_assessment": lia if basis == LawfulBasis.LEGITIMATE_INTERESTS else None,
                "purposes": [purposes[c] for c in stated],
                "consents": consents,
            },
            actor_label="seed_demo",
        )
        for consent in recording.consents.filter(decision=Consent.Decision.GIVEN):
            if rng.random() < 0.1:
                consent.withdrawn_at = min(now, started + datetime.timedelta(days=rng.randint(1, 20)))
                consent.withdrawn_via = rng.choice([Consent.Channel.PHONE, Consent.Channel.EMAIL])
                consent.save(update_fields=["withdrawn_at", "withdrawn_via"])
        return recording

    def _withdrawal(self, recordings, users) -> None:
        """One caller withdrew their consent by email: the DPO recorded it, so the call left the
        QA lead's list and its retention ends at the next sweep (its story is on its page)."""
        consent = (
            Consent.objects.filter(
                recording__in=[r for r in recordings if r.lawful_basis == LawfulBasis.CONSENT],
                decision=Consent.Decision.GIVEN,
            )
            .order_by("pk")
            .first()
        )
        if consent is not None:
            consent_withdraw(consent=consent, via=Consent.Channel.EMAIL, actor=users["dpo"])

    def _requests(self, rng, now, subjects, users) -> None:
        """Requests of every type and status, due from overdue to next month."""
        Status = DataSubjectRequest.Status
        statuses = [
            Status.NEW,
            Status.IDENTITY_PENDING,
            Status.IN_PROGRESS,
            Status.AWAITING_APPROVAL,
            Status.EXECUTING,
            Status.READY_TO_SEND,
            Status.COMPLETED,
            Status.REFUSED,
            Status.WITHDRAWN,
        ]
        # Being carried out only where a worker builds a package (dsr.jobs); not an erasure,
        # which the demo has nobody to approve.
        job_kinds: dict[str, RequestJob.Kind] = {
            RequestType.ACCESS: RequestJob.Kind.PACKAGE,
            RequestType.PORTABILITY: RequestJob.Kind.PACKAGE,
        }
        n = 0
        for request_type in RequestType.values:
            for status in statuses:
                if status in (Status.EXECUTING, Status.READY_TO_SEND) and request_type not in job_kinds:
                    continue
                if status == Status.AWAITING_APPROVAL and request_type != RequestType.ERASURE:
                    continue  # only an erasure waits for a second DPO (dsr_awaiting_approval_prepared)
                n += 1
                received = now - datetime.timedelta(days=rng.randint(0, 45), hours=rng.randint(0, 23))
                subject = rng.choice(subjects)
                assignee = users["analyst"] if n % 2 else None
                dsr = request_create(
                    request_type=request_type,
                    channel=rng.choice(DataSubjectRequest.Channel.values),
                    received_at=received,
                    subject=subject,
                    assignee=assignee,
                )
                if assignee is not None:
                    assign_perm("recordings.view_datasubject", assignee, subject)
                if status != Status.NEW:
                    dsr.identity_method = DataSubjectRequest.IdentityMethod.CALLER_NUMBER
                    dsr.identity_note = "Caller number matched the number on file."
                    if status != Status.IDENTITY_PENDING:
                        dsr.identity_verified_by = users["dpo"]
                        dsr.identity_verified_at = received + datetime.timedelta(hours=2)
                dsr.status = status
                if status == Status.AWAITING_APPROVAL:
                    dsr.prepared_by = users["dpo"]  # so dpo2 approves it: four eyes
                if status == Status.READY_TO_SEND:
                    dsr.executed_at = min(now, received + datetime.timedelta(days=2))
                    dsr.outcome = "Package built; to be sent to the subject."
                if status in (Status.COMPLETED, Status.REFUSED, Status.WITHDRAWN):
                    dsr.closed_at = min(now, received + datetime.timedelta(days=rng.randint(1, 20)))
                    dsr.outcome = {
                        Status.COMPLETED: "Answered in full.",
                        Status.REFUSED: "Refused; ground stated to the subject.",
                        Status.WITHDRAWN: "The subject withdrew the request.",
                    }[status]
                if status == Status.REFUSED:
                    dsr.refusal_ground = DataSubjectRequest.RefusalGround.EXCESSIVE
                dsr.save()
                if status == Status.READY_TO_SEND:
                    letter_write(dsr=dsr, kind=ResponseLetter.Kind.OUTCOME, actor=users["dpo"])
                if status == Status.EXECUTING:
                    # A job that failed, for the DPO to see the reason and retry it.
                    RequestJob.objects.create(
                        request=dsr,
                        kind=job_kinds[request_type],
                        state=RequestJob.State.FAILED,
                        requested_by=users["dpo"],
                        attempts=1,
                        failure_reason="OSError: the storage did not answer (a seeded example)",
                        started_at=now,
                        finished_at=now,
                    )
                if n % 3 == 0:
                    RequestNote.objects.create(
                        request=dsr,
                        author=users["dpo"],
                        body="Called back; the subject confirmed the request.",
                    )
