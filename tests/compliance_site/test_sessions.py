"""Staff sessions: server-side, their keys stored only as digests (a database dump yields no cookie
that logs in), expired rows purged nightly under beat, and only this backend accepted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core.checks import run_checks
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from compliance_site.models import Authenticator
from compliance_site.schedule import provision_periodic_tasks
from compliance_site.services import authenticator_prepare, enrolment_code_issue, enrolment_code_redeem
from compliance_site.sessions import SessionStore, session_key_digest
from compliance_site.tasks import purge_stale_login_state
from tests.compliance_site.test_two_factor import (
    INDEX,
    administrator,
    enrol_page_with_code,
    enrolled,
    log_in_with_password,
    totp_now,
    verify,
)

pytestmark = pytest.mark.django_db


def _dump_session_table() -> list[tuple[str, str]]:
    """Every row of the session table, read with SQL as a DBA (or a backup) would."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT session_key, session_data FROM django_session")
        return list(cursor.fetchall())


def test_a_dump_of_the_session_table_yields_no_usable_cookie(client, dpo, settings):
    # given: the DPO logged in with both factors
    settings.CUSTOS_REQUIRE_2FA = True
    device, _ = enrolled(dpo)
    log_in_with_password(client, dpo.username)
    verify(client, totp_now(device, steps_ahead=1))
    assert client.get(INDEX).status_code == 200
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value

    # when: a DBA dumps the session table and tries each key as a cookie
    rows = _dump_session_table()
    assert rows
    for key, _data in rows:
        thief = client.__class__()
        thief.cookies[django_settings.SESSION_COOKIE_NAME] = key
        response = thief.get(INDEX)

        # then: no row logs in; the table never holds the cookie's value
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
        assert key != cookie
    assert cookie not in repr(rows)
    assert session_key_digest(cookie) in {key for key, _ in rows}
    # while the real cookie still works
    assert client.get(INDEX).status_code == 200


def test_every_store_operation_goes_through_the_digest():
    # create / save
    store = SessionStore()
    store["n"] = 1
    store.create()
    key = store.session_key
    assert not Session.objects.filter(session_key=key).exists()
    assert Session.objects.filter(session_key=session_key_digest(key)).exists()
    # exists / load
    assert store.exists(key) and not store.exists(session_key_digest(key))
    assert SessionStore(key).load() == {"n": 1}
    assert SessionStore(session_key_digest(key)).load() == {}
    # save an update
    again = SessionStore(key)
    again["n"] = 2
    again.save()
    assert SessionStore(key).load() == {"n": 2}
    assert Session.objects.count() == 1
    # cycle_key: new digest, old one gone, data kept
    again.cycle_key()
    assert again.session_key != key
    assert not Session.objects.filter(session_key=session_key_digest(key)).exists()
    assert SessionStore(again.session_key).load() == {"n": 2}
    # delete / flush
    again.delete()
    assert not Session.objects.exists()
    # clear_expired
    old = SessionStore()
    old.create()
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    SessionStore.clear_expired()
    assert not Session.objects.exists()


def test_signed_cookie_and_plain_database_sessions_are_refused(settings):
    for engine in ("django.contrib.sessions.backends.signed_cookies", "django.contrib.sessions.backends.db"):
        settings.SESSION_ENGINE = engine
        assert "custos.E020" in {message.id for message in run_checks()}, engine
    settings.SESSION_ENGINE = "compliance_site.sessions"
    assert "custos.E020" not in {message.id for message in run_checks()}


def test_expired_sessions_and_unconfirmed_enrolments_are_purged_under_beat(client, dpo, qa_lead_a):
    # given: beat's schedule provisioned; an expired session, a live one, an old and a recent
    # unconfirmed enrolment
    provision_periodic_tasks()
    task = PeriodicTask.objects.get(name="Expired sessions and enrolments")
    assert task.task == "compliance_site.tasks.purge_stale_login_state" and task.enabled
    expired, live = SessionStore(), SessionStore()
    expired.create()
    live.create()
    Session.objects.filter(session_key=session_key_digest(expired.session_key)).update(
        expire_date=timezone.now() - timedelta(minutes=1)
    )
    code = enrolment_code_issue(user=qa_lead_a, actor=administrator())
    stale = authenticator_prepare(user=qa_lead_a, code_id=enrolment_code_redeem(user=qa_lead_a, code=code).pk)
    Authenticator.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(hours=1))
    confirmed, _ = enrolled(dpo)

    # when: the task runs
    purged = purge_stale_login_state()

    # then: the expired session and the stale enrolment are gone; the rest stays
    assert purged == 2
    assert list(Session.objects.values_list("session_key", flat=True)) == [
        session_key_digest(live.session_key)
    ]
    assert not Authenticator.objects.filter(pk=stale.pk).exists()
    assert Authenticator.objects.filter(pk=confirmed.pk, confirmed=True).exists()


def test_a_stale_enrolment_cannot_be_confirmed(client, qa_lead_a, settings):
    settings.CUSTOS_REQUIRE_2FA = True
    enrol_page_with_code(client, qa_lead_a)
    device = Authenticator.objects.get(user=qa_lead_a)
    Authenticator.objects.filter(pk=device.pk).update(created_at=timezone.now() - timedelta(minutes=16))

    response = client.post(reverse("admin:second_factor_enrol"), {"token": totp_now(device), "next": INDEX})

    assert "no longer open" in response.content.decode()
    device.refresh_from_db()
    assert device.confirmed is False


@pytest.mark.parametrize("cookie", ["x" * 5000, "abc\x00def12345", "' OR '1'='1", "é" * 40, "0" * 40])
def test_a_hostile_session_cookie_is_just_no_session(client, cookie):
    client.cookies[django_settings.SESSION_COOKIE_NAME] = cookie

    response = client.get(INDEX)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_production_refuses_another_session_engine():
    from compliance_site.production import production_problems

    current = {name: getattr(django_settings, name) for name in dir(django_settings) if name.isupper()}
    for engine in (
        "django.contrib.sessions.backends.signed_cookies",
        "django.contrib.sessions.backends.cache",
    ):
        problems = production_problems({**current, "SESSION_ENGINE": engine})
        assert any("SESSION_ENGINE must be" in problem for problem in problems), engine
    assert not any("SESSION_ENGINE" in problem for problem in production_problems(current))
