"""The DPO's dashboard on the admin index: open requests by days left, type and status, and the
on-time rate of the last 90 days; and a requests list whose query count ignores its length."""

from __future__ import annotations

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dsr.dashboard import ON_TIME_DAYS, dashboard_for
from dsr.models import DataSubjectRequest
from dsr.services import request_create
from dsr.workflow import request_transition
from tests.dsr.request_saving import request_save_as_is
from tests.factories import DataSubjectFactory, UserFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
# A Friday; summer time begins on Sunday 29 March 2026 at 02:00 (CET +01:00 → CEST +02:00).
NOW = datetime.datetime(2026, 3, 27, 9, 0, tzinfo=BERLIN)


@pytest.fixture(autouse=True)
def _berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=BERLIN)


def due(deadline: datetime.datetime, request_type: str = "access", assignee=None) -> DataSubjectRequest:
    """An open request due on ``deadline``'s date (received 30 days before; a deadline is a date,
    which ends at the end of that day)."""
    request = request_create(
        request_type=request_type,
        channel="email",
        received_at=deadline - datetime.timedelta(days=30),
        assignee=assignee,
    )
    assert request.due_at == datetime.datetime.combine(deadline.date(), datetime.time.max, tzinfo=BERLIN)
    return request


def closed(
    deadline: datetime.datetime, closed_at: datetime.datetime, status: str = "completed", assignee=None
) -> DataSubjectRequest:
    request = due(deadline, assignee=assignee)
    request.status, request.closed_at = status, closed_at
    if status == "refused":
        request.refusal_ground = DataSubjectRequest.RefusalGround.MANIFESTLY_UNFOUNDED
    return request_save_as_is(dsr=request)


def bucket_counts(dashboard) -> dict[str, int]:
    return {bucket.key: count for bucket, count in dashboard.buckets}


# Deadlines around each bucket boundary as of NOW, with their days left; the ones after Sunday
# are in summer time, so a bucket computed in 24-hour steps from now (or in UTC) would be wrong.
BOUNDARIES = [
    (at(2026, 3, 26, 23, 59), -1),  # yesterday, a minute before midnight: overdue
    (at(2026, 3, 27, 0, 0), 0),  # today, already past, but still due today
    (at(2026, 3, 30, 23, 30), 3),  # 21:30 UTC, half an hour before the CEST midnight
    (at(2026, 3, 31, 0, 30), 4),  # 22:30 UTC on the 30th, less than 4 days of 24 h from today's start
    (at(2026, 4, 3, 23, 59), 7),
    (at(2026, 4, 4, 0, 0), 8),
]


def test_open_requests_are_bucketed_by_days_left_across_the_dst_change(dpo):
    requests = [due(deadline) for deadline, _ in BOUNDARIES]
    assert [r.days_left(NOW) for r in requests] == [days for _, days in BOUNDARIES]
    withdrawn = due(at(2026, 3, 20, 12, 0))
    request_transition(dsr=withdrawn, to="withdrawn", actor=dpo)

    dashboard = dashboard_for(dpo, NOW)

    assert bucket_counts(dashboard) == {"overdue": 1, "due_3": 2, "due_7": 2, "later": 1}
    assert dashboard.open_total == 6


def test_buckets_agree_with_days_left_on_every_day_around_the_change(dpo):
    # One deadline an hour apart over four days around the change, looked at from three "nows".
    start = at(2026, 3, 27, 0, 30)
    requests = [due(start + datetime.timedelta(hours=hours)) for hours in range(0, 96, 5)]

    for now in (at(2026, 3, 22, 23, 30), at(2026, 3, 24, 0, 15), at(2026, 3, 29, 3, 0)):
        expected = {"overdue": 0, "due_3": 0, "due_7": 0, "later": 0}
        for request in requests:
            days = request.days_left(now)
            key = "overdue" if days < 0 else "due_3" if days <= 3 else "due_7" if days <= 7 else "later"
            expected[key] += 1
        assert bucket_counts(dashboard_for(dpo, now)) == expected, now


def test_counts_by_type_and_status_are_of_open_requests(dpo):
    due(at(2026, 4, 10, 9, 0), "access")
    due(at(2026, 4, 11, 9, 0), "erasure")
    in_progress = due(at(2026, 4, 12, 9, 0), "erasure")
    in_progress.status = "identity_pending"
    request_save_as_is(dsr=in_progress)
    closed(at(2026, 3, 20, 9, 0), at(2026, 3, 19, 9, 0))  # an access request, closed

    dashboard = dashboard_for(dpo, NOW)

    by_type = {t.value: t.count for t in dashboard.by_type}
    assert by_type == {
        "access": 1,
        "rectification": 0,
        "erasure": 2,
        "restriction": 0,
        "portability": 0,
        "objection": 0,
        "consent_withdrawal": 0,
    }
    assert {s.value: s.count for s in dashboard.by_status} == {
        "new": 2,
        "identity_pending": 1,
        "in_progress": 0,
        "awaiting_approval": 0,
        "executing": 0,
        "ready_to_send": 0,
    }


def test_an_analyst_counts_only_the_requests_assigned_to_them(dpo, analyst, auditor):
    colleague = UserFactory(username="other.analyst", groups=analyst.groups.all())
    due(at(2026, 3, 25, 9, 0), assignee=analyst)  # overdue
    due(at(2026, 4, 20, 9, 0), assignee=analyst)  # later
    due(at(2026, 3, 28, 9, 0), assignee=colleague)
    due(at(2026, 3, 29, 9, 0))  # nobody's yet
    closed(at(2026, 3, 20, 9, 0), at(2026, 3, 19, 9, 0), assignee=analyst)
    closed(at(2026, 3, 20, 9, 0), at(2026, 3, 21, 9, 0), assignee=colleague)

    mine, everyone, audited = (dashboard_for(user, NOW) for user in (analyst, dpo, auditor))

    assert bucket_counts(mine) == {"overdue": 1, "due_3": 0, "due_7": 0, "later": 1}
    assert (mine.open_total, mine.answered, mine.on_time) == (2, 1, 1)
    assert bucket_counts(everyone) == {"overdue": 1, "due_3": 2, "due_7": 0, "later": 1}
    assert (everyone.open_total, everyone.answered, everyone.on_time) == (4, 2, 1)
    assert bucket_counts(audited) == bucket_counts(everyone)


def test_on_time_rate_per_day_of_the_last_90_days(dpo):
    first_day = datetime.date(2025, 12, 28)  # NOW's date less 89 days
    # Before the window: 27 December at 23:30 in Berlin.
    closed(at(2025, 12, 20, 9, 0), at(2025, 12, 27, 23, 30))
    # The window's first day in Berlin, though still 27 December in UTC; on time.
    closed(at(2025, 12, 31, 9, 0), at(2025, 12, 28, 0, 30))
    # Closed on the due date after the due hour: on time, as days_left said "due today".
    closed(at(2026, 3, 10, 9, 0), at(2026, 3, 10, 20, 0))
    # Closed just after midnight of the day after: late. A refusal on time the same day.
    closed(at(2026, 3, 10, 9, 0), at(2026, 3, 11, 0, 30))
    closed(at(2026, 3, 20, 9, 0), at(2026, 3, 11, 10, 0), status="refused")
    # Withdrawn by the subject: no answer was due, so it is not counted at all.
    closed(at(2026, 3, 1, 9, 0), at(2026, 3, 11, 11, 0), status="withdrawn")
    # Past the original due date, but within the extension granted.
    extended = due(at(2026, 3, 5, 9, 0))
    extended.extended_until, extended.extension_reason = at(2026, 3, 25, 9, 0), "Complex."
    extended.status, extended.closed_at = "completed", at(2026, 3, 12, 9, 0)
    request_save_as_is(dsr=extended)
    # Still open, past its deadline of 1 March: late already, so in the rate (not in a day's bar).
    due(at(2026, 3, 1, 9, 0))
    # Still open and not yet due: not in the rate.
    due(at(2026, 3, 30, 9, 0))

    dashboard = dashboard_for(dpo, NOW)

    days = dashboard.on_time_days
    assert len(days) == ON_TIME_DAYS
    assert (days[0].day, days[-1].day) == (first_day, datetime.date(2026, 3, 27))
    figures = {day.day: (day.answered, day.on_time) for day in days if day.answered}
    assert figures == {
        datetime.date(2025, 12, 28): (1, 1),
        datetime.date(2026, 3, 10): (1, 1),
        datetime.date(2026, 3, 11): (2, 1),
        datetime.date(2026, 3, 12): (1, 1),
    }
    assert next(day for day in days if day.day == datetime.date(2026, 3, 11)).rate == 0.5
    assert next(day for day in days if day.day == datetime.date(2026, 3, 13)).rate is None
    assert (dashboard.answered, dashboard.open_overdue, dashboard.on_time) == (5, 1, 4)
    assert dashboard.on_time_rate == 4 / 6


def test_dashboard_takes_the_same_queries_for_few_and_many_requests(dpo):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            dashboard_for(dpo, NOW)
        return len(captured)

    due(at(2026, 3, 25, 9, 0))
    closed(at(2026, 3, 20, 9, 0), at(2026, 3, 19, 9, 0))
    dashboard_for(dpo, NOW)  # the user's permissions, loaded once and cached on the user
    few = queries()
    for offset in range(20):
        due(at(2026, 3, 20, 9, 0) + datetime.timedelta(days=offset), ("access", "erasure")[offset % 2])
        closed(at(2026, 3, 20, 9, 0), at(2026, 3, 1, 9, 0) + datetime.timedelta(days=offset))

    assert queries() == few == 3


# The index page, with the real clock.


def received_days_ago(days: int, **fields) -> DataSubjectRequest:
    return request_create(
        request_type=fields.pop("request_type", "access"),
        channel="email",
        received_at=timezone.now() - datetime.timedelta(days=days),
        **fields,
    )


@pytest.fixture
def desk(analyst):
    """Open requests in every bucket (two of them the analyst's) and two answered ones."""
    requests = {
        "overdue": received_days_ago(33, assignee=analyst),
        "due_3": received_days_ago(28, request_type="erasure"),
        "due_7": received_days_ago(24, assignee=analyst),
        "later": received_days_ago(2, request_type="objection"),
        "on_time": received_days_ago(20),
        "late": received_days_ago(40),
    }
    for key in ("on_time", "late"):
        requests[key].status = "completed"
        request_save_as_is(dsr=requests[key])
    return requests


def test_index_shows_the_dpo_the_dashboard_with_links_to_the_matching_lists(client, dpo, desk):
    client.force_login(dpo)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    page = response.content.decode()
    dashboard = response.context["dsr_dashboard"]
    assert [(row.label, row.count) for row in dashboard["buckets"]] == [
        ("Overdue", 1),
        ("Due in 3 days or less", 1),
        ("Due in 4 to 7 days", 1),
        ("Due in more than 7 days", 1),
    ]
    # Every count links to the requests list filtered to exactly those requests.
    rows = [*dashboard["buckets"], dashboard["open_total"], *dashboard["by_type"], *dashboard["by_status"]]
    for row in rows:
        if row.count:
            assert row.url in page.replace("&amp;", "&")
            listed = client.get(row.url).context["cl"]
            assert listed.result_count == row.count, row.label
    # The chart: an inline SVG with its own title and description, and the figures as a table.
    svg = re.search(r'<svg class="dsr-chart".*?</svg>', page, re.DOTALL).group(0)
    assert 'role="img"' in svg
    assert "<title id=" in svg and "<desc id=" in svg
    assert "Of 2 requests answered" in svg
    # The headline counts the open overdue request as late, and says so.
    assert "1 of 3 (33%)" in page
    assert "1 ÷ (2 + 1)" in page
    assert "<details>" in page and "Figures by day" in page
    assert "<script" not in svg and "http" not in svg.replace("http://www.w3.org", "")


def test_index_shows_an_analyst_their_own_counts(client, analyst, desk):
    client.force_login(analyst)

    response = client.get(reverse("admin:index"))

    dashboard = response.context["dsr_dashboard"]
    assert [row.count for row in dashboard["buckets"]] == [1, 0, 1, 0]
    assert dashboard["open_total"].count == 2
    assert response.context["app_list"][0]["app_label"] == "dsr"


def test_index_shows_the_auditor_everything(client, auditor, desk):
    client.force_login(auditor)

    response = client.get(reverse("admin:index"))

    assert response.context["dsr_dashboard"]["open_total"].count == 4
    assert 'id="dsr-dashboard"' in response.content.decode()


def test_index_shows_no_dashboard_to_a_qa_lead(client, qa_lead_a, desk):
    client.force_login(qa_lead_a)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert "dsr_dashboard" not in response.context
    assert 'id="dsr-dashboard"' not in response.content.decode()
    assert "custos/dashboard.css" not in response.content.decode()


def test_index_query_count_does_not_grow_with_the_requests(client, dpo, desk):
    client.force_login(dpo)
    client.get(reverse("admin:index"))  # session and permission caches warm

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("admin:index")).status_code == 200
        return len(captured)

    few = queries()
    for days in range(0, 60, 3):
        received_days_ago(days)
    assert queries() == few


# The requests list.


def test_requests_list_query_count_does_not_grow_with_the_page(client, dpo, analyst):
    client.force_login(dpo)
    url = reverse("admin:dsr_datasubjectrequest_changelist")

    def make(count: int) -> None:
        for n in range(count):
            subject = DataSubjectFactory() if n % 2 else None
            request = received_days_ago(n % 45, subject=subject, assignee=analyst if n % 3 else dpo)
            if n % 5 == 0:
                request.status = "completed"
                request_save_as_is(dsr=request)

    def queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        return len(captured), len(response.context["cl"].result_list)

    make(5)
    few, listed_few = queries()
    make(45)
    many, listed_many = queries()

    assert (listed_few, listed_many) == (5, 50)
    assert many == few


@pytest.mark.parametrize(
    ("deadline", "expected"),
    [
        ("overdue", ["overdue"]),
        ("due_3", ["due_today", "due_3"]),
        ("due_7", ["due_4"]),
        ("this_week", ["due_today", "due_3", "due_4"]),
        ("later", ["due_8"]),
        ("open", ["overdue", "due_today", "due_3", "due_4", "due_8"]),
    ],
)
def test_deadline_filter_counts_days_as_days_left_does(client, dpo, deadline, expected):
    today = timezone.localdate()

    def due_on(days: int, hour: int) -> DataSubjectRequest:
        day = today + datetime.timedelta(days=days)
        return due(datetime.datetime.combine(day, datetime.time(hour), tzinfo=BERLIN))

    requests = {
        "overdue": due_on(-1, 23),
        "due_today": due_on(0, 0),  # earlier today: due today, not overdue
        "due_3": due_on(3, 23),
        "due_4": due_on(4, 0),
        "due_8": due_on(8, 0),
    }
    assert [requests[k].days_left() for k in requests] == [-1, 0, 3, 4, 8]
    finished = due_on(-5, 12)
    finished.status = "completed"
    request_save_as_is(dsr=finished)
    client.force_login(dpo)

    response = client.get(reverse("admin:dsr_datasubjectrequest_changelist"), {"deadline": deadline})

    listed = {r.pk for r in response.context["cl"].result_list}
    assert listed == {requests[key].pk for key in expected}
