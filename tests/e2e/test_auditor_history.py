"""The auditor reads a request's history in Chromium: statuses by their labels, an empty earlier
value as "—", times in Berlin to the minute. Screenshots go to var/e2e/ (CI keeps them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from compliance_site.model_update import model_update
from compliance_site.roles import AUDITOR, DPO, PRIVACY_ANALYST
from dsr.models import DataSubjectRequest
from dsr.services import request_create
from dsr.workflow import request_assign

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery-staple-42"  # throwaway test accounts
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "e2e"


def _user(username: str, role: str):
    if not Group.objects.filter(name=role).exists():
        from compliance_site.provisioning import provision

        provision()
    user = get_user_model().objects.create_user(username=username, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def test_the_auditor_reads_a_requests_history_in_labels_and_local_time(live_server, page, console_log):
    # given: a request assigned to an analyst (no assignee before) and completed by the DPO
    dpo = _user("dana.dpo", DPO)
    analyst = _user("ana.analyst", PRIVACY_ANALYST)
    _user("aud.auditor", AUDITOR)
    dsr = request_create(request_type="access", channel="email", received_at=timezone.now(), actor=dpo)
    request_assign(dsr=dsr, assignee=analyst, actor=dpo)
    dsr.refresh_from_db()
    model_update(dsr, actor=dpo, status="completed", closed_at=timezone.now(), outcome="Package sent.")
    closed = timezone.localtime(DataSubjectRequest.objects.get(pk=dsr.pk).closed_at)

    # when: the auditor logs in and opens the request's history
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "aud.auditor")
    page.fill("#id_password", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    page.goto(live_server.url + reverse("admin:dsr_datasubjectrequest_history", args=[dsr.pk]))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "auditor-request-history.png"), full_page=True)

    # then
    table = page.locator("#change-history")
    text = table.inner_text()
    items = table.locator("ul.history-changes li").all_inner_texts()
    changes = [" ".join(change.split()) for change in items]
    assert "Status: New → Completed" in changes, changes
    assert "Assignee: — → ana.analyst" in changes, changes
    assert "pk=None" not in text and "Deleted user" not in text
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d{6}", text), "no microseconds"
    assert "+00:00" not in text
    dates = [cell.strip() for cell in table.locator("td.history-date").all_inner_texts()]
    assert dates and all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", cell) for cell in dates), dates
    assert f"{closed:%Y-%m-%d %H:%M}" in text  # the closing time, as Berlin reads it
    assert "EUROPE/BERLIN" in page.locator("#change-history thead").inner_text().upper()
    assert "Assignee: ana.analyst → —" not in "\n".join(changes)
    assert not console_log.errors, "\n".join(console_log.errors)
