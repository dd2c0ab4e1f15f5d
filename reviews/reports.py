"""QA reports: average score, auto-fail count and rate per queue, scorecard or agent, per ISO week.

Counted: evaluations submitted in the period (submitted, acknowledged or disputed; a rescored one
counts with its current score), and the tombstones of evaluations their retention deleted, on the
week they were submitted. Calibration evaluations are left out: they are practice on a shared
call, several scores of one call by design (the session's agreed score is on its page).

Who reads what: the DPO and the auditor (``view_all_evaluations``) every queue; a QA lead only the
queues they may review (``queues_reviewable_by``), as aggregates that never name a recording or a
caller. Evaluations hidden from the lead (the recording restricted, erased, expired or its QA
consent withdrawn) still count; by agent they are pooled in one anonymous row, so that a lead
cannot read a hidden evaluation's score off its agent's week. Agent names: every agent with
evaluations in the report, i.e. for a QA lead the agents evaluated in the lead's queues.

Calibrations are reported apart, per queue (or per scorecard when the report is by scorecard): the
sessions revealed in the period, the mean of their score spreads (each the population standard
deviation of the participants' scores, as ``reviews.calibration`` computes it) and the mean agreed
score; sessions created in the period and still blind are only counted, no score of theirs is
read. A session's queue is its evaluations' (kept when the call is erased or expires).

Every figure is computed in SQL (GROUP BY group and week; a session's spread in a subquery): a
fixed number of queries, whatever the number of evaluations or sessions.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    StdDev,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncWeek
from django.utils import timezone

from dsr.dashboard import day_start
from recordings.models import Queue
from recordings.selectors import queues_reviewable_by
from reviews.csv_cells import csv_safe
from reviews.models import CalibrationSession, Evaluation, EvaluationStatus, EvaluationTombstone, Scorecard
from reviews.selectors import recordings_usable_for_quality_now

DEFAULT_WEEKS = 12
MAX_WEEKS = 104
REPORTED_STATUSES = (EvaluationStatus.SUBMITTED, EvaluationStatus.ACKNOWLEDGED, EvaluationStatus.DISPUTED)
HUNDRED = Decimal(100)
CENT = Decimal("0.01")

# Group keys of the rows that name nobody.
HIDDEN_KEY = -1  # by agent, for a QA lead: evaluations hidden from them
DELETED_KEY = -2  # by agent: tombstones (they keep no agent)
NO_AGENT_KEY = 0  # by agent: evaluations of a recording without an agent
SPECIAL_LABELS = {
    HIDDEN_KEY: "Evaluations not shown to you (pooled)",
    DELETED_KEY: "Deleted by retention (no agent kept)",
    NO_AGENT_KEY: "No agent recorded",
}


class Dimension(models.TextChoices):
    QUEUE = "queue", "Queue"
    SCORECARD = "scorecard", "Scorecard"
    AGENT = "agent", "Agent"


# The field each dimension groups by, on an evaluation and on a tombstone.
GROUP_FIELDS = {
    Dimension.QUEUE: ("queue_id", "queue_id"),
    Dimension.SCORECARD: ("scorecard_version__scorecard_id", "scorecard_version__scorecard_id"),
}


def may_view_reports(user) -> bool:
    """The DPO, the auditor and QA leads (``reviews.view_evaluation``)."""
    return bool(user.is_active and user.has_perm("reviews.view_evaluation"))


def reads_every_queue(user) -> bool:
    return bool(user.has_perm("reviews.view_all_evaluations"))


def report_queues_for(user) -> QuerySet[Queue]:
    """The queues whose numbers ``user`` may read."""
    if not may_view_reports(user):
        return Queue.objects.none()
    if reads_every_queue(user):
        return Queue.objects.all()
    return queues_reviewable_by(user)


@dataclass(frozen=True)
class Cell:
    """The figures of one group in one week (or a period)."""

    evaluations: int = 0
    scored: int = 0
    score_sum: Decimal = Decimal(0)
    auto_failed: int = 0

    def __add__(self, other: Cell) -> Cell:
        return Cell(
            self.evaluations + other.evaluations,
            self.scored + other.scored,
            self.score_sum + other.score_sum,
            self.auto_failed + other.auto_failed,
        )

    @property
    def average(self) -> Decimal | None:
        return (self.score_sum / self.scored).quantize(CENT) if self.scored else None

    @property
    def auto_fail_rate(self) -> Decimal | None:
        """Auto-failed evaluations, percent of all."""
        return (HUNDRED * self.auto_failed / self.evaluations).quantize(CENT) if self.evaluations else None


@dataclass(frozen=True)
class Row:
    key: int | None
    label: str
    cells: list[Cell]  # one per week, oldest first
    total: Cell = field(default_factory=Cell)

    @property
    def named(self) -> bool:
        """A row of a queue, scorecard or agent (not a pooled or deleted one)."""
        return self.key not in SPECIAL_LABELS


@dataclass(frozen=True)
class CalibrationRow:
    """The calibration sessions of one queue or scorecard in the period."""

    key: int | None
    label: str
    revealed: int = 0  # sessions revealed in the period
    spread_count: int = 0  # of those, the ones with scores to compare
    spread_sum: Decimal = Decimal(0)
    agreed: int = 0
    agreed_sum: Decimal = Decimal(0)
    blind: int = 0  # sessions created in the period, not revealed yet

    @property
    def mean_spread(self) -> Decimal | None:
        return (self.spread_sum / self.spread_count).quantize(CENT) if self.spread_count else None

    @property
    def mean_agreed(self) -> Decimal | None:
        return (self.agreed_sum / self.agreed).quantize(CENT) if self.agreed else None


@dataclass(frozen=True)
class Calibrations:
    dimension: Dimension  # queue or scorecard
    rows: list[CalibrationRow]
    total: CalibrationRow


@dataclass(frozen=True)
class Report:
    dimension: Dimension
    weeks: list[datetime.date]  # the Mondays, oldest first; the current week last
    rows: list[Row]
    total: Row
    queue_id: int | None = None
    scorecard_id: int | None = None
    calibrations: Calibrations | None = None


def report_weeks(now: datetime.datetime, weeks: int) -> list[datetime.date]:
    """The Mondays of the last ``weeks`` ISO weeks, the current one last (local time zone)."""
    today = timezone.localdate(now)
    monday = today - datetime.timedelta(days=today.weekday())
    return [monday - datetime.timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]


def iso_week(monday: datetime.date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def _figures(queryset: QuerySet, key) -> QuerySet:
    tz = timezone.get_current_timezone()
    return (
        queryset.annotate(week=TruncWeek("submitted_at", tzinfo=tz), group=key)
        .values("week", "group")
        .annotate(
            n=Count("pk"),
            scored=Count("score"),
            score_sum=Sum("score"),
            failed=Count("pk", filter=Q(auto_failed=True)),
        )
        .order_by()
    )


def _evaluation_key(user, dimension: Dimension):
    if dimension != Dimension.AGENT:
        return F(GROUP_FIELDS[dimension][0])
    no_agent = Case(
        When(agent_id__isnull=True, then=Value(NO_AGENT_KEY)),
        default=F("agent_id"),
        output_field=models.BigIntegerField(),
    )
    if reads_every_queue(user):
        return no_agent
    # Hidden from this lead: counted, but under no agent's name. Within the lead's queues an
    # evaluation is visible exactly while its recording may serve quality assurance now
    # (``evaluations_visible_to``); asked per row, so that only the report's rows are checked.
    usable = Exists(recordings_usable_for_quality_now().filter(pk=OuterRef("recording_id")))
    return Case(When(usable, then=no_agent), default=Value(HIDDEN_KEY), output_field=models.BigIntegerField())


def report_for(
    user,
    *,
    dimension: Dimension = Dimension.QUEUE,
    weeks: int = DEFAULT_WEEKS,
    queue_id: int | None = None,
    scorecard_id: int | None = None,
    now: datetime.datetime | None = None,
) -> Report:
    """The report ``user`` may read: at most six queries (a QA lead's queues, evaluations,
    tombstones, labels, calibrations and their labels), whatever the number of evaluations."""
    if not 1 <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks must be 1 to {MAX_WEEKS}")
    mondays = report_weeks(now or timezone.now(), weeks)
    start, end = day_start(mondays[0]), day_start(mondays[-1] + datetime.timedelta(weeks=1))
    window = Q(submitted_at__gte=start, submitted_at__lt=end)
    queue_ids: list[int] | None = None
    if not reads_every_queue(user):
        # The lead's few queues as values, not a subquery: the planner then reads their weeks
        # through the (queue, submitted_at) index instead of scanning every evaluation.
        queue_ids = list(report_queues_for(user).values_list("pk", flat=True))
        window &= Q(queue_id__in=queue_ids)
    if queue_id is not None:
        window &= Q(queue_id=queue_id)
    if scorecard_id is not None:
        window &= Q(scorecard_version__scorecard_id=scorecard_id)
    evaluations = Evaluation.objects.filter(window, status__in=REPORTED_STATUSES, calibration__isnull=True)
    tombstones = EvaluationTombstone.objects.filter(window, score__isnull=False)
    tombstone_key = (
        Value(DELETED_KEY, output_field=models.BigIntegerField())
        if dimension == Dimension.AGENT
        else F(GROUP_FIELDS[dimension][1])
    )
    index = {monday: i for i, monday in enumerate(mondays)}
    cells: dict[int, list[Cell]] = {}
    for queryset in (
        _figures(evaluations, _evaluation_key(user, dimension)),
        _figures(tombstones, tombstone_key),
    ):
        for row in queryset:
            week = timezone.localtime(row["week"]).date()
            if week not in index:
                continue
            line = cells.setdefault(row["group"], [Cell() for _ in mondays])
            line[index[week]] += Cell(row["n"], row["scored"], row["score_sum"] or Decimal(0), row["failed"])
    labels = _labels(dimension, [key for key in cells if key not in SPECIAL_LABELS])
    rows = [
        Row(key, SPECIAL_LABELS.get(key) or labels.get(key, f"#{key}"), line, sum(line, Cell()))
        for key, line in cells.items()
    ]
    rows.sort(key=lambda r: (not r.named, r.label.casefold(), r.key or 0))
    per_week = [sum((r.cells[i] for r in rows), Cell()) for i in range(len(mondays))]
    total = Row(None, "All", per_week, sum(per_week, Cell()))
    calibrations = _calibrations(
        Dimension.SCORECARD if dimension == Dimension.SCORECARD else Dimension.QUEUE,
        start=start,
        end=end,
        queue_ids=queue_ids,
        queue_id=queue_id,
        scorecard_id=scorecard_id,
    )
    return Report(Dimension(dimension), mondays, rows, total, queue_id, scorecard_id, calibrations)


# The queue of a session: its evaluations' (copied from the call, kept when the call is gone).
SESSION_QUEUE = Subquery(
    Evaluation.objects.filter(calibration=OuterRef("pk")).order_by().values("queue_id")[:1],
    output_field=models.BigIntegerField(),
)


def _calibrations(
    dimension: Dimension,
    *,
    start: datetime.datetime,
    end: datetime.datetime,
    queue_ids: list[int] | None,
    queue_id: int | None,
    scorecard_id: int | None,
) -> Calibrations:
    """Sessions revealed in [start, end) with their mean spread and agreed score, and those
    created then and still blind, per queue or scorecard: two queries (figures, labels)."""
    spread = Subquery(
        Evaluation.objects.filter(
            calibration=OuterRef("pk"), status__in=REPORTED_STATUSES, score__isnull=False
        )
        .order_by()
        .values("calibration")
        .annotate(spread=StdDev("score", sample=False))
        .values("spread"),
        output_field=models.DecimalField(max_digits=9, decimal_places=4),
    )
    key = F("scorecard_version__scorecard_id") if dimension == Dimension.SCORECARD else SESSION_QUEUE
    sessions = CalibrationSession.objects.annotate(group=key, queue=SESSION_QUEUE).filter(
        Q(revealed_at__gte=start, revealed_at__lt=end)
        | Q(revealed_at__isnull=True, created_at__gte=start, created_at__lt=end)
    )
    if queue_ids is not None:
        sessions = sessions.filter(queue__in=queue_ids)
    if queue_id is not None:
        sessions = sessions.filter(queue=queue_id)
    if scorecard_id is not None:
        sessions = sessions.filter(scorecard_version__scorecard_id=scorecard_id)
    revealed = Q(revealed_at__isnull=False)
    figures = (
        sessions.annotate(spread=spread)
        .values("group")
        .annotate(
            revealed=Count("pk", filter=revealed),
            spread_count=Count("spread", filter=revealed),
            spread_sum=Sum("spread", filter=revealed),
            agreed=Count("agreed_score", filter=revealed),
            agreed_sum=Sum("agreed_score", filter=revealed),
            blind=Count("pk", filter=~revealed),
        )
        .order_by()
    )
    found = {
        row["group"]: (
            row["revealed"],
            row["spread_count"],
            _decimal(row["spread_sum"]),
            row["agreed"],
            _decimal(row["agreed_sum"]),
            row["blind"],
        )
        for row in figures
    }
    labels = _labels(dimension, [k for k in found if k is not None])
    rows = [
        CalibrationRow(k, labels.get(k, f"#{k}") if k is not None else "No queue kept", *numbers)
        for k, numbers in found.items()
    ]
    rows.sort(key=lambda r: (r.key is None, r.label.casefold(), r.key or 0))
    total = CalibrationRow(
        None,
        "All",
        revealed=sum(r.revealed for r in rows),
        spread_count=sum(r.spread_count for r in rows),
        spread_sum=sum((r.spread_sum for r in rows), Decimal(0)),
        agreed=sum(r.agreed for r in rows),
        agreed_sum=sum((r.agreed_sum for r in rows), Decimal(0)),
        blind=sum(r.blind for r in rows),
    )
    return Calibrations(dimension, rows, total)


def _decimal(value) -> Decimal:
    # SQLite returns its aggregates of decimals as floats; through str, no binary tail.
    return Decimal(str(value)) if value is not None else Decimal(0)


def _labels(dimension: Dimension, keys: list) -> dict[int, str]:
    if not keys:
        return {}
    if dimension == Dimension.QUEUE:
        return dict(Queue.objects.filter(pk__in=keys).values_list("pk", "name"))
    if dimension == Dimension.SCORECARD:
        return dict(Scorecard.objects.filter(pk__in=keys).values_list("pk", "name"))
    users = get_user_model().objects.filter(pk__in=keys).only("pk", "username", "first_name", "last_name")
    return {user.pk: user.get_full_name() or user.get_username() for user in users}


# --- CSV -----------------------------------------------------------------------------------------


def report_csv_rows(report: Report) -> Iterator[list[object]]:
    """The header, then one line per group and week with evaluations, oldest week first."""
    yield [
        "iso_week",
        "week_start",
        report.dimension.value,
        "evaluations",
        "average_score",
        "auto_fails",
        "auto_fail_rate_percent",
    ]
    for i, monday in enumerate(report.weeks):
        for row in report.rows:
            cell = row.cells[i]
            if not cell.evaluations:
                continue
            line = [
                iso_week(monday),
                monday.isoformat(),
                row.label,
                cell.evaluations,
                cell.average if cell.average is not None else "",
                cell.auto_failed,
                cell.auto_fail_rate,
            ]
            yield [csv_safe(value) for value in line]
