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
import logging
import random
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from compliance_site.demo import calls
from compliance_site.provisioning import provision
from compliance_site.roles import AUDITOR, DPO, PRIVACY_ANALYST, QA_ADMINISTRATOR, QA_LEAD
from compliance_site.site_url import absolute_url
from dsr.demo import demo_seeded
from dsr.demo.calls import MARKER_REFERENCE, demo_call_ingest, demo_shares_create
from dsr.demo.requests import demo_requests_create, demo_responses_send
from dsr.jobs import request_job_run
from dsr.models import RequestJob
from recordings.models import (
    LegitimateInterestAssessment,
    Purpose,
    Queue,
    Recording,
    RecordingNotice,
)
from recordings.services import subject_create
from recordings.vault.keys import PersonalData
from retention.models import LegalHold, RetentionPolicy
from retention.services import hold_place

DEMO_PASSWORD = "custos-demo-2026"  # noqa: S105 - printed for the demo; never used in production
# Enough to fill every list and queue; each call is one to three minutes of 8 kHz audio
# (about 1.5 MB), so more would only make the seed slower.
RECORDING_COUNT = 90
SUBJECT_COUNT = 60

DEMO_USERS = [
    # username, first name, role, description
    ("dpo", "Dana", DPO, "data protection officer"),
    ("dpo2", "Dario", DPO, "second DPO (four-eyes approvals)"),
    ("analyst", "Ana", PRIVACY_ANALYST, "privacy analyst"),
    ("qa.billing", "Bea", QA_LEAD, "QA lead, Billing queue"),
    ("qa.technical", "Tom", QA_LEAD, "QA lead, Technical support queue"),
    ("qa.admin", "Quinn", QA_ADMINISTRATOR, "QA administrator (scorecards)"),
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
        # One log line per stored call is right for the API, noise for ninety demo calls.
        for name in ("recordings.services", "recordings.intake.services"):
            logging.getLogger(name).setLevel(logging.WARNING)
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
        demo_responses_send(users)
        # The apps above dsr add their own demo data (the QA reviews: scorecards, evaluations).
        demo_seeded.send(sender=self.__class__, users=users)
        self.stdout.write("\nShare links (shown once; a recipient opens them without logging in):")
        for reference, token in links:
            self.stdout.write(f"  {reference}: {absolute_url(reverse('share-open'))}#{token}")

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
            demo_call_ingest(
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
        links = demo_shares_create(recordings, users)
        shared = {r.subject_id for r in recordings if r.shares.exists()}
        demo_requests_create(
            rng,
            now,
            [s for s in subjects if s.pk != hold_subject.pk and s.pk not in shared],
            users,
        )
        self.stdout.write(f"Calls synthesised with {engine}.")
        return links
