"""The response period of a data-subject request (GDPR Art. 12(3)), counted in dates.

A deadline is a date, not a moment. Reg. 1182/71 Art. 3 (the rules on periods, dates and time
limits the GDPR's "one month" follows): the day of receipt is not counted, and the period ends
with the expiry of the last hour of its last day. So a request received at any hour of 10 March
is due at the end of 9 April (``days`` rule, 30 days) or of 10 April (``calendar_month``), in the
configured time zone (``TIME_ZONE``). The database keeps the deadline as that instant, 23:59:59.999999
local time on the due date (``end_of_day``), so every comparison with "now" stays a plain
comparison of instants, and ``timezone.localdate`` of it is the due date.

Period rules: ``days``: received date + N days (product default 30). ``calendar_month``: the same
date next month; where that date does not exist (31 January), the last day of the month (28/29
February).

The extension limit (Art. 12(3): "two further months") is the original due date plus two calendar
months, again to the end of that day.

``DSR_DEADLINE_NEXT_WORKING_DAY`` (default off): a period whose last day is a Saturday, a Sunday or
a date of ``DSR_PUBLIC_HOLIDAYS`` ends at the end of the next working day instead (Reg. 1182/71
Art. 3(4)). Off is the stricter rule, and the default: the answer is never later than the date the
subject can count for themselves. When on, the shift applies to the original deadline and to the
extension limit alike (the limit is two months from the shifted due date, itself shifted).
"""

from __future__ import annotations

import calendar
import datetime

from django.conf import settings
from django.utils import timezone


def add_months(day: datetime.date, months: int) -> datetime.date:
    """The same date ``months`` later; the month's last day where that date does not exist."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def end_of_day(day: datetime.date) -> datetime.datetime:
    """The last instant of ``day`` in the configured time zone (23:59:59.999999 local time)."""
    return datetime.datetime.combine(day, datetime.time.max, tzinfo=timezone.get_default_timezone())


def local_date(moment: datetime.date) -> datetime.date:
    """A date as it is; an aware moment as its date in the configured time zone."""
    if isinstance(moment, datetime.datetime):
        return timezone.localdate(moment, timezone.get_default_timezone())
    return moment


def public_holidays() -> frozenset[datetime.date]:
    return frozenset(datetime.date.fromisoformat(str(day)) for day in settings.DSR_PUBLIC_HOLIDAYS)


def is_working_day(day: datetime.date) -> bool:
    return day.weekday() < 5 and day not in public_holidays()


def period_end(day: datetime.date) -> datetime.date:
    """The last day of a period whose nominal last day is ``day``: ``day`` itself, or, with
    ``DSR_DEADLINE_NEXT_WORKING_DAY``, the first working day from ``day`` on (Art. 3(4))."""
    if not settings.DSR_DEADLINE_NEXT_WORKING_DAY:
        return day
    holidays = public_holidays()
    while day.weekday() >= 5 or day in holidays:
        day += datetime.timedelta(days=1)
    return day


def due_date_for(received_at: datetime.datetime) -> datetime.date:
    """The due date of a request received at ``received_at`` (an aware datetime): counted from
    its date in the configured time zone, whatever the hour."""
    received = local_date(received_at)
    if settings.DSR_PERIOD_RULE == "calendar_month":
        due = add_months(received, 1)
    else:
        due = received + datetime.timedelta(days=settings.DSR_PERIOD_DAYS)
    return period_end(due)


def due_at_for(received_at: datetime.datetime) -> datetime.datetime:
    """The original deadline: the end of the due date in the configured time zone."""
    return end_of_day(due_date_for(received_at))


def extension_limit_date(due_at: datetime.date) -> datetime.date:
    """The latest date a deadline may be extended to: two further months (Art. 12(3))."""
    return period_end(add_months(local_date(due_at), 2))


def extension_limit(due_at: datetime.date) -> datetime.datetime:
    """The end of ``extension_limit_date``."""
    return end_of_day(extension_limit_date(due_at))
