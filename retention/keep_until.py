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
from typing import cast

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Field,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone
from simple_history.models import HistoricalRecords

from compliance_site.history_bulk import HISTORY_CHANGED, history_copy, history_of_update
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


def _unchanged(table: Sequence[PurposeRetention]) -> Case:
    """The index in ``table`` of the purpose whose keep-until, cause and rule the recording holds
    now; -2 for none. Plain comparisons of the row's own columns: with ``first_lawful``, the
    database says which rows a recomputation changes, and no dates travel to Python."""
    whens = [
        When(
            Q(
                keep_until=ExpressionWrapper(
                    F("started_at") + Value(datetime.timedelta(days=entry.days)), output_field=DateTimeField()
                ),
                keep_until_cause=DeletionReason.RETENTION_EXPIRED.value,
                keep_until_rule=entry.rule,
            ),
            then=Value(i),
        )
        for i, entry in enumerate(table)
    ]
    return Case(*whens, default=Value(-2), output_field=IntegerField())


def keep_until_recompute(recording_ids: Sequence[int], *, now: datetime.datetime, actor=None) -> int:
    """Recompute keep-until, cause and rule of these recordings, in the caller's transaction;
    returns how many changed. A fixed number of statements whatever the batch's size: one SELECT
    evaluating the rule and comparing its result with what each row holds (only ids and two small
    integers come back: no dates to load and compare in Python); for the rows a purpose now
    decides that change, keep-until computed by the database from each row's start, with their
    history rows: on PostgreSQL one statement (``_moving_update_with_history``), elsewhere one
    UPDATE per deciding purpose and ``history_copy``; for the recordings left without a ground, a
    read of their current values, one update of those that change and their history."""
    table = purpose_retentions()
    ids = list(recording_ids)
    rows = list(
        Recording.objects.filter(pk__any_of=ids)
        .exclude(status=Recording.Status.ERASED)
        .annotate(first_lawful=first_lawful(table, among=ids), unchanged=_unchanged(table))
        .order_by()
        .values_list("first_lawful", "unchanged", "pk")
    )
    moving = [(pk, first) for first, unchanged, pk in rows if first >= 0 and first != unchanged]
    if actor is None:  # as simple-history does for a save: the user of the request in progress
        actor = getattr(getattr(HistoricalRecords.context, "request", None), "user", None)
    changed: list[int] = []  # whose history is still to write
    if moving and connection.vendor == "postgresql":
        _moving_update_with_history(moving, table, now=now, actor=actor)
    elif moving:
        by_purpose: dict[int, list[int]] = defaultdict(list)
        for pk, first in moving:
            by_purpose[first].append(pk)
        for first, pks in by_purpose.items():
            entry = table[first]
            Recording.objects.filter(pk__any_of=pks).update(
                keep_until=ExpressionWrapper(
                    F("started_at") + Value(datetime.timedelta(days=entry.days)), output_field=DateTimeField()
                ),
                keep_until_cause=DeletionReason.RETENTION_EXPIRED.value,
                keep_until_rule=entry.rule,
            )
            changed += pks
    lost_ids = [pk for first, _, pk in rows if first < 0]
    moved: list[Recording] = []
    if lost_ids:
        lost_rows = list(
            Recording.objects.filter(pk__any_of=lost_ids)
            .order_by()
            .annotate(first_lawful=Value(-1))
            .values_list("first_lawful", *_COLUMNS)
        )
        lost = _without_ground(lost_rows, now)
        current = {row[1]: (row[3], row[4], row[5]) for row in lost_rows}
        moved += [
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
        history_copy(
            Recording.objects.filter(pk__any_of=changed), history_type=HISTORY_CHANGED, date=now, user=actor
        )
    return len(moving) + len(moved)


def _moving_update_with_history(
    moving: list[tuple[int, int]], table: Sequence[PurposeRetention], *, now: datetime.datetime, actor
) -> None:
    """PostgreSQL: the rows whose keep-until a purpose now decides, (id, index in ``table``),
    updated in one statement that writes their history rows too (``history_of_update``): the
    purposes' days and rules go as two short arrays indexed by each row's purpose, the rows as two
    arrays of one element per row (no list of placeholders, no re-reading of the rows)."""
    quote = connection.ops.quote_name
    meta = Recording._meta
    recording, pk = quote(meta.db_table), quote(meta.pk.column)
    column = {
        name: quote(cast(Field, meta.get_field(name)).column)
        for name in ("started_at", "keep_until", "keep_until_cause", "keep_until_rule")
    }
    update_sql = (
        f"UPDATE {recording} SET "  # noqa: S608 (names from the model, quoted; values bound)
        f"{column['keep_until']} = {recording}.{column['started_at']} "
        "+ make_interval(days => (%s::int[])[batch.i]), "
        f"{column['keep_until_cause']} = %s, "
        f"{column['keep_until_rule']} = (%s::text[])[batch.i] "
        f"FROM unnest(%s::bigint[], %s::int[]) AS batch(id, i) WHERE {recording}.{pk} = batch.id"
    )
    params = (
        [entry.days for entry in table],
        DeletionReason.RETENTION_EXPIRED.value,
        [entry.rule for entry in table],
        [pk for pk, _ in moving],
        [first + 1 for _, first in moving],  # SQL arrays count from 1
    )
    history_of_update(
        Recording, update_sql=update_sql, params=params, history_type=HISTORY_CHANGED, date=now, user=actor
    )


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
