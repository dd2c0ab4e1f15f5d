"""The QA report page (``admin/reviews/reports/``): filters, a line chart drawn as SVG on the
server (no script), the figures as tables, and the same figures as CSV. Each page shown and each
CSV exported is an access event (object type "evaluation_report")."""

from __future__ import annotations

import csv
from typing import Any, cast

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.utils import timezone

from compliance_site.admin_site import CustosAdminSite, Page
from compliance_site.audit.admin import admin_access_record
from compliance_site.audit.models import AccessAction
from recordings.models import Queue
from reviews.models import Scorecard
from reviews.reports import (
    DEFAULT_WEEKS,
    MAX_WEEKS,
    Dimension,
    Report,
    iso_week,
    may_view_reports,
    report_csv_rows,
    report_for,
    report_queues_for,
)

OBJECT_TYPE = "evaluation_report"
METRICS = (("score", "Average score"), ("auto_fail", "Auto-fail rate"))

# Chart geometry, in SVG user units (the SVG scales to the width of its box).
SLOT = 40  # horizontal room per week
LEFT, RIGHT, TOP, BOTTOM = 34, 8, 8, 22
PLOT_HEIGHT = 140
SERIES_MAX = 8  # lines drawn: the busiest groups; the tables hold every one


class ReportForm(forms.Form):
    dimension = forms.ChoiceField(choices=Dimension.choices, required=False, label="By")
    weeks = forms.IntegerField(min_value=1, max_value=MAX_WEEKS, required=False, label="Weeks")
    queue: forms.ModelChoiceField = forms.ModelChoiceField(
        queryset=Queue.objects.none(), required=False, empty_label="Every queue"
    )
    scorecard = forms.ModelChoiceField(
        queryset=Scorecard.objects.all(), required=False, empty_label="Every scorecard"
    )
    chart = forms.ChoiceField(choices=METRICS, required=False, label="Chart")

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only the queues this user may read: another queue is "not a valid choice", like none.
        self.fields["queue"].queryset = report_queues_for(user).order_by("name")  # type: ignore[attr-defined]
        self.fields["weeks"].widget.attrs["placeholder"] = str(DEFAULT_WEEKS)


def _units(value: float) -> str:
    # Formatted here, so that no locale ever writes a decimal comma into the SVG.
    return f"{value:.1f}".removesuffix(".0")


def line_chart(report: Report, metric: str) -> dict[str, Any]:
    """One line per group (the busiest ``SERIES_MAX``), a point per week with evaluations; a week
    without any breaks the line."""
    weeks = report.weeks
    width = LEFT + SLOT * len(weeks) + RIGHT
    baseline = TOP + PLOT_HEIGHT
    label_every = 1 if len(weeks) <= 16 else 2 if len(weeks) <= 32 else 4
    busiest = sorted(report.rows, key=lambda r: -r.total.evaluations)[:SERIES_MAX]
    series = []
    for number, row in enumerate(sorted(busiest, key=report.rows.index)):
        segments: list[list[str]] = []
        points = []
        previous = False
        for i, cell in enumerate(row.cells):
            value = cell.average if metric == "score" else cell.auto_fail_rate
            if value is None:
                previous = False
                continue
            x, y = LEFT + SLOT * i + SLOT / 2, baseline - PLOT_HEIGHT * float(value) / 100
            if not previous:
                segments.append([])
            segments[-1].append(f"{_units(x)},{_units(y)}")
            previous = True
            shown = f"average score {cell.average}" if metric == "score" else f"auto-fail rate {value}%"
            points.append(
                {
                    "x": _units(x),
                    "y": _units(y),
                    "title": f"{row.label}, {iso_week(weeks[i])}: {shown} "
                    f"({cell.evaluations} evaluation{'s' if cell.evaluations != 1 else ''}, "
                    f"{cell.auto_failed} auto-failed)",
                }
            )
        series.append(
            {
                "css_class": f"series-{number}",
                "label": row.label,
                "lines": [" ".join(s) for s in segments if len(s) > 1],
                "points": points,
            }
        )
    return {
        "width": width,
        "height": baseline + BOTTOM,
        "left": LEFT,
        "right": width - RIGHT,
        "baseline": baseline,
        "label_y": baseline + 14,
        "gridlines": [
            {"y": _units(TOP + PLOT_HEIGHT * (1 - share)), "label": f"{share * 100:.0f}"}
            for share in (0, 0.25, 0.5, 0.75, 1)
        ],
        "week_marks": [
            {"x": _units(LEFT + SLOT * i + SLOT / 2), "label": f"W{monday.isocalendar()[1]:02d}"}
            for i, monday in enumerate(weeks)
            if (len(weeks) - 1 - i) % label_every == 0
        ],
        "series": series,
        "metric": dict(METRICS)[metric],
        "unit": "score (0 to 100)" if metric == "score" else "% of evaluations auto-failed",
        "more": max(len(report.rows) - SERIES_MAX, 0),
    }


def _event_detail(report: Report, fmt: str) -> dict[str, Any]:
    return {
        "page": "report" if fmt == "html" else "report_csv",
        "dimension": report.dimension.value,
        "weeks": len(report.weeks),
        "queue": report.queue_id,
        "scorecard": report.scorecard_id,
    }


def report_view(request):
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    if not may_view_reports(request.user):
        raise PermissionDenied
    site = admin.site
    form = ReportForm(request.GET or None, user=request.user)
    context: dict[str, Any] = {**site.each_context(request), "title": "QA reports", "form": form}
    if form.is_bound and not form.is_valid():
        response = TemplateResponse(request, "reviews/report.html", context, status=400)
        response["Cache-Control"] = "no-store, private"
        return response
    data = form.cleaned_data if form.is_bound else {}
    queue, scorecard = data.get("queue"), data.get("scorecard")
    report = report_for(
        request.user,
        dimension=Dimension(data.get("dimension") or Dimension.QUEUE),
        weeks=data.get("weeks") or DEFAULT_WEEKS,
        queue_id=queue.pk if queue else None,
        scorecard_id=scorecard.pk if scorecard else None,
    )
    fmt = "csv" if request.GET.get("format") == "csv" else "html"
    admin_access_record(
        request,
        action=AccessAction.EXPORT if fmt == "csv" else AccessAction.VIEW,
        object_type=OBJECT_TYPE,
        page="report",
        detail=_event_detail(report, fmt),
    )
    if fmt == "csv":
        export = HttpResponse(content_type="text/csv; charset=utf-8")
        name = f"qa-report-{report.dimension.value}-{timezone.localdate():%Y-%m-%d}.csv"
        export["Content-Disposition"] = f'attachment; filename="{name}"'
        export["Cache-Control"] = "no-store, private"
        csv.writer(export).writerows(report_csv_rows(report))
        return export
    query = request.GET.copy()
    query["format"] = "csv"
    context.update(
        report=report,
        chart=line_chart(report, data.get("chart") or "score"),
        csv_query=query.urlencode(),
        weeks_table=[
            {
                "week": iso_week(monday),
                "rows": [(row, row.cells[i]) for row in report.rows if row.cells[i].evaluations],
            }
            for i, monday in reversed(list(enumerate(report.weeks)))
        ],
    )
    response = TemplateResponse(request, "reviews/report.html", context)
    response["Cache-Control"] = "no-store, private"
    return response


cast(CustosAdminSite, admin.site).page_register(
    Page(
        app_label="reviews",
        route="reviews/reports/",
        view=report_view,
        name="reviews_report",
        title="Reports",
        shown_to=may_view_reports,
    )
)
