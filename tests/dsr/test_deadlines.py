"""The response period in dates (Art. 12(3), Reg. 1182/71 Art. 3): N days or the same date next
month, ending at the end of the last day in the configured time zone; extensions likewise; and,
as an option, the next working day for a period ending on a weekend or a public holiday."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from dsr.deadlines import due_at_for, extension_limit
from dsr.models import DataSubjectRequest
from dsr.services import request_create
from dsr.workflow import request_extend

BERLIN = ZoneInfo("Europe/Berlin")


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=BERLIN)


def end_of(year: int, month: int, day: int) -> datetime.datetime:
    return datetime.datetime(year, month, day, 23, 59, 59, 999999, tzinfo=BERLIN)


def test_default_rule_is_thirty_days_to_the_end_of_the_last_day():
    """Given a request received on 10 March at 09:30, then it is due until the end of 9 April,
    not at 09:30 that day: the period ends with the last hour of its last day (Art. 3(2)(b))."""
    assert due_at_for(at(2026, 3, 10, 9, 30)) == end_of(2026, 4, 9)
    assert due_at_for(at(2026, 3, 10, 0, 0)) == due_at_for(at(2026, 3, 10, 23, 59)) == end_of(2026, 4, 9)


def test_days_rule_uses_the_configured_number(settings):
    settings.DSR_PERIOD_DAYS = 14
    assert due_at_for(at(2026, 3, 10, 9, 30)) == end_of(2026, 3, 24)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (at(2026, 3, 10, 9, 0), end_of(2026, 4, 10)),
        (at(2026, 1, 31, 9, 0), end_of(2026, 2, 28)),  # no 31 February: the month's last day
        (at(2028, 1, 31, 9, 0), end_of(2028, 2, 29)),  # leap year
        (at(2026, 12, 15, 9, 0), end_of(2027, 1, 15)),  # over the year end
        (at(2026, 8, 31, 9, 0), end_of(2026, 9, 30)),
    ],
)
def test_calendar_month_rule(settings, received, due):
    settings.DSR_PERIOD_RULE = "calendar_month"
    assert due_at_for(received) == due


@pytest.mark.parametrize(
    ("received", "due", "utc_end"),
    [
        # into summer time (29 March 2026): the due date ends at 23:59:59 CEST, 21:59:59 UTC
        (at(2026, 3, 10, 9, 30), end_of(2026, 4, 9), datetime.datetime(2026, 4, 9, 21, 59, 59, 999999)),
        # due on the day of the change itself
        (at(2026, 2, 27, 9, 30), end_of(2026, 3, 29), datetime.datetime(2026, 3, 29, 21, 59, 59, 999999)),
        # out of it (25 October 2026): 23:59:59 CET, 22:59:59 UTC
        (at(2026, 9, 25, 9, 30), end_of(2026, 10, 25), datetime.datetime(2026, 10, 25, 22, 59, 59, 999999)),
        (at(2026, 10, 10, 9, 30), end_of(2026, 11, 9), datetime.datetime(2026, 11, 9, 22, 59, 59, 999999)),
    ],
)
def test_the_due_date_ends_at_local_midnight_across_daylight_saving(received, due, utc_end):
    """Given a period that spans (or ends on) a daylight-saving change, then it still ends at the
    last instant of its last date on the Berlin wall clock."""
    result = due_at_for(received)

    assert result == due
    assert result.astimezone(datetime.UTC).replace(tzinfo=None) == utc_end
    assert timezone.localdate(result) == due.date()


def test_a_receipt_given_in_utc_is_counted_in_the_configured_time_zone(settings):
    settings.DSR_PERIOD_RULE = "calendar_month"
    # 31 January 23:30 in Berlin is still 31 January there (22:30 UTC)
    received = datetime.datetime(2026, 1, 31, 22, 30, tzinfo=datetime.UTC)

    assert due_at_for(received) == end_of(2026, 2, 28)


def test_extension_limit_is_two_calendar_months_from_the_original_due_date_to_its_end():
    assert extension_limit(end_of(2026, 12, 31)) == end_of(2027, 2, 28)
    assert extension_limit(end_of(2027, 12, 31)) == end_of(2028, 2, 29)


# --- The optional next-working-day rule (Art. 3(4)) -------------------------------------------------

EASTER_2026 = ["2026-04-03", "2026-04-06"]  # Good Friday, Easter Monday


@pytest.mark.parametrize(
    ("received", "strict", "working_day"),
    [
        (at(2026, 3, 12, 10, 0), end_of(2026, 4, 11), end_of(2026, 4, 13)),  # Saturday -> Monday
        (at(2026, 3, 13, 10, 0), end_of(2026, 4, 12), end_of(2026, 4, 13)),  # Sunday -> Monday
        (at(2026, 3, 7, 10, 0), end_of(2026, 4, 6), end_of(2026, 4, 7)),  # Easter Monday -> Tuesday
        (at(2026, 3, 4, 10, 0), end_of(2026, 4, 3), end_of(2026, 4, 7)),  # Good Friday -> Tuesday
        (at(2026, 3, 10, 10, 0), end_of(2026, 4, 9), end_of(2026, 4, 9)),  # a Thursday stays
    ],
)
def test_a_deadline_on_a_weekend_or_holiday_moves_to_the_next_working_day_only_with_the_setting(
    settings, received, strict, working_day
):
    """Given a period whose last day is a Saturday, a Sunday or a listed public holiday, then by
    default (the stricter rule) it ends on that day, and with DSR_DEADLINE_NEXT_WORKING_DAY at the
    end of the next working day."""
    settings.DSR_PUBLIC_HOLIDAYS = EASTER_2026

    settings.DSR_DEADLINE_NEXT_WORKING_DAY = False
    assert due_at_for(received) == strict

    settings.DSR_DEADLINE_NEXT_WORKING_DAY = True
    assert due_at_for(received) == working_day


def test_the_extension_limit_moves_to_the_next_working_day_too(settings):
    settings.DSR_DEADLINE_NEXT_WORKING_DAY = True
    settings.DSR_PUBLIC_HOLIDAYS = []
    # 13 April 2026 + 2 months = 13 June 2026, a Saturday
    assert extension_limit(end_of(2026, 4, 13)) == end_of(2026, 6, 15)


@pytest.mark.django_db
def test_a_shifted_deadline_is_what_days_left_counts(settings):
    """Given the next-working-day rule and a request whose 30 days end on a Saturday, then on
    that Saturday it is due in 2 days, and it is due today on the Monday."""
    settings.DSR_DEADLINE_NEXT_WORKING_DAY = True
    received = at(2026, 3, 12, 10, 0)
    request = DataSubjectRequest(received_at=received, due_at=due_at_for(received))

    assert request.due_date == datetime.date(2026, 4, 13)
    assert request.days_left(at(2026, 4, 11, 12, 0)) == 2
    assert request.days_left(at(2026, 4, 13, 23, 59)) == 0
    assert request.days_left(at(2026, 4, 14, 0, 0)) == -1


# --- Extensions on the edges of the day -------------------------------------------------------------


@pytest.fixture
def due_today(db):
    """A request received at the very start of the day 30 days ago: by the old rule it was due at
    00:00 today, a moment already past whenever the test runs; by the date rule it is due today."""
    today = timezone.localdate()
    received = datetime.datetime.combine(
        today - datetime.timedelta(days=30), datetime.time.min, tzinfo=timezone.get_current_timezone()
    )
    return request_create(request_type="access", channel="letter", received_at=received)


@pytest.mark.django_db
def test_an_extension_asked_on_the_due_day_after_the_hour_of_receipt_is_accepted(due_today, dpo):
    """Given a request due today, received 30 days ago at 00:00, when the DPO extends it later
    today, then the extension is accepted (the deadline runs to the end of the due day)."""
    # when
    until = timezone.localdate() + datetime.timedelta(days=30)
    request = request_extend(dsr=due_today, until=until, reason="Many recordings to review.", actor=dpo)

    # then
    assert timezone.localdate(request.extended_until) == until
    assert timezone.localtime(request.extended_until).time() == datetime.time.max
    assert request.letters.filter(kind="extension").count() == 1


@pytest.mark.django_db
def test_an_extension_to_the_last_allowed_day_at_23_59_is_accepted(due_today, dpo):
    """Given a request due today, when the DPO extends it to 23:59 on the last day two months
    later, then it is accepted and the request is due until the end of that day."""
    # given
    limit = timezone.localdate(extension_limit(due_today.due_at))
    assert limit == _two_months_after(timezone.localdate())

    # when
    until = datetime.datetime.combine(limit, datetime.time(23, 59), tzinfo=timezone.get_current_timezone())
    request = request_extend(dsr=due_today, until=until, reason="Complex request.", actor=dpo)

    # then
    assert request.due_date == limit
    assert request.days_left() == (limit - timezone.localdate()).days


@pytest.mark.django_db
def test_an_extension_past_the_limit_names_the_limit_date(due_today, dpo):
    """Given a request due today, when the DPO asks for one day past the two months, then it is
    refused with a message naming the last allowed date, and the deadline is unchanged."""
    limit = timezone.localdate(extension_limit(due_today.due_at))

    with pytest.raises(ValidationError) as refused:
        request_extend(
            dsr=due_today, until=limit + datetime.timedelta(days=1), reason="Complex request.", actor=dpo
        )

    assert f"{limit:%Y-%m-%d} at the latest" in str(refused.value)
    due_today.refresh_from_db()
    assert due_today.extended_until is None


@pytest.mark.django_db
def test_an_extension_after_the_due_day_is_refused_naming_that_day(dpo):
    received = timezone.now() - datetime.timedelta(days=31)
    request = request_create(request_type="access", channel="letter", received_at=received)
    due = timezone.localdate(request.due_at)

    with pytest.raises(ValidationError, match=f"original deadline \\({due:%Y-%m-%d}\\) has passed"):
        request_extend(
            dsr=request, until=due + datetime.timedelta(days=20), reason="Complex request.", actor=dpo
        )


def _two_months_after(day: datetime.date) -> datetime.date:
    month = day.month + 2
    year, month = day.year + (month - 1) // 12, (month - 1) % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return day.replace(year=year, month=month, day=candidate)
        except ValueError:
            continue
    raise AssertionError(day)
