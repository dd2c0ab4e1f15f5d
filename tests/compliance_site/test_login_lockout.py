"""Login throttling (django-axes): five wrong passwords for a username from one address lock that
pair out for the cool-off period, right password or not; the DPO reads the attempts in the admin,
a QA lead cannot."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compliance_site.tasks import prune_login_logs

PASSWORD = "correct horse battery staple"  # UserFactory's


def attempt(client: Client, username: str, password: str):
    return client.post(
        reverse("admin:login"), {"username": username, "password": password, "next": "/admin/"}
    )


def test_the_sixth_attempt_is_locked_out_even_with_the_right_password(client, qa_lead_a):
    # given: five wrong passwords for the QA lead from one address
    for n in range(5):
        response = attempt(client, qa_lead_a.username, f"wrong password {n}")
        assert response.status_code in (200, 429), n
    assert AccessAttempt.objects.get(username=qa_lead_a.username).failures_since_start == 5

    # when: the right password follows
    response = attempt(client, qa_lead_a.username, PASSWORD)

    # then: refused with the lockout page, and no session
    assert response.status_code == 429
    assert 'id="login-locked"' in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_four_wrong_passwords_still_let_the_right_one_in_and_reset_the_count(client, qa_lead_a):
    for n in range(4):
        attempt(client, qa_lead_a.username, f"wrong password {n}")

    response = attempt(client, qa_lead_a.username, PASSWORD)

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert not AccessAttempt.objects.filter(username=qa_lead_a.username).exists()


def test_the_lockout_is_keyed_on_username_and_address(qa_lead_a, qa_lead_b):
    # given: QA lead A's username locked out from one address
    guesser = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(5):
        attempt(guesser, qa_lead_a.username, f"wrong password {n}")

    # then: A still logs in from their own address, and B from the guesser's
    assert attempt(Client(REMOTE_ADDR="198.51.100.20"), qa_lead_a.username, PASSWORD).status_code == 302
    assert attempt(Client(REMOTE_ADDR="203.0.113.7"), qa_lead_b.username, PASSWORD).status_code == 302
    assert attempt(Client(REMOTE_ADDR="203.0.113.7"), qa_lead_a.username, PASSWORD).status_code == 429


@pytest.fixture
def locked_out_attempts(client, qa_lead_a) -> AccessAttempt:
    for n in range(6):
        attempt(client, qa_lead_a.username, f"wrong password {n}")
    return AccessAttempt.objects.get(username=qa_lead_a.username)


def test_the_dpo_sees_the_attempts_and_the_lockout_in_the_admin(client, dpo, locked_out_attempts):
    client.force_login(dpo)

    attempts = client.get(reverse("admin:axes_accessattempt_changelist"))
    detail = client.get(reverse("admin:axes_accessattempt_change", args=[locked_out_attempts.pk]))
    failures = client.get(reverse("admin:axes_accessfailurelog_changelist"))
    index = client.get(reverse("admin:index"))

    assert attempts.status_code == 200
    assert locked_out_attempts.username in attempts.content.decode()
    assert "Locked Out" in attempts.content.decode()
    assert detail.status_code == 200
    assert "wrong password" not in detail.content.decode()  # axes masks the password it keeps
    assert failures.status_code == 200
    assert AccessFailureLog.objects.filter(username=locked_out_attempts.username, locked_out=True).exists()
    assert reverse("admin:axes_accessattempt_changelist") in index.content.decode()


def test_the_dpo_can_read_but_not_delete_or_clean_up_attempts(client, dpo, locked_out_attempts):
    client.force_login(dpo)
    url = reverse("admin:axes_accessattempt_changelist")

    page = client.get(url).content.decode()
    delete = client.post(
        reverse("admin:axes_accessattempt_delete", args=[locked_out_attempts.pk]), {"post": "yes"}
    )
    action = client.post(
        url, {"action": "cleanup_expired_attempts", "_selected_action": [locked_out_attempts.pk]}
    )

    assert 'name="action"' not in page
    assert delete.status_code == 403
    assert action.status_code in (200, 302)
    assert AccessAttempt.objects.filter(pk=locked_out_attempts.pk).exists()


@pytest.mark.parametrize("persona", ["qa_lead_b", "analyst", "stranger"])
def test_other_staff_cannot_see_the_attempts(client, request, persona, locked_out_attempts):
    client.force_login(request.getfixturevalue(persona))

    for name in (
        "admin:axes_accessattempt_changelist",
        "admin:axes_accessfailurelog_changelist",
        "admin:axes_accesslog_changelist",
    ):
        assert client.get(reverse(name)).status_code == 403, name
    assert (
        client.get(reverse("admin:axes_accessattempt_change", args=[locked_out_attempts.pk])).status_code
        == 403
    )


def test_login_logs_older_than_the_keep_period_are_pruned(client, qa_lead_a, settings):
    # given: two failures, one of them dated past the keep period
    settings.CUSTOS_LOGIN_LOG_DAYS = 90
    attempt(client, qa_lead_a.username, "wrong password 1")
    attempt(client, qa_lead_a.username, "wrong password 2")
    old = AccessFailureLog.objects.order_by("pk").first()
    AccessFailureLog.objects.filter(pk=old.pk).update(attempt_time=timezone.now() - timedelta(days=91))

    # when
    pruned = prune_login_logs()

    # then
    assert pruned == 1
    assert list(AccessFailureLog.objects.values_list("pk", flat=True)) != [old.pk]
    assert AccessFailureLog.objects.count() == 1
