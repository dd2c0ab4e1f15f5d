"""The dashboard on the admin index: counts linked to the requests list, and the on-time chart
drawn as an inline SVG on the server (no script, no external asset)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from dsr.dashboard import OPEN_ANY_DEADLINE, Dashboard, DayOnTime, dashboard_for

# Chart geometry, in SVG user units (the SVG scales to the width of its box).
SLOT = 7  # horizontal room per day
BAR = 5
LEFT, RIGHT, TOP, BOTTOM = 34, 6, 8, 22
PLOT_HEIGHT = 110
MIN_BAR = 2  # a day with answers but none on time still shows a (red) stub


def index_context(request) -> dict:
    """Context for the admin index: the dashboard for users who may view requests, else nothing."""
    if not request.user.has_perm("dsr.view_datasubjectrequest"):
        return {}
    dashboard = dashboard_for(request.user, timezone.now())
    return {"dsr_dashboard": dashboard_view(dashboard)}


def _changelist(**params: str) -> str:
    return f"{reverse('admin:dsr_datasubjectrequest_changelist')}?{urlencode(params)}"


@dataclass(frozen=True)
class Row:
    label: str
    count: int
    url: str
    css_class: str = ""


def dashboard_view(dashboard: Dashboard) -> dict:
    buckets = [
        Row(bucket.label, count, _changelist(deadline=bucket.key), f"dsr-bucket-{bucket.key}")
        for bucket, count in dashboard.buckets
    ]
    return {
        "open_total": Row(
            OPEN_ANY_DEADLINE.label, dashboard.open_total, _changelist(deadline=OPEN_ANY_DEADLINE.key)
        ),
        "buckets": buckets,
        "by_type": [
            Row(t.label, t.count, _changelist(deadline=OPEN_ANY_DEADLINE.key, request_type__exact=t.value))
            for t in dashboard.by_type
        ],
        "by_status": [Row(s.label, s.count, _changelist(status__exact=s.value)) for s in dashboard.by_status],
        "chart": on_time_chart(dashboard),
        "reminders_undelivered": Row(
            "Open requests with a reminder that could not be delivered",
            dashboard.reminders_undelivered,
            _changelist(reminders="undelivered"),
        ),
    }


def _day(day: datetime.date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def _figures(day: DayOnTime) -> str:
    return f"{day.on_time} of {day.answered} on time ({day.rate:.0%})"


def _units(value: float) -> str:
    # Formatted here, so that no locale ever writes a decimal comma into the SVG.
    return f"{value:.1f}".removesuffix(".0")


def on_time_chart(dashboard: Dashboard) -> dict:
    """Bars of the on-time rate per day; a day without answers has no bar."""
    days = dashboard.on_time_days
    width = LEFT + SLOT * len(days) + RIGHT
    baseline = TOP + PLOT_HEIGHT
    bars, month_marks = [], []
    for index, day in enumerate(days):
        x = LEFT + index * SLOT
        if day.day.day == 1 or (index == 0 and day.day.day < 25):
            month_marks.append({"x": _units(x), "label": f"{day.day:%b}"})
        if day.rate is None:
            continue
        height = max(PLOT_HEIGHT * day.rate, MIN_BAR)
        bars.append(
            {
                "x": _units(x + (SLOT - BAR) / 2),
                "y": _units(baseline - height),
                "width": _units(BAR),
                "height": _units(height),
                "css_class": "ok" if day.rate == 1 else "some-late" if day.rate >= 0.5 else "late",
                "title": f"{_day(day.day)}: {_figures(day)}",
            }
        )
    gridlines = [
        {"y": _units(TOP + PLOT_HEIGHT * (1 - share)), "label": f"{share:.0%}"} for share in (0, 0.5, 1)
    ]
    answered_days = [day for day in days if day.answered]
    first, last = days[0].day, days[-1].day
    if dashboard.answered:
        summary = (
            f"Of {dashboard.answered} requests answered from {_day(first)} to {_day(last)}, "
            f"{dashboard.on_time} ({dashboard.on_time / dashboard.answered:.0%}) were answered by "
            "their deadline."
        )
        worst = min(answered_days, key=lambda day: (day.rate, -day.answered))
        if worst.rate is not None and worst.rate < 1:
            summary += f" Lowest day: {_day(worst.day)}, {_figures(worst)}."
    else:
        summary = f"No request was answered from {_day(first)} to {_day(last)}."
    return {
        "width": width,
        "height": baseline + BOTTOM,
        "left": LEFT,
        "right": width - RIGHT,
        "baseline": baseline,
        "label_y": baseline + 14,
        "gridlines": gridlines,
        "bars": bars,
        "month_marks": month_marks,
        "summary": summary,
        "rate": f"{dashboard.on_time_rate:.0%}" if dashboard.counted else "",
        "answered": dashboard.answered,
        "on_time": dashboard.on_time,
        "open_overdue": dashboard.open_overdue,
        "counted": dashboard.counted,
        "days": [
            {
                "label": _day(day.day),
                "answered": day.answered,
                "on_time": day.on_time,
                "rate": f"{day.rate:.0%}",
            }
            for day in reversed(answered_days)
        ],
        "period_days": len(days),
    }
