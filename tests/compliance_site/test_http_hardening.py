"""Responses carry the content security policy and the frame, referrer, sniffing and opener
policies; staff sessions end after the idle timeout, and each request moves the end forward."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from compliance_site.sessions import session_key_digest
from tests.factories import RecordingFactory


def csp_directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize("url", ["/admin/login/", "/admin/", "/admin/recordings/recording/"])
def test_admin_pages_carry_the_security_headers(client, dpo, url):
    client.force_login(dpo)

    response = client.get(url, follow=True)

    assert response.status_code == 200
    directives = csp_directives(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["media-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_recording_page_and_dashboard_have_no_inline_script_or_style(client, dpo, queue_a):
    # The policy forbids them; the browser test (tests/e2e/test_content_security_policy.py)
    # watches for violations, this one finds them in the markup.
    recording = RecordingFactory(queue=queue_a)
    client.force_login(dpo)

    for url in (reverse("admin:index"), reverse("admin:recordings_recording_change", args=[recording.pk])):
        body = client.get(url).content.decode()
        assert "<script>" not in body and "<style" not in body, url
        assert " style=" not in body, url
        assert " onclick=" not in body and "javascript:" not in body, url


def test_the_session_cookie_is_http_only_lax_and_ends_with_the_browser(client, dpo):
    response = client.post(
        reverse("admin:login"), {"username": dpo.username, "password": "correct horse battery staple"}
    )

    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == ""  # a browser-session cookie; the server ends it when idle


def _expiry(client) -> datetime.datetime:
    return Session.objects.get(session_key=session_key_digest(client.session.session_key)).expire_date


def test_each_request_moves_the_idle_deadline_forward(client, dpo):
    client.force_login(dpo)
    assert settings.SESSION_COOKIE_AGE == 30 * 60  # the default idle timeout

    # given: a session whose deadline is ten minutes away
    Session.objects.filter(session_key=session_key_digest(client.session.session_key)).update(
        expire_date=timezone.now() + datetime.timedelta(minutes=10)
    )

    # when: the user does anything
    assert client.get("/admin/").status_code == 200

    # then: the deadline is the full idle timeout from now again
    remaining = _expiry(client) - timezone.now()
    assert datetime.timedelta(minutes=29) < remaining <= datetime.timedelta(minutes=30)


def test_an_idle_session_has_ended(client, dpo):
    # given: a staff session whose last request was longer ago than the idle timeout
    client.force_login(dpo)
    Session.objects.filter(session_key=session_key_digest(client.session.session_key)).update(
        expire_date=timezone.now() - datetime.timedelta(seconds=1)
    )

    # when: they come back
    response = client.get("/admin/")

    # then: they log in again
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
