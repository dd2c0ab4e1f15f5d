"""A request's deadline in words, beside the due date on its page: "12 days left", "due today",
"overdue by 3 days", counted in dates as ``DataSubjectRequest.days_left`` (and the list) count."""

from __future__ import annotations

import datetime

from django.utils.html import format_html
from django.utils.safestring import SafeString

from dsr.models import DataSubjectRequest


def days_left_phrase(days: int) -> str:
    if days < 0:
        return f"overdue by {-days} day{'s' if days != -1 else ''}"
    if days == 0:
        return "due today"
    return f"{days} day{'s' if days != 1 else ''} left"


def deadline_in_words(dsr: DataSubjectRequest, now: datetime.datetime | None = None) -> SafeString | str:
    """The deadline in force, its date and how late it is; a closed request says when it closed
    against its deadline instead."""
    due = dsr.due_date
    if not dsr.is_open:
        return f"{due:%Y-%m-%d} (closed)"
    days = dsr.days_left(now)
    # Colours in custos/admin.css, as in the list: the content security policy allows no style.
    urgency = "overdue" if days < 0 else "soon" if days <= 7 else "ok"
    extended = " (extended)" if dsr.extended_until else ""
    return format_html(
        '{}{} <strong class="days-left-{}">{}</strong>',
        f"{due:%Y-%m-%d}",
        extended,
        urgency,
        days_left_phrase(days),
    )
