"""A simulated clock and an independent model of which deadline reminders are due, for the tests
that drive time (tests/dsr/test_reminder_clock.py, tests/compliance_site/test_reliability.py).

The model is the rule as the README states it, written without the code: the assignee is reminded
on the Europe/Berlin day N days before the deadline for each N of the offsets (7, 3, 1), on the
due day itself, and the DPOs every day once it is overdue; a reminder whose day went by without a
tick that sent it goes out the next day (the catch-up).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from dsr.models import DataSubjectRequest, RequestType
from dsr.services import request_create

BERLIN = ZoneInfo("Europe/Berlin")
UTC = datetime.UTC
OFFSETS = (7, 3, 1)


def use_reminder_settings(settings) -> None:
    """The settings the model assumes, in the test process."""
    settings.TIME_ZONE = "Europe/Berlin"
    settings.DSR_PERIOD_RULE = "days"
    settings.DSR_PERIOD_DAYS = 30
    settings.DSR_REMINDER_OFFSETS = list(OFFSETS)


# The same, for a worker process's environment.
REMINDER_ENV = {
    "TIME_ZONE": "Europe/Berlin",
    "DSR_PERIOD_RULE": "days",
    "DSR_PERIOD_DAYS": "30",
    "DSR_REMINDER_OFFSETS": ",".join(map(str, OFFSETS)),
}


def local_day(moment: datetime.datetime) -> datetime.date:
    return moment.astimezone(BERLIN).date()


def at_local(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=BERLIN)


def hourly_ticks(start: datetime.datetime, hours: int) -> list[datetime.datetime]:
    """Beat's hourly ticks on the UTC clock (a wall-clock hour may be skipped or repeated)."""
    start = start.astimezone(UTC)
    return [start + datetime.timedelta(hours=k) for k in range(hours)]


def kind_due(deadline: datetime.date, today: datetime.date) -> str | None:
    days = (deadline - today).days
    if days in OFFSETS:
        return f"{days}-days-before"
    if days == 0:
        return "due-day"
    if days < 0:
        return f"overdue-{-days}"
    if days + 1 in OFFSETS:
        return f"{days + 1}-days-before"  # yesterday's, had no tick sent it
    return None


@dataclass
class Timeline:
    """A request as the test changes it: from tick ``k`` on, open or not, with this deadline."""

    changes: list[tuple[int, bool, datetime.date]] = field(default_factory=list)

    def at(self, tick: int) -> tuple[bool, datetime.date]:
        state = None
        for since, is_open, deadline in self.changes:
            if since <= tick:
                state = (is_open, deadline)
        assert state is not None, "a timeline starts at tick 0"
        return state


def expected_reminders(
    timelines: dict[str, Timeline], ticks: Iterable[datetime.datetime]
) -> dict[tuple[str, str, datetime.date], int]:
    """Every (reference, kind, deadline) due over ``ticks``, with the index of its first tick."""
    expected: dict[tuple[str, str, datetime.date], int] = {}
    for index, tick in enumerate(ticks):
        for reference, timeline in timelines.items():
            is_open, deadline = timeline.at(index)
            kind = kind_due(deadline, local_day(tick))
            if is_open and kind is not None:
                expected.setdefault((reference, kind, deadline), index)
    return expected


def request_due_on(day: datetime.date, hour: int, minute: int, assignee) -> DataSubjectRequest:
    """A request received 30 days before ``day`` at that wall-clock time, so due on ``day``."""
    request = request_create(
        request_type=RequestType.ACCESS,
        channel=DataSubjectRequest.Channel.EMAIL,
        received_at=at_local(day - datetime.timedelta(days=30), hour, minute),
        assignee=assignee,
    )
    assert local_day(request.due_at) == day
    return request
