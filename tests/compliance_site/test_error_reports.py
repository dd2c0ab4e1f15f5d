"""Error reports (the 500 email to ADMINS, in text and HTML) and the development server's request
log carry no personal data: not from the form, the query string, an uploaded file's name or a
frame's local variables."""

from __future__ import annotations

import io
import logging
import sys
from urllib.parse import quote

import pytest
from django.core import mail
from django.core.signals import got_request_exception
from django.urls import reverse
from django.views.debug import get_exception_reporter_class, get_exception_reporter_filter

from compliance_site.error_reports import PersonalDataExceptionReporter, PersonalDataExceptionReporterFilter
from recordings.vault.keys import PersonalData

pytestmark = pytest.mark.django_db

NAME, PHONE, EMAIL = "Philippa Zweistrom", "+49 30 86421357", "philippa.zweistrom@mailhost.example"
SECRETS = (NAME, "Zweistrom", PHONE, "+493086421357", "3086421357", EMAIL, "philippa.zweistrom")


@pytest.fixture
def broken_subject_create(monkeypatch):
    """The key service fails while a subject is added: an unhandled error with the new
    subject's data in the form, the URL and the stack."""

    def fail(*, personal, reference=""):
        name_in_a_local = personal.full_name  # noqa: F841 - what a frame's variables would show
        raise RuntimeError("key service unavailable")

    monkeypatch.setattr("recordings.admin.subjects.subject_create", fail)


@pytest.fixture
def raised():
    caught = []

    def keep(sender, request, **kwargs):
        caught.append((request, sys.exc_info()))

    got_request_exception.connect(keep)
    yield caught
    got_request_exception.disconnect(keep)


def _post_new_subject(client):
    upload = io.BytesIO(b"RIFF")
    upload.name = "philippa-zweistrom-call.wav"
    url = reverse("admin:recordings_datasubject_add") + "?_changelist_filters=" + quote(f"q={PHONE}")
    return client.post(
        url, {"reference": "DS-REPORT", "full_name": NAME, "phone": PHONE, "email": EMAIL, "file": upload}
    )


def test_the_500_email_and_its_html_report_hold_no_personal_data(
    client, dpo, settings, broken_subject_create, raised
):
    # given: error emails on, as in production
    settings.ADMINS = [("Ops", "ops@custos.example")]
    settings.DEBUG = False
    client.raise_request_exception = False
    client.force_login(dpo)

    # when
    response = _post_new_subject(client)

    # then: the admin got the report ...
    assert response.status_code == 500
    [email] = mail.outbox
    assert "RuntimeError" in email.body and "key service unavailable" in email.body
    assert "full_name" in email.body  # the names of what was posted, for debugging
    # ... with the values hidden, in the email and in the full HTML report with every frame
    [(request, exc_info)] = raised
    reporter = get_exception_reporter_class(request)(request, *exc_info)
    assert isinstance(reporter, PersonalDataExceptionReporter)
    assert isinstance(reporter.filter, PersonalDataExceptionReporterFilter)
    html, text = reporter.get_traceback_html(), reporter.get_traceback_text()
    assert "name_in_a_local" in html  # the frames' variables are listed ...
    for report in (email.subject, email.body, text, html):
        for secret in SECRETS:
            assert secret.lower() not in report.lower(), (secret, report[:200])
        assert quote(PHONE) not in report and quote(EMAIL) not in report


def test_with_debug_on_the_developer_sees_everything(rf, settings):
    # Django's own rule: the filter protects production; a developer's DEBUG page is theirs.
    settings.DEBUG = True
    request = rf.post("/admin/", {"phone": PHONE})

    assert get_exception_reporter_filter(request).get_post_parameters(request)["phone"] == PHONE


def test_a_personal_data_value_never_shows_in_its_repr():
    personal = PersonalData(full_name=NAME, phone=PHONE, email="")

    assert repr(personal) == "PersonalData(full_name=***, phone=***, email='')"
    assert NAME not in f"{personal}" and PHONE not in f"{[personal]}"


def test_the_development_servers_request_log_leaves_query_strings_out():
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    server = logging.getLogger("django.server")
    handler = Keep()
    server.addHandler(handler)
    try:
        # as django.core.servers.basehttp.WSGIRequestHandler.log_message writes it
        server.info(
            '"%s" %s %s', f"GET /admin/recordings/datasubject/?q={quote(PHONE)} HTTP/1.1", "200", "5120"
        )
    finally:
        server.removeHandler(handler)

    assert records == ['"GET /admin/recordings/datasubject/?… HTTP/1.1" 200 5120']
