"""The keep-until rule, computed set-based: how long a recording is kept, why, and under which rule.

A recording is kept until the longest retention among the purposes it may still serve
(``recordings.selectors.lawful_for_purpose``): its start plus the purpose's policy days, or
``RETENTION_DEFAULT_DAYS`` for a purpose without a policy. The purposes are a short registry, so
the rule is one CASE over them, longest retention first: the first purpose still lawful for a
recording gives its keep-until and its rule ("Policy quality_assurance: 30 days (changed
2026-12-06)"); the database evaluates it for a whole batch in one statement.

When no purpose is lawful any more, keep-until is now (or earlier, if it already was) and the
cause names what ended the last ground: a consent withdrawn or refused (``consent_withdrawn``),
an objection (``objection_upheld``), or anything else that left it without a ground: an
assessment withdrawn or narrowed, the purposes removed, no consent on record (``ground_ended``,
with the assessment or the missing purpose in the rule). The cause and the rule are stored on the
recording with keep-until (derived state, with history), so the sweep's tombstone, the
recording's page and ``retention_preview`` say the same thing.

Holds, restrictions and disposition review do not change keep-until: they decide whether the
sweep may act on it, and are read live by the sweep and by ``retention.explain``.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db.models import (
    Case,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone
from simple_history.models import HistoricalRecords

from compliance_site.history_bulk import HISTORY_CHANGED, history_copy
from recordings.models import Consent, LawfulBasis, Objection, Purpose, Recording
from recordings.selectors import lawful_for_purpose
from retention.models import DeletionReason, RetentionPolicy

_RULE_MAX = 200


@dataclass(frozen=True)
class PurposeRetention:
    """How long one purpose keeps a recording, and the rule that says so."""

    purpose: Purpose
    days: int
    rule: str
    disposition_review: bool = False


@dataclass(frozen=True)
class KeepUntil:
    keep_until: datetime.datetime
    cause: str
    rule: str


def _day(moment: datetime.datetime | None) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d}" if moment else "?"


def purpose_retentions(*, overrides: dict[int, int] | None = None) -> list[PurposeRetention]:
    """Every purpose with its retention, longest first (ties by id, so the order is stable).
    ``overrides`` maps a purpose id to keep-days to use instead of its policy's (a change the DPO
    has not saved yet)."""
    overrides = overrides or {}
    policies = {policy.purpose_id: policy for policy in RetentionPolicy.objects.all()}
    table = []
    for purpose in Purpose.objects.order_by("pk"):
        policy = policies.get(purpose.pk)
        if purpose.pk in overrides:
            days = overrides[purpose.pk]
            rule = f"Policy {purpose.code}: {days} days"
        elif policy is not None:
            days = policy.keep_days
            rule = f"Policy {purpose.code}: {days} days (changed {_day(policy.updated_at)})"
        else:
            days = settings.RETENTION_DEFAULT_DAYS
            rule = f"Default retention for {purpose.code}: {days} days (RETENTION_DEFAULT_DAYS)"
        review = bool(policy and policy.disposition_review)
        table.append(PurposeRetention(purpose, days, rule[:_RULE_MAX], review))
    table.sort(key=lambda entry: (-entry.days, entry.purpose.pk))
    return table


def first_lawful(table: Sequence[PurposeRetention], *, among: Sequence[int] | None = None) -> Case:
    """The index in ``table`` of the first purpose the recording may still serve; -1 for none.
    ``among``: the batch's ids, when the query reads those only (``lawful_for_purpose``)."""
    whens = [
        When(lawful_for_purpose(entry.purpose, among=among), then=Value(i)) for i, entry in enumerate(table)
    ]
    return Case(*whens, default=Value(-1), output_field=IntegerField())


def keep_until_expression(table: Sequence[PurposeRetention]) -> ExpressionWrapper:
    """Keep-until as SQL, NULL where no purpose is lawful (``retention_policy_change_effect``)."""
    days = Case(
        *[
            When(lawful_for_purpose(entry.purpose), then=Value(datetime.timedelta(days=entry.days)))
            for entry in table
        ],
        default=Value(None),
        output_field=DurationField(),
    )
    return ExpressionWrapper(F("started_at") + days, output_field=DateTimeField())


_COLUMNS = (
    "pk",
    "started_at",
    "keep_until",
    "keep_until_cause",
    "keep_until_rule",
    "lawful_basis",
    "subject_id",
    "legitimate_interest_assessment_id",
)


def _rows(recording_ids: Sequence[int], table: Sequence[PurposeRetention]) -> list[tuple]:
    ids = list(recording_ids)
    return list(
        Recording.objects.filter(pk__any_of=ids)
        .exclude(status=Recording.Status.ERASED)
        .annotate(first_lawful=first_lawful(table, among=ids))
        .order_by()
        .values_list("first_lawful", *_COLUMNS)
    )


def _without_ground(rows: list[tuple], now: datetime.datetime) -> dict[int, KeepUntil]:
    """Keep-until, cause and rule of recordings that may serve no purpose any more: three
    queries for the whole batch (their stated purposes, consents, objections)."""
    ids = [row[1] for row in rows]
    subjects = list({row[7] for row in rows})
    stated: dict[int, set[int]] = defaultdict(set)
    for recording_id, purpose_id in Recording.purposes.through.objects.filter(
        recording_id__any_of=ids
    ).values_list("recording_id", "purpose_id"):
        stated[recording_id].add(purpose_id)
    consent_events = defaultdict(list)  # (subject, purpose) -> (when, recording, text)
    ended = Consent.objects.filter(
        Q(withdrawn_at__isnull=False) | Q(decision=Consent.Decision.REFUSED), subject_id__any_of=subjects
    )
    for pk, subject, recording, purpose, captured, withdrawn, via, under in ended.values_list(
        "pk",
        "subject_id",
        "recording_id",
        "purpose_id",
        "captured_at",
        "withdrawn_at",
        "withdrawn_via",
        "withdrawn_under",
    ):
        if withdrawn is not None:
            text = f"Consent {pk} withdrawn {_day(withdrawn)}"
            if under:  # the request it was withdrawn under, e.g. "DSR-2026-000004"
                text += f" ({under})"
            elif via == Consent.Channel.DSR:
                text += " (data-subject request)"
            consent_events[subject, purpose].append((withdrawn, recording, text))
        else:
            consent_events[subject, purpose].append(
                (captured, recording, f"Consent {pk} refused {_day(captured)}")
            )
    objections = defaultdict(list)
    for pk, subject, purpose, decision, decided, received in (
        Objection.objects.filter(subject_id__any_of=subjects)
        .exclude(decision=Objection.Decision.OVERRULED)
        .values_list("pk", "subject_id", "purpose_id", "decision", "decided_at", "received_at")
    ):
        text = (
            f"Objection {pk} upheld {_day(decided)}"
            if decision == Objection.Decision.UPHELD
            else f"Objection {pk} received {_day(received)}, pending"
        )
        objections[subject, purpose].append((decided or received, text))
    result = {}
    for _, pk, _started, until, _cause, _rule, basis, subject, assessment in rows:
        purposes = stated[pk]
        cause, rule = DeletionReason.GROUND_ENDED.value, "No purpose stated for the call"
        if purposes and basis == LawfulBasis.CONSENT:
            events = [
                (when, text)
                for purpose in purposes
                for when, recording, text in consent_events[subject, purpose]
                if recording in (pk, None)
            ]
            if events:
                cause, rule = DeletionReason.CONSENT_WITHDRAWN.value, max(events)[1]
            else:
                rule = "No consent for any stated purpose"
        elif purposes and basis == LawfulBasis.LEGITIMATE_INTERESTS:
            events = [event for purpose in purposes for event in objections[subject, purpose]]
            if events:
                cause, rule = DeletionReason.OBJECTION_UPHELD.value, max(events)[1]
            else:
                rule = f"Assessment {assessment} not approved for any stated purpose: no lawful ground"
        result[pk] = KeepUntil(min(now, until or now), cause, rule[:_RULE_MAX])
    return result


def keep_until_compute(recording_ids: Sequence[int], *, now: datetime.datetime) -> dict[int, KeepUntil]:
    """Keep-until, cause and rule of these recordings (not erased) by id, without writing."""
    table = purpose_retentions()
    rows = _rows(recording_ids, table)
    computed = {
        row[1]: KeepUntil(
            row[2] + datetime.timedelta(days=table[row[0]].days),
            DeletionReason.RETENTION_EXPIRED.value,
            table[row[0]].rule,
        )
        for row in rows
        if row[0] >= 0
    }
    computed.update(_without_ground([row for row in rows if row[0] < 0], now))
    return computed


def keep_until_recompute(recording_ids: Sequence[int], *, now: datetime.datetime, actor=None) -> int:
    """Recompute keep-until, cause and rule of these recordings, in the caller's transaction;
    returns how many changed. A fixed number of statements whatever the batch's size: one SELECT
    evaluating the rule, one UPDATE per purpose that decides (keep-until computed by the database
    from each row's start), one for the recordings left without a ground, and their history."""
    table = purpose_retentions()
    rows = _rows(recording_ids, table)
    by_purpose: dict[int, list[int]] = defaultdict(list)
    for first, pk, started, until, cause, rule, *_ in rows:
        entry = table[first] if first >= 0 else None
        if entry is not None and (until, cause, rule) != (
            started + datetime.timedelta(days=entry.days),
            DeletionReason.RETENTION_EXPIRED.value,
            entry.rule,
        ):
            by_purpose[first].append(pk)
    changed: list[int] = []
    for first, ids in by_purpose.items():
        entry = table[first]
        Recording.objects.filter(pk__any_of=ids).update(
            keep_until=ExpressionWrapper(
                F("started_at") + Value(datetime.timedelta(days=entry.days)), output_field=DateTimeField()
            ),
            keep_until_cause=DeletionReason.RETENTION_EXPIRED.value,
            keep_until_rule=entry.rule,
        )
        changed += ids
    lost = _without_ground([row for row in rows if row[0] < 0], now)
    current = {row[1]: (row[3], row[4], row[5]) for row in rows if row[0] < 0}
    moved = [
        Recording(
            pk=pk, keep_until=value.keep_until, keep_until_cause=value.cause, keep_until_rule=value.rule
        )
        for pk, value in lost.items()
        if current[pk] != (value.keep_until, value.cause, value.rule)
    ]
    if moved:
        Recording.objects.bulk_update(moved, ["keep_until", "keep_until_cause", "keep_until_rule"])
        changed += [recording.pk for recording in moved]
    if changed:
        if actor is None:  # as simple-history does for a save: the user of the request in progress
            actor = getattr(getattr(HistoricalRecords.context, "request", None), "user", None)
        history_copy(
            Recording.objects.filter(pk__any_of=changed), history_type=HISTORY_CHANGED, date=now, user=actor
        )
    return len(changed)


def recordings_in_scope(
    *, purpose_id: int | None = None, assessment_id: int | None = None, after: int = 0
) -> QuerySet[Recording]:
    """The live recordings whose keep-until a change of this purpose's policy, or of this
    assessment, can move (every live recording when neither is given); ``after``: those of a
    greater id only (a batch's keyset)."""
    recordings = Recording.objects.exclude(status=Recording.Status.ERASED).filter(pk__gt=after)
    if purpose_id is not None:
        # The bound on the links too: PostgreSQL merges both in id order, and would otherwise
        # read the purpose's links from the first recording on for every batch.
        links = Recording.purposes.through.objects.filter(
            recording_id=OuterRef("pk"), purpose_id=purpose_id, recording_id__gt=after
        )
        recordings = recordings.filter(Exists(links))
    if assessment_id is not None:
        recordings = recordings.filter(legitimate_interest_assessment_id=assessment_id)
    return recordings


@dataclass(frozen=True)
class PolicyChangeEffect:
    """What saving a purpose's policy with other keep-days would do to keep-until."""

    due_now: int  # past their new keep-until now: the next sweep deletes them ...
    due_now_review: int  # ... except these, whose policy asks for the DPO's disposition review
    later: int  # brought forward, still in the future

    def __str__(self) -> str:
        text = (
            f"This change makes {self.due_now:,} recording(s) due now (deleted at the next sweep"
            + (
                f"; {self.due_now_review:,} of them wait for the DPO's disposition review first"
                if self.due_now_review
                else ""
            )
            + f"), {self.later:,} later."
        )
        return text


def retention_policy_change_effect(
    *, purpose_id: int, keep_days: int, disposition_review: bool, now: datetime.datetime
) -> PolicyChangeEffect:
    """The recordings a policy of ``keep_days`` for this purpose would make due now, and those it
    would bring forward to a later day, by the same rule as the recomputation; two counts.
    Recordings held by a legal hold or restricted are counted too: the sweep skips them, but their
    keep-until moves."""
    table = purpose_retentions(overrides={purpose_id: keep_days})
    scope = recordings_in_scope(purpose_id=purpose_id).annotate(new_until=keep_until_expression(table))
    due = scope.filter(new_until__lt=now).exclude(keep_until__lt=now)
    due_now = due.count()
    if disposition_review:
        review = due_now  # every one states the purpose
    else:
        other_review = Recording.purposes.through.objects.filter(
            recording_id=OuterRef("pk"), purpose__retention_policy__disposition_review=True
        ).exclude(purpose_id=purpose_id)
        review = due.filter(Exists(other_review)).count()
    return PolicyChangeEffect(
        due_now=due_now,
        due_now_review=review,
        later=scope.filter(new_until__gte=now, new_until__lt=F("keep_until")).count(),
    )
