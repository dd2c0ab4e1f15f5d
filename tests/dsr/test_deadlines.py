"""The response period: N days by default, or the same date next month (Art. 12(3))."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from dsr.deadlines import due_at_for

BERLIN = ZoneInfo("Europe/Berlin")


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=BERLIN)


def test_default_rule_is_thirty_days():
    assert due_at_for(at(2026, 3, 10, 9, 30)) == at(2026, 4, 9, 9, 30)


def test_days_rule_uses_the_configured_number(settings):
    settings.DSR_PERIOD_DAYS = 14
    assert due_at_for(at(2026, 3, 10, 9, 30)) == at(2026, 3, 24, 9, 30)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (at(2026, 3, 10, 9, 0), at(2026, 4, 10, 9, 0)),
        (at(2026, 1, 31, 9, 0), at(2026, 2, 28, 9, 0)),  # no 31 February: the month's last day
        (at(2028, 1, 31, 9, 0), at(2028, 2, 29, 9, 0)),  # leap year
        (at(2026, 12, 15, 9, 0), at(2027, 1, 15, 9, 0)),  # over the year end
        (at(2026, 8, 31, 9, 0), at(2026, 9, 30, 9, 0)),
    ],
)
def test_calendar_month_rule(settings, received, due):
    settings.DSR_PERIOD_RULE = "calendar_month"
    assert due_at_for(received) == due


@pytest.mark.parametrize(
    ("received", "due"),
    [
        # into summer time (29 March 2026): same wall-clock hour, one hour less in between
        (at(2026, 3, 10, 9, 30), at(2026, 4, 9, 9, 30)),
        # out of it (25 October 2026)
        (at(2026, 10, 10, 9, 30), at(2026, 11, 9, 9, 30)),
    ],
)
def test_days_rule_keeps_the_wall_clock_across_daylight_saving(received, due):
    result = due_at_for(received)

    assert result == due
    assert result.astimezone(BERLIN).hour == 9  # not 8 or 10


def test_a_receipt_given_in_utc_is_counted_in_the_configured_time_zone(settings):
    settings.DSR_PERIOD_RULE = "calendar_month"
    # 31 January 23:30 in Berlin is still 31 January there (22:30 UTC)
    received = datetime.datetime(2026, 1, 31, 22, 30, tzinfo=datetime.UTC)

    assert due_at_for(received) == at(2026, 2, 28, 23, 30)


def test_extension_limit_is_two_calendar_months_from_the_original_deadline():
    from dsr.deadlines import extension_limit

    assert extension_limit(at(2026, 12, 31, 12, 0)) == at(2027, 2, 28, 12, 0)
    assert extension_limit(at(2027, 12, 31, 12, 0)) == at(2028, 2, 29, 12, 0)
