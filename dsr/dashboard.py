"""The DPO's dashboard: open requests by days left, by type and by status, and the on-time rate.

Days are counted as ``DataSubjectRequest.days_left`` counts them: whole dates in the current
(configured) time zone. A date range becomes a range of instants (local midnights), so every
count is a plain comparison of the deadline in SQL and a daylight-saving change in between moves
nothing. The dashboard takes a fixed number of queries, however many requests there are.

The on-time rate counts the requests *answered* on a day: completed and refused ones (a refusal
is an answer, due by the same deadline, Art. 12(4)). A withdrawn request is left out: the subject
ended it, there was no answer to be early or late with. A request is on time when it was closed
no later than its effective deadline's date (the extension if one was granted), the date on
which ``days_left`` still said "due today".

The headline rate also counts as late every open request already past its deadline: it has
not been answered on time whatever happens next, and a rate over closed requests alone read
"100% on time" beside "Overdue: 11". Rate = answered on time ÷ (answered + open overdue); the
per-day chart shows answers only (an open request has no day of answer).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from dsr.models import DataSubjectRequest, DeadlineReminder, RequestStatus, RequestType
from dsr.selectors import requests_visible_to

# The deadline in force, as SQL: the extension if one was granted, else the original due date.
DEADLINE = Coalesce("extended_until", "due_at")

ON_TIME_DAYS = 90
ANSWERED_STATUSES = (RequestStatus.COMPLETED, RequestStatus.REFUSED)


@dataclass(frozen=True)
class DaysLeftRange:
    """Open requests whose ``days_left`` lies between ``first`` and ``last`` (inclusive; None is
    unbounded). ``key`` is also the requests changelist's ``deadline`` filter value."""

    key: str
    label: str
    first: int | None
    last: int | None

    def q(self, now: datetime.datetime) -> Q:
        """The condition on a queryset annotated with ``deadline`` (see ``DEADLINE``)."""
        today = timezone.localdate(now)
        condition = Q(status__in=DataSubjectRequest.OPEN_STATUSES)
        if self.first is not None:
            condition &= Q(deadline__gte=day_start(today + datetime.timedelta(days=self.first)))
        if self.last is not None:
            condition &= Q(deadline__lt=day_start(today + datetime.timedelta(days=self.last + 1)))
        return condition


# The dashboard's buckets, most urgent first; together they cover every open request once.
DAYS_LEFT_BUCKETS = (
    DaysLeftRange("overdue", "Overdue", None, -1),
    DaysLeftRange("due_3", "Due in 3 days or less", 0, 3),
    DaysLeftRange("due_7", "Due in 4 to 7 days", 4, 7),
    DaysLeftRange("later", "Due in more than 7 days", 8, None),
)
OPEN_ANY_DEADLINE = DaysLeftRange("open", "Open, any deadline", None, None)
# The requests changelist's deadline filter, in its order: the buckets, "this week" and "open".
DEADLINE_FILTER_RANGES = (
    *DAYS_LEFT_BUCKETS[:3],
    DaysLeftRange("this_week", "Due within 7 days", 0, 7),
    DAYS_LEFT_BUCKETS[3],
    OPEN_ANY_DEADLINE,
)


def reminder_undelivered() -> Exists:
    """The request has a reminder given up after its last attempt (``dsr.reminders``)."""
    return Exists(
        DeadlineReminder.objects.filter(request=OuterRef("pk"), state=DeadlineReminder.State.GIVEN_UP)
    )


def day_start(day: datetime.date) -> datetime.datetime:
    """The first instant of ``day`` in the current time zone (DST-safe: midnight of that date)."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=timezone.get_current_timezone())


@dataclass(frozen=True)
class Tally:
    value: str
    label: str
    count: int


@dataclass(frozen=True)
class DayOnTime:
    day: datetime.date
    answered: int
    on_time: int

    @property
    def rate(self) -> float | None:
        """The share answered on time, 0..1; None on a day nothing was answered."""
        return self.on_time / self.answered if self.answered else None


@dataclass(frozen=True)
class Dashboard:
    open_total: int
    buckets: list[tuple[DaysLeftRange, int]]
    by_type: list[Tally]
    by_status: list[Tally]
    on_time_days: list[DayOnTime]  # the last ON_TIME_DAYS days, oldest first, today last
    reminders_undelivered: int = 0  # open requests with a reminder given up

    @property
    def answered(self) -> int:
        return sum(day.answered for day in self.on_time_days)

    @property
    def on_time(self) -> int:
        return sum(day.on_time for day in self.on_time_days)

    @property
    def open_overdue(self) -> int:
        """Open requests past their deadline: late already, counted in the rate."""
        return sum(count for bucket, count in self.buckets if bucket.key == "overdue")

    @property
    def counted(self) -> int:
        """The rate's denominator: answered in the period, and open past their deadline."""
        return self.answered + self.open_overdue

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.counted if self.counted else None


def _with_deadline(queryset: QuerySet[DataSubjectRequest]) -> QuerySet[DataSubjectRequest]:
    return queryset.annotate(deadline=DEADLINE).order_by()


def dashboard_for(user, now: datetime.datetime) -> Dashboard:
    """The dashboard of the requests ``user`` may see, as of ``now``; three queries."""
    visible = _with_deadline(requests_visible_to(user))
    open_requests = visible.filter(status__in=DataSubjectRequest.OPEN_STATUSES)

    # 1. Open requests by days left, and those whose reminder could not be delivered.
    totals = open_requests.aggregate(
        open_total=Count("pk"),
        reminders_undelivered=Count("pk", filter=Q(reminder_undelivered())),
        **{bucket.key: Count("pk", filter=bucket.q(now)) for bucket in DAYS_LEFT_BUCKETS},
    )

    # 2. Open requests by type and status, both from one grouping.
    by_type = dict.fromkeys(RequestType.values, 0)
    by_status = dict.fromkeys(DataSubjectRequest.OPEN_STATUSES, 0)
    for row in open_requests.values("request_type", "status").annotate(n=Count("pk")):
        by_type[row["request_type"]] += row["n"]
        by_status[row["status"]] += row["n"]

    # 3. Requests answered on each of the last ON_TIME_DAYS days, and how many by their deadline.
    today = timezone.localdate(now)
    first_day = today - datetime.timedelta(days=ON_TIME_DAYS - 1)
    tz = timezone.get_current_timezone()
    rows = (
        visible.filter(
            status__in=ANSWERED_STATUSES,
            closed_at__gte=day_start(first_day),
            closed_at__lt=day_start(today + datetime.timedelta(days=1)),
        )
        .annotate(day=TruncDate("closed_at", tzinfo=tz), due_day=TruncDate(DEADLINE, tzinfo=tz))
        .values("day")
        .annotate(answered=Count("pk"), on_time=Count("pk", filter=Q(day__lte=F("due_day"))))
    )
    answered = {row["day"]: (row["answered"], row["on_time"]) for row in rows}
    days = [first_day + datetime.timedelta(days=offset) for offset in range(ON_TIME_DAYS)]

    return Dashboard(
        open_total=totals["open_total"],
        buckets=[(bucket, totals[bucket.key]) for bucket in DAYS_LEFT_BUCKETS],
        by_type=[Tally(value, RequestType(value).label, n) for value, n in by_type.items()],
        by_status=[Tally(value, RequestStatus(value).label, n) for value, n in by_status.items()],
        on_time_days=[DayOnTime(day, *answered.get(day, (0, 0))) for day in days],
        reminders_undelivered=totals["reminders_undelivered"],
    )
