"""The request page says how late a request is, and "Extend" shows the current deadline, the latest
allowed date and a bounded date picker; an overdue request is not offered "Extend"."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from dsr.admin_actions import steps_available
from dsr.admin_extend import extension_allowed
from dsr.deadline_words import days_left_phrase
from dsr.deadlines import extension_limit_date
from dsr.models import DataSubjectRequest
from dsr.services import request_create

pytestmark = pytest.mark.django_db


def received_days_ago(days: int) -> DataSubjectRequest:
    return request_create(
        request_type="access", channel="email", received_at=timezone.now() - datetime.timedelta(days=days)
    )


@pytest.mark.parametrize(
    ("days", "phrase"),
    [
        (12, "12 days left"),
        (1, "1 day left"),
        (0, "due today"),
        (-1, "overdue by 1 day"),
        (-3, "overdue by 3 days"),
    ],
)
def test_days_left_in_words(days, phrase):
    assert days_left_phrase(days) == phrase


@pytest.mark.parametrize(
    ("received", "phrase"), [(2, "28 days left"), (30, "due today"), (33, "overdue by 3 days")]
)
def test_the_request_page_says_how_late_the_request_is(client, dpo, received, phrase):
    dsr = received_days_ago(received)
    client.force_login(dpo)

    page = client.get(reverse("admin:dsr_datasubjectrequest_change", args=[dsr.pk])).content.decode()

    deadline = re.search(r'class="readonly">([^<]*<strong class="days-left-\w+">[^<]*)</strong>', page)
    assert deadline is not None
    assert f"{dsr.due_date:%Y-%m-%d}" in deadline.group(1) and phrase in deadline.group(1)


def step_names(dsr, user) -> list[str]:
    return [step.name for step in steps_available(dsr, user)]


def test_an_overdue_request_is_not_offered_extend(dpo):
    today = timezone.localdate()
    overdue, fresh = received_days_ago(33), received_days_ago(2)

    assert not extension_allowed(overdue, today)
    assert "extend" not in step_names(overdue, dpo)
    assert extension_allowed(fresh, today)
    assert "extend" in step_names(fresh, dpo)


def test_extend_is_offered_on_the_due_day_but_not_once_at_the_limit(dpo):
    today = timezone.localdate()
    due_today = received_days_ago(30)
    assert extension_allowed(due_today, today)

    at_limit = received_days_ago(2)
    limit = extension_limit_date(at_limit.due_at)
    at_limit.extended_until = datetime.datetime.combine(
        limit, datetime.time.max, tzinfo=timezone.get_default_timezone()
    )
    assert not extension_allowed(at_limit, today)
    closed = received_days_ago(2)
    closed.status = DataSubjectRequest.Status.WITHDRAWN
    assert not extension_allowed(closed, today)


def test_the_extend_form_shows_the_deadline_the_limit_and_a_bounded_date_picker(client, dpo):
    dsr = received_days_ago(2)
    limit = extension_limit_date(dsr.due_at)
    client.force_login(dpo)

    page = client.get(reverse("admin:dsr_datasubjectrequest_step", args=[dsr.pk, "extend"])).content.decode()

    assert f"Current deadline: {dsr.due_date:%Y-%m-%d}" in page
    assert f"Latest allowed: {limit:%Y-%m-%d}" in page
    picker = re.search(r'<input type="date"[^>]*name="until"[^>]*>', page).group(0)
    assert f'min="{dsr.due_date + datetime.timedelta(days=1):%Y-%m-%d}"' in picker
    assert f'max="{limit:%Y-%m-%d}"' in picker


@pytest.mark.parametrize("offset", [0, "limit+1"])
def test_the_extend_form_refuses_a_date_outside_its_bounds_on_the_form(client, dpo, offset):
    dsr = received_days_ago(2)
    limit = extension_limit_date(dsr.due_at)
    until = dsr.due_date if offset == 0 else limit + datetime.timedelta(days=1)
    client.force_login(dpo)

    response = client.post(
        reverse("admin:dsr_datasubjectrequest_step", args=[dsr.pk, "extend"]),
        {"until": until.isoformat(), "reason": "Many recordings."},
    )

    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    dsr.refresh_from_db()
    assert dsr.extended_until is None


def test_the_extend_form_extends_within_its_bounds(client, dpo):
    dsr = received_days_ago(2)
    limit = extension_limit_date(dsr.due_at)
    client.force_login(dpo)

    response = client.post(
        reverse("admin:dsr_datasubjectrequest_step", args=[dsr.pk, "extend"]),
        {"until": limit.isoformat(), "reason": "Many recordings."},
    )

    assert response.status_code == 302
    dsr.refresh_from_db()
    assert dsr.due_date == limit
