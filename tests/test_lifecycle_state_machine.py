"""Random lives of recordings against an independent model of the law (issue 16, "Done when").

Hypothesis plays random sequences of what happens to calls and their callers: a call comes in
(with consent, on legitimate interests, or on a contract), a consent is withdrawn, an objection
upheld, a retention policy changed, a legal hold placed or released, a restriction placed or
lifted, an erasure requested and approved, held erasures confirmed, time passes, beat runs the
sweep. Each step goes through Custos's own services (the DSR workflow, the ingest, the sweep and
beat's tasks, run eagerly with their on-commit callbacks) with the clock moved for all of them
(time-machine). ``LawModel`` keeps its own account of what the GDPR asks of each recording; after
every step the database must agree with it:

- nothing under a legal hold or a restriction is deleted;
- nothing is deleted before its lawful keep-until, unless an erasure asked for it;
- right after a sweep, nothing is kept past every lawful keep-until unless held, restricted or
  waiting for a confirmed erasure's grace;
- every erasure deferred by a hold is carried out once its last hold is gone and the grace period
  has passed (or a second DPO confirmed it);
- the keep-until Custos stores is the one the model computes (derived state follows its inputs).

The model is written from the rules as the README states them, not from the code: where the two
disagree, one of them is wrong.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core import mail
from django.db import transaction
from django.test import TestCase
from django.utils import timezone
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from compliance_site.roles import DPO
from dsr.models import DeadlineReminder
from recordings.models import DataSubject, LegitimateInterestAssessment, Objection, Recording
from recordings.selectors import subject_matching
from recordings.services import consents_withdraw_for, objection_decide
from retention.models import LegalHold, RetentionPolicy
from retention.services import hold_place, hold_release, retention_sweep
from tests import lifecycle_steps as steps
from tests.factories import PurposeFactory, QueueFactory, RecordingNoticeFactory, UserFactory
from tests.request_jobs import celery_eager

# CUSTOS_LIFECYCLE_EXAMPLES=300 explores further; CUSTOS_LIFECYCLE_NO_SHRINK=1 reports a failure at
# once instead of spending minutes shrinking it.
EXAMPLES = int(os.environ.get("CUSTOS_LIFECYCLE_EXAMPLES", 40))
PHASES = (
    [Phase.explicit, Phase.reuse, Phase.generate]
    if os.environ.get("CUSTOS_LIFECYCLE_NO_SHRINK")
    else list(Phase)
)
START = datetime.datetime(2027, 3, 1, 9, 0, tzinfo=datetime.UTC)
PURPOSES = ("quality_assurance", "training")
BASES = ("consent", "legitimate_interests", "contract")
PHONES = ("+49 30 1000001", "+49 30 1000002")


@dataclass
class CallModel:
    """What the model knows of one call."""

    pk: int
    phone: str
    subject_id: int
    started_at: datetime.datetime
    basis: str
    purposes: frozenset[str]
    consent_withdrawn: set[str] = field(default_factory=set)
    keep_until: datetime.datetime | None = None
    restricted_by_request: bool = False
    erasure_deferred: bool = False  # an erasure waits for the holds on it
    erasure_due_at: datetime.datetime | None = None  # the last hold went: erased after the grace
    erased: bool = False


@dataclass
class LawModel:
    """The law's account of every call, independent of Custos's code."""

    days: dict[str, int]
    calls: dict[int, CallModel] = field(default_factory=dict)
    objections: set[tuple[int, str]] = field(default_factory=set)  # (subject id, purpose) upheld
    holds: dict[int, int] = field(default_factory=dict)  # active hold id -> subject id
    restricted_subjects: set[int] = field(default_factory=set)
    open_requests: dict[int, datetime.date] = field(default_factory=dict)  # request id -> due date

    def held(self, call: CallModel) -> bool:
        return call.subject_id in self.holds.values()

    def lawful_purposes(self, call: CallModel) -> set[str]:
        if call.basis == "consent":
            return set(call.purposes - call.consent_withdrawn)
        if call.basis == "legitimate_interests":
            return {p for p in call.purposes if (call.subject_id, p) not in self.objections}
        return set(call.purposes)

    def recompute(self, call: CallModel, now: datetime.datetime) -> None:
        """keep-until: the longest period among the purposes still lawful; when none is, it ends
        now (or earlier, if it already had)."""
        lawful = self.lawful_purposes(call)
        if lawful:
            call.keep_until = call.started_at + datetime.timedelta(days=max(self.days[p] for p in lawful))
        else:
            call.keep_until = min(now, call.keep_until or now)

    def recompute_all(self, now: datetime.datetime) -> None:
        for call in self.live():
            self.recompute(call, now)

    def live(self) -> list[CallModel]:
        return [call for call in self.calls.values() if not call.erased]

    def protected(self, call: CallModel) -> bool:
        """Under a hold, a restriction or an erasure deferred by a hold: never swept."""
        return self.held(call) or call.restricted_by_request or call.erasure_deferred

    def expected_status(self, call: CallModel) -> str:
        if call.erased:
            return Recording.Status.ERASED
        if call.restricted_by_request or call.erasure_deferred:
            return Recording.Status.RESTRICTED
        return Recording.Status.ACTIVE


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.traveller = time_machine.travel(START, tick=False)
        self.clock = self.traveller.start()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.eager = celery_eager()
        self.eager.__enter__()
        mail.outbox = []
        steps.FlakyMailBackend.refusals = 0

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)
        self.eager.__exit__(None, None, None)
        self.traveller.stop()

    # --- the world before the first call ------------------------------------------------------

    @initialize(qa_days=st.sampled_from([30, 180]), training_days=st.sampled_from([10, 90]))
    def open_for_business(self, qa_days: int, training_days: int) -> None:
        self.dpo = UserFactory(username="dpo", groups=[self.roles[DPO]])
        self.dpo2 = UserFactory(username="dpo2", groups=[self.roles[DPO]])
        self.notice = RecordingNoticeFactory(version="2026.1", language="en")
        self.queue = QueueFactory(code="billing", name="Billing")
        self.purposes = {code: PurposeFactory(code=code, name=code.replace("_", " ")) for code in PURPOSES}
        for code, days in (("quality_assurance", qa_days), ("training", training_days)):
            purpose = self.purposes[code]
            self.run(
                lambda purpose=purpose, days=days: RetentionPolicy.objects.create(
                    purpose=purpose, keep_days=days
                )
            )
        self.assessment = LegitimateInterestAssessment.objects.create(
            title="Call quality",
            balancing_summary="Balanced.",
            approved_by=self.dpo,
            approved_at=timezone.now(),
        )
        self.assessment.purposes.set(self.purposes.values())
        self.model = LawModel(days={"quality_assurance": qa_days, "training": training_days})
        self.grace_days = django_settings.CUSTOS_HELD_ERASURE_GRACE_DAYS

    def now(self) -> datetime.datetime:
        return timezone.now()

    def run(self, work):
        """One step as Custos runs it: committed, with what it queued on commit run (eagerly)."""
        with TestCase.captureOnCommitCallbacks(execute=True):
            return work()

    def subject_of(self, phone: str) -> int | None:
        match = subject_matching(phone=phone).first()
        return match.pk if match is not None else None

    # --- what happens ---------------------------------------------------------------------------

    @rule(
        phone=st.sampled_from(PHONES),
        basis=st.sampled_from(BASES),
        purposes=st.sets(st.sampled_from(PURPOSES), min_size=1),
    )
    def a_call_comes_in(self, phone: str, basis: str, purposes: set[str]) -> None:
        started = self.now() - datetime.timedelta(hours=1)
        recording = self.run(
            lambda: steps.ingest(self, phone=phone, basis=basis, purposes=purposes, started=started)
        )
        call = CallModel(
            pk=recording.pk,
            phone=phone,
            subject_id=recording.subject_id,
            started_at=started,
            basis=basis,
            purposes=frozenset(purposes),
            # Art. 18: a restriction reaches the subject's later calls.
            restricted_by_request=recording.subject_id in self.model.restricted_subjects,
        )
        self.model.calls[call.pk] = call
        self.model.recompute(call, self.now())

    @rule(phone=st.sampled_from(PHONES), purpose=st.sampled_from(PURPOSES))
    def consent_withdrawn(self, phone: str, purpose: str) -> None:
        subject_id = self.subject_of(phone)
        if subject_id is None:
            return
        subject = DataSubject.objects.get(pk=subject_id)
        self.run(lambda: consents_withdraw_for(subject=subject, purpose=self.purposes[purpose], via="phone"))
        for call in self.model.live():
            if call.subject_id == subject_id and call.basis == "consent" and purpose in call.purposes:
                call.consent_withdrawn.add(purpose)
                self.model.recompute(call, self.now())

    @rule(phone=st.sampled_from(PHONES), purpose=st.sampled_from(PURPOSES))
    def objection_upheld(self, phone: str, purpose: str) -> None:
        subject_id = self.subject_of(phone)
        if subject_id is None or (subject_id, purpose) in self.model.objections:
            return

        def uphold():
            objection = Objection.objects.create(
                subject_id=subject_id, purpose=self.purposes[purpose], received_at=self.now()
            )
            objection_decide(
                objection=objection, decision=Objection.Decision.UPHELD, actor=self.dpo, reason=""
            )

        self.run(uphold)
        self.model.objections.add((subject_id, purpose))
        for call in self.model.live():
            if call.subject_id == subject_id:
                self.model.recompute(call, self.now())

    @rule(purpose=st.sampled_from(PURPOSES), days=st.sampled_from([5, 30, 90, 400]))
    def policy_changed(self, purpose: str, days: int) -> None:
        self.run(lambda: steps.policy_change(self, purpose=self.purposes[purpose], days=days))
        self.model.days[purpose] = days
        self.model.recompute_all(self.now())

    @rule(phone=st.sampled_from(PHONES))
    def hold_placed(self, phone: str) -> None:
        subject_id = self.subject_of(phone)
        if subject_id is None:
            return
        hold = LegalHold(
            scope=LegalHold.Scope.SUBJECT, subject_id=subject_id, case_reference="CASE-1", reason="Claim."
        )
        self.run(lambda: hold_place(hold=hold, placed_by=self.dpo))
        self.model.holds[hold.pk] = subject_id
        for call in self.model.live():
            if call.subject_id == subject_id and call.erasure_due_at is not None:
                call.erasure_due_at = None  # held again: the erasure waits again

    @precondition(lambda self: self.model.holds)
    @rule(data=st.data())
    def hold_released(self, data) -> None:
        hold_id = data.draw(st.sampled_from(sorted(self.model.holds)))
        hold = LegalHold.objects.get(pk=hold_id)
        self.run(lambda: hold_release(hold=hold, released_by=self.dpo, reason="Case closed."))
        subject_id = self.model.holds.pop(hold_id)
        for call in self.model.live():
            if call.subject_id == subject_id and call.erasure_deferred and not self.model.held(call):
                call.erasure_due_at = self.now() + datetime.timedelta(days=self.grace_days)

    @precondition(lambda self: self.model.holds)
    @rule(data=st.data())
    def the_case_is_closed(self, data) -> None:
        """Holds are released as often as they are placed."""
        self.hold_released(data)

    @rule(phone=st.sampled_from(PHONES))
    def restriction_requested(self, phone: str) -> None:
        subject_id = self.subject_of(phone)
        if subject_id is None:
            return
        self.run(lambda: steps.restriction_request(self, subject_id=subject_id))
        self.model.restricted_subjects.add(subject_id)
        for call in self.model.live():
            if call.subject_id == subject_id:
                call.restricted_by_request = True

    @precondition(lambda self: self.model.restricted_subjects)
    @rule(data=st.data())
    def restriction_lifted(self, data) -> None:
        subject_id = data.draw(st.sampled_from(sorted(self.model.restricted_subjects)))
        self.run(lambda: steps.restriction_lift(self, subject_id=subject_id))
        self.model.restricted_subjects.discard(subject_id)
        for call in self.model.live():
            if call.subject_id == subject_id:
                call.restricted_by_request = False
                self.model.recompute(call, self.now())

    @rule(phone=st.sampled_from(PHONES), asked=st.integers(min_value=0, max_value=3))
    def erasure_approved(self, phone: str, asked: int) -> None:
        """A caller asks for erasure (one draw in four: it ends most of what the others build)."""
        subject_id = self.subject_of(phone)
        if subject_id is None or asked:
            return
        self.run(lambda: steps.erasure_request(self, subject_id=subject_id))
        self.model.restricted_subjects.discard(subject_id)
        for call in self.model.live():
            if call.subject_id != subject_id:
                continue
            call.restricted_by_request = False
            if self.model.held(call):
                call.erasure_deferred = True
                call.erasure_due_at = None
            else:
                call.erased = True

    @precondition(lambda self: any(not call.erased for call in self.model.calls.values()))
    @rule(data=st.data())
    def a_caller_under_a_hold_asks_for_erasure(self, data) -> None:
        """The combination the law cares most about: a hold meets an erasure (Art. 17(3)(e))."""
        call = data.draw(st.sampled_from(sorted(self.model.live(), key=lambda c: c.pk)))
        phone = call.phone
        if self.subject_of(phone) != call.subject_id:
            return  # the caller's personal data is gone: nothing to place a hold on
        if call.subject_id not in self.model.holds.values():
            self.hold_placed(phone=phone)
        self.erasure_approved(phone=phone, asked=0)

    @precondition(lambda self: any(c.erasure_due_at for c in self.model.live()))
    @rule()
    def held_erasures_confirmed(self) -> None:
        due = [call.pk for call in self.model.live() if call.erasure_due_at is not None]
        self.run(lambda: steps.held_erasures_confirm(self, recording_ids=due))
        for pk in due:
            self.model.calls[pk].erased = True

    @rule(phone=st.sampled_from(PHONES))
    def an_access_request_waits(self, phone: str) -> None:
        subject_id = self.subject_of(phone)
        if subject_id is None:
            return
        dsr = self.run(lambda: steps.access_request_file(self, subject_id=subject_id))
        received = timezone.localdate(dsr.received_at)
        self.model.open_requests[dsr.pk] = received + datetime.timedelta(days=django_settings.DSR_PERIOD_DAYS)

    @rule(refusals=st.integers(min_value=1, max_value=3))
    def the_mail_server_refuses(self, refusals: int) -> None:
        steps.FlakyMailBackend.refusals = refusals

    @rule(days=st.sampled_from([1, 7, 15, 31, 95, 400]))
    def time_passes(self, days: int) -> None:
        self.clock.shift(datetime.timedelta(days=days))

    @precondition(lambda self: any(c.erasure_due_at for c in self.model.live()))
    @rule()
    def nobody_confirms_until_the_grace_period_is_over(self) -> None:
        """A released hold's erasures wait for the DPOs; past the grace period beat does it."""
        self.clock.shift(datetime.timedelta(days=self.grace_days, hours=1))
        self.beat_runs()

    @rule()
    def beat_runs(self) -> None:
        """The nightly work: held erasures past their grace, then the sweep."""
        now = self.now()
        mail_up = steps.FlakyMailBackend.refusals == 0
        self.run(lambda: steps.reminders_tick(self, now=now))
        self.check_reminders(now, mail_up)
        self.run(lambda: steps.beat_nightly(self, now=now))
        self.run(lambda: retention_sweep(now=now))
        for call in self.model.live():
            held_erasure_due = call.erasure_due_at is not None and call.erasure_due_at <= now
            retention_over = not self.model.protected(call) and call.keep_until < now
            if (held_erasure_due and not self.model.held(call)) or retention_over:
                call.erased = True

    # --- what must hold after every step --------------------------------------------------------

    def check_reminders(self, now: datetime.datetime, mail_up: bool) -> None:
        """Each reminder due at this tick exists once; with the mail server up, none due is left
        unsent (retries included); every email sent belongs to exactly one reminder sent."""
        today = timezone.localdate(now)
        for request_id, due in self.model.open_requests.items():
            days_left = (due - today).days
            if days_left in django_settings.DSR_REMINDER_OFFSETS:
                kind = f"{days_left}-days-before"
            elif days_left == 0:
                kind = "due-day"
            elif days_left < 0:
                kind = f"overdue-{-days_left}"
            else:
                continue
            assert DeadlineReminder.objects.filter(request_id=request_id, kind=kind).count() == 1, (
                f"request {request_id}: no single {kind} reminder at {today}"
            )
        if mail_up:
            unsent = DeadlineReminder.objects.filter(
                state__in=DeadlineReminder.DUE_STATES, next_attempt_at__lte=now
            )
            assert not unsent.exists(), f"due reminders left unsent: {list(unsent.values('kind', 'state'))}"
        sent = DeadlineReminder.objects.filter(state=DeadlineReminder.State.SENT, recipients__gt=0).count()
        assert len(mail.outbox) == sent, f"{len(mail.outbox)} email(s) for {sent} reminder(s) sent"

    def stored(self) -> dict[int, Recording]:
        return {r.pk: r for r in Recording.objects.all()}

    @invariant()
    def custos_agrees_with_the_law(self) -> None:
        if not hasattr(self, "model"):
            return
        stored = self.stored()
        for call in self.model.calls.values():
            recording = stored[call.pk]
            expected = self.model.expected_status(call)
            assert recording.status == expected, (
                f"call {call.pk}: Custos says {recording.status}, the law {expected} ({call})"
            )
            if not call.erased:
                assert recording.keep_until == call.keep_until, (
                    f"call {call.pk}: keep-until {recording.keep_until}, the law {call.keep_until}"
                )

    @invariant()
    def nothing_held_or_restricted_is_deleted(self) -> None:
        if not hasattr(self, "model"):
            return
        stored = self.stored()
        for call in self.model.calls.values():
            if self.model.protected(call) and not call.erased:
                assert stored[call.pk].status != Recording.Status.ERASED


@pytest.mark.django_db
def test_random_lives_of_calls_keep_to_the_law(roles, settings):
    settings.EMAIL_BACKEND = "tests.lifecycle_steps.FlakyMailBackend"
    LifecycleMachine.roles = roles
    run_state_machine_as_test(
        LifecycleMachine,
        settings=hypothesis_settings(
            max_examples=EXAMPLES,
            stateful_step_count=30,
            deadline=None,
            phases=PHASES,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


@pytest.mark.django_db
def test_a_played_story_reaches_the_paths_random_runs_reach_rarely(roles, settings):
    """The machine's rarest path, played once on purpose and checked by the same model: a caller
    with a restriction and a call under a hold asks for erasure; the hold is released and nobody
    confirms; past the grace period beat erases the call; a waiting request's reminders go out
    exactly once although the mail server refuses twice."""
    settings.EMAIL_BACKEND = "tests.lifecycle_steps.FlakyMailBackend"
    LifecycleMachine.roles = roles
    machine = LifecycleMachine()
    checks = (machine.custos_agrees_with_the_law, machine.nothing_held_or_restricted_is_deleted)
    try:
        steps_played = [
            lambda: machine.open_for_business(qa_days=30, training_days=10),
            lambda: machine.a_call_comes_in(phone=PHONES[0], basis="consent", purposes={"training"}),
            lambda: machine.a_call_comes_in(
                phone=PHONES[0], basis="contract", purposes={"quality_assurance"}
            ),
            lambda: machine.restriction_requested(phone=PHONES[0]),
            lambda: machine.an_access_request_waits(phone=PHONES[0]),
            lambda: machine.hold_placed(phone=PHONES[0]),
            lambda: machine.erasure_approved(phone=PHONES[0], asked=0),
            lambda: machine.the_mail_server_refuses(refusals=2),
            lambda: machine.time_passes(days=31),
            lambda: machine.beat_runs(),
            lambda: machine.hold_released(PlayedDraw(sorted(machine.model.holds)[0])),
            lambda: machine.nobody_confirms_until_the_grace_period_is_over(),
        ]
        for step in steps_played:
            step()
            for check in checks:
                check()
        assert all(call.erased for call in machine.model.calls.values())
        assert Recording.objects.exclude(status=Recording.Status.ERASED).count() == 0
        assert DeadlineReminder.objects.filter(state=DeadlineReminder.State.SENT).exists()
    finally:
        machine.teardown()


class PlayedDraw:
    """Stands in for hypothesis' ``st.data()`` in a played story: every draw is the given value."""

    def __init__(self, value) -> None:
        self.value = value

    def draw(self, strategy):
        return self.value
