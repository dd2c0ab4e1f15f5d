"""The response period of a data-subject request (GDPR Art. 12(3)), as a setting.

``days``: received + N days (product default 30). ``calendar_month``: the same date next month;
where that date does not exist (31 January), the last day of the month (28/29 February).
"""

from __future__ import annotations

import calendar
import datetime

from django.conf import settings
from django.utils import timezone


def add_months(moment: datetime.datetime, months: int) -> datetime.datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def due_at_for(received_at: datetime.datetime) -> datetime.datetime:
    """The original due moment of a request received at ``received_at`` (an aware datetime).

    Counted on the wall clock of the configured time zone, so a daylight-saving change inside
    the period moves neither the due date nor its hour.
    """
    local = timezone.localtime(received_at)
    if settings.DSR_PERIOD_RULE == "calendar_month":
        due = add_months(local, 1)
    else:
        due = local + datetime.timedelta(days=settings.DSR_PERIOD_DAYS)
    return due


def extension_limit(due_at: datetime.datetime) -> datetime.datetime:
    """The latest a deadline may be extended to: two further months (Art. 12(3))."""
    return add_months(timezone.localtime(due_at), 2)
