"""No personal data in the logs: every record of every logger, at every level, while a caller's
data goes through ingest, the DSR desk, erasure and retention, holds none of the subjects' names,
phone numbers (as given, E.164, national, digits only) or email addresses."""

from __future__ import annotations

import datetime
import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO

import phonenumbers
import pytest
from django.core.cache import cache
from django.core.files.storage import storages
from django.core.management import call_command
from django.db import connections
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from compliance_site.roles import DPO
from dsr.models import DataSubjectRequest
from dsr.packages import package_link
from dsr.services import request_create
from recordings.models import DataSubject, Recording
from recordings.vault.keys import personal_data_read
from retention.models import DeletionRecord
from retention.services import retention_sweep
from retention.tasks import run_retention_sweep
from tests.factories import UserFactory
from tests.recordings.ingest_factories import WAV, call_metadata, reference_rows, stored_files

pytestmark = pytest.mark.django_db

Status = DataSubjectRequest.Status

# Values no code, fixture or random bytes would produce by chance, so a hit is a leak.
CALLER = {
    "full_name": "Xaviera Quonkwhistle",
    "phone": "+49 30 98765432",
    "email": "Xaviera.Q@Quonk-Mail.example",
}
CORRECTED = {
    "full_name": "Xaviera Brightwater-Quonk",
    "phone": "+49 89 24681357",
    "email": "x.bq@Brightwater.example",
}
REFUSED_CALLER = {
    "full_name": "Ottoline Vexborough",
    "phone": "+49 40 55501234",
    "email": "ottoline@vexmail.example",
}
EXPIRED_CALLER = {
    "full_name": "Barnaby Thistlewick",
    "phone": "+49 221 7654321",
    "email": "barnaby@thistle.example",
}
SUBJECTS = (CALLER, CORRECTED, REFUSED_CALLER, EXPIRED_CALLER)


def forms_of(person: dict[str, str]) -> set[str]:
    """Every spelling of the person's data that would give them away."""
    number = phonenumbers.parse(person["phone"], "DE")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return {
        person["full_name"],
        *person["full_name"].split(),  # a surname alone gives the caller away too
        person["phone"],
        e164,
        e164.lstrip("+"),  # digits only
        national,
        re.sub(r"\D", "", national),  # national digits only: 030...
        person["email"],
        person["email"].lower(),
        person["email"].split("@")[0],
    }


FORBIDDEN = sorted({form.lower() for person in SUBJECTS for form in forms_of(person)}, key=len)


# --- capturing every record ----------------------------------------------------------------------

_STANDARD_ATTRIBUTES = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


@dataclass
class Captured:
    logger: str
    level: str
    texts: list[str]


class _EverythingHandler(logging.Handler):
    """Keeps, per record, everything a handler or an error report could write out: the message,
    each argument, the formatted line with its traceback, and every extra attribute."""

    formatter_ = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[Captured] = []

    def emit(self, record: logging.LogRecord) -> None:
        texts = []
        try:
            texts.append(record.getMessage())
        except Exception as exc:  # a bad format string is a bug, but not this test's
            texts.append(f"unformattable: {exc!r} {record.msg!r}")
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        texts += [repr(arg) for arg in args or ()]
        texts += [str(arg) for arg in args or ()]
        try:
            texts.append(self.formatter_.format(record))  # with exc_info and stack_info formatted
        except Exception as exc:
            texts.append(f"unformattable: {exc!r}")
        texts += [
            f"{name}={value!r}" for name, value in vars(record).items() if name not in _STANDARD_ATTRIBUTES
        ]
        self.records.append(Captured(record.name, record.levelname, texts))


@pytest.fixture
def every_log_record() -> Iterator[_EverythingHandler]:
    """Every logger at DEBUG into one handler, the SQL log included; restored afterwards."""
    handler = _EverythingHandler()
    manager = logging.root.manager
    loggers = [logging.root, *(lg for lg in manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    saved = {lg: (lg.level, lg.disabled) for lg in loggers}
    # The console would print every SQL statement: its handlers stay in place, silenced.
    silenced = {other: other.level for lg in loggers for other in lg.handlers}
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
    for other in silenced:
        other.setLevel(logging.CRITICAL + 1)
    logging.root.addHandler(handler)
    # Loggers that do not propagate (django.server, some of celery's) get the handler too.
    isolated = [lg for lg in loggers if lg is not logging.root and not lg.propagate]
    for lg in isolated:
        lg.addHandler(handler)
    previous_disable = logging.root.manager.disable
    logging.disable(logging.NOTSET)
    debug_cursors = {alias: connections[alias].force_debug_cursor for alias in connections}
    for alias in connections:
        connections[alias].force_debug_cursor = True  # django.db.backends logs each query and its params
    try:
        yield handler
    finally:
        for alias, value in debug_cursors.items():
            connections[alias].force_debug_cursor = value
        logging.disable(previous_disable)
        for lg in isolated:
            lg.removeHandler(handler)
        logging.root.removeHandler(handler)
        for lg, (level, disabled) in saved.items():
            lg.setLevel(level)
            lg.disabled = disabled
        for other, level in silenced.items():
            other.setLevel(level)


def leaks(handler: _EverythingHandler) -> list[str]:
    found = []
    for record in handler.records:
        for text in record.texts:
            lowered = text.lower()
            for form in FORBIDDEN:
                if form in lowered:
                    found.append(f"{record.logger} {record.level}: {form!r} in {text[:300]!r}")
    return found


# --- the flows -------------------------------------------------------------------------------------


@pytest.fixture
def desk(roles, db):
    cache.clear()  # the API throttle counts in the default cache
    rows = reference_rows()
    out = StringIO()
    call_command("create_integration", "pbx-privacy", stdout=out, stderr=StringIO())
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")
    return {
        **rows,
        "api": api,
        "dpo": UserFactory(username="dpo.privacy", groups=[roles[DPO]]),
        "second_dpo": UserFactory(username="dpo2.privacy", groups=[roles[DPO]]),
    }


def _push(api, person: dict[str, str], **overrides):
    metadata = call_metadata(subject=dict(person), **overrides)
    audio = io.BytesIO(WAV)
    audio.name = "call.wav"
    return api.post(
        "/api/v1/recordings/", {"audio": audio, "metadata": json.dumps(metadata)}, format="multipart"
    )


def _step(client, dsr: DataSubjectRequest, step: str, data: dict):
    return client.post(reverse("admin:dsr_datasubjectrequest_step", args=[dsr.pk, step]), data)


def test_no_personal_data_in_any_log_record(
    every_log_record, desk, client, settings, django_capture_on_commit_callbacks, jobs_eager
):
    api, dpo, second_dpo = desk["api"], desk["dpo"], desk["second_dpo"]

    # given: two calls of a caller and one of a caller whose retention has run out, pushed by the
    # telephony integration, and one push refused (unknown queue) with a third caller's data
    assert _push(api, CALLER).status_code == 201
    assert _push(api, {"phone": CALLER["phone"]}).status_code == 201
    assert _push(api, EXPIRED_CALLER).status_code == 201
    refused = _push(api, REFUSED_CALLER, queue="no-such-queue")
    assert refused.status_code == 400
    bad_phone = _push(api, {**REFUSED_CALLER, "phone": REFUSED_CALLER["phone"][:6]})
    assert bad_phone.status_code == 400
    assert DataSubject.objects.count() == 2
    caller = next(
        s for s in DataSubject.objects.all() if personal_data_read(s).full_name == CALLER["full_name"]
    )
    assert caller.recordings.count() == 2

    # and a consent withdrawal by phone (the IVR's "stop"), through the API
    withdrawal = api.post(
        "/api/v1/consents/withdrawals/",
        {"subject": {"phone": EXPIRED_CALLER["phone"]}, "purpose": "quality_assurance", "channel": "ivr"},
        format="json",
    )
    assert withdrawal.status_code == 200, withdrawal.content

    # when: an access request arrives through the API with the caller's email
    intake = api.post(
        "/api/v1/requests/",
        {"request_type": "access", "subject": {"email": CALLER["email"]}},
        format="json",
    )
    assert intake.status_code == 201, intake.content
    access = DataSubjectRequest.objects.get(reference=intake.json()["reference"])

    # and the DPO works it in the admin: identity, completion (the package), the download
    client.force_login(dpo)
    assert (
        _step(client, access, "verify", {"method": "document", "note": "Passport seen."}).status_code == 302
    )
    with django_capture_on_commit_callbacks(execute=True):  # the package job runs (eagerly)
        assert _step(client, access, "build", {}).status_code == 302
    access.refresh_from_db()
    assert access.status == Status.READY_TO_SEND
    # and emails the response to the caller's address (decrypted to send: never logged)
    with django_capture_on_commit_callbacks(execute=True):
        assert _step(client, access, "send", {"channel": "email", "note": ""}).status_code == 302
    access.refresh_from_db()
    assert access.status == Status.COMPLETED
    [package] = access.packages.all()
    download = client.get(package_link(package=package, user=dpo))
    assert download.status_code == 200
    b"".join(download.streaming_content)

    # and a rectification registered in the admin, matched by phone, verified, carried out
    received = timezone.localtime() - datetime.timedelta(hours=1)
    added = client.post(
        reverse("admin:dsr_datasubjectrequest_add"),
        {
            "request_type": "rectification",
            "channel": "letter",
            "language": "en",
            "received_at_0": received.strftime("%Y-%m-%d"),
            "received_at_1": received.strftime("%H:%M:%S"),
        },
    )
    assert added.status_code == 302
    rectification = DataSubjectRequest.objects.get(request_type="rectification")
    # a handled error first: a match that finds nobody stays on the form with its message
    no_match = _step(
        client, rectification, "match", {"reference": "", "phone": REFUSED_CALLER["phone"], "email": ""}
    )
    assert no_match.status_code == 200 and "No subject matches" in no_match.content.decode()
    assert (
        _step(
            client, rectification, "match", {"reference": "", "phone": CALLER["phone"], "email": ""}
        ).status_code
        == 302
    )
    assert (
        _step(client, rectification, "verify", {"method": "document", "note": "Letter signed."}).status_code
        == 302
    )
    assert _step(client, rectification, "complete", CORRECTED).status_code == 302
    assert personal_data_read(DataSubject.objects.get(pk=caller.pk)).full_name == CORRECTED["full_name"]

    # and the DPO looks the subject up by phone and by email, and opens the subject's page
    subjects_url = reverse("admin:recordings_datasubject_changelist")
    assert client.get(subjects_url, {"q": CORRECTED["phone"]}).status_code == 200
    assert client.get(subjects_url, {"q": CORRECTED["email"]}).status_code == 200
    assert client.get(reverse("admin:recordings_datasubject_change", args=[caller.pk])).status_code == 200
    # and adding a subject with a malformed phone number is an error on the form (handled)
    invalid = client.post(
        reverse("admin:recordings_datasubject_add"),
        {"reference": "DS-LOGTEST", **REFUSED_CALLER, "phone": "+49 40 5"},
    )
    assert invalid.status_code == 200 and "phone" in invalid.content.decode().lower()

    # and an erasure request is prepared by one DPO and approved by another, blobs deleted
    erasure = request_create(
        request_type="erasure", channel="email", received_at=timezone.now(), subject=caller
    )
    assert (
        _step(client, erasure, "verify", {"method": "document", "note": "ID card seen."}).status_code == 302
    )
    assert _step(client, erasure, "prepare", {"confirm": "on"}).status_code == 302
    client.force_login(second_dpo)
    with django_capture_on_commit_callbacks(execute=True):
        approved = _step(client, erasure, "approve", {"confirm": "on"})
    assert approved.status_code == 302
    erasure.refresh_from_db()
    assert erasure.status == Status.COMPLETED
    assert not Recording.objects.filter(subject=caller).exclude(status="erased").exists()

    # and the nightly sweep removes the expired caller's call, its blob failing once (handled,
    # logged with its traceback) and deleted by the next sweep
    expired = Recording.objects.exclude(subject=caller).get()
    Recording.objects.filter(pk=expired.pk).update(keep_until=timezone.now() - datetime.timedelta(days=1))
    storage = storages["recordings"]
    real_delete = storage.delete

    def failing_delete(name):
        raise OSError(f"[Errno 5] Input/output error: {name}")

    storage.delete = failing_delete
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run_retention_sweep.apply()
    finally:
        storage.delete = real_delete
    with django_capture_on_commit_callbacks(execute=True):
        retention_sweep(now=timezone.now())
    assert Recording.objects.filter(status="erased").count() == 3
    assert DeletionRecord.objects.count() == 3
    assert [path for path in stored_files() if path.name.endswith(".wav.tink")] == []  # no audio left

    # then: all this was logged (the test hears the loggers it claims to hear) ...
    loggers = {record.logger for record in every_log_record.records}
    assert {
        "django.request",
        "django.db.backends",
        "recordings.intake.api",
        "retention.services",
        "celery.app.trace",
    } <= loggers
    assert any(
        record.level == "ERROR" and "Traceback" in " ".join(record.texts)
        for record in every_log_record.records
    )
    # ... and not one record names, rings or mails a subject
    found = leaks(every_log_record)
    assert found == [], "\n".join(found)


def test_the_check_finds_a_leak_when_there_is_one(every_log_record):
    """The detector itself: a record carrying a caller's number in any spelling is caught."""
    logging.getLogger("recordings.intake.api").debug("matched %s", "+493098765432")
    logging.getLogger("celery.worker").info("call from 030 98765432")
    try:
        raise ValueError(CALLER["email"].lower())
    except ValueError:
        logging.getLogger("django.request").error("Internal Server Error: /x", exc_info=True)
    logging.getLogger("dsr").info("plain", extra={"person": {"name": "quonkwhistle"}})

    found = leaks(every_log_record)

    assert len({line.split(":")[0] for line in found}) == 4


@pytest.mark.parametrize(
    "term", [CALLER["phone"], "030 98765432", CALLER["email"]], ids=["e164", "national", "email"]
)
@pytest.mark.parametrize(
    "changelist",
    [
        "admin:recordings_datasubject_changelist",
        "admin:recordings_recording_changelist",
        "admin:dsr_requestnote_changelist",
    ],
)
def test_an_admin_search_by_phone_or_email_never_sends_it_to_the_database_in_clear(
    client, dpo, term, changelist
):
    # given: a subject with a call; the DPO searches for them by phone or email
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import DataSubjectFactory, RecordingFactory

    subject = DataSubjectFactory(full_name=CALLER["full_name"], phone=CALLER["phone"], email=CALLER["email"])
    RecordingFactory(subject=subject)
    client.force_login(dpo)

    # when
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(changelist), {"q": term})

    # then: found through the blind index (where the model has a subject), and the term is in no
    # statement the database received
    assert response.status_code == 200
    if changelist != "admin:dsr_requestnote_changelist":
        assert response.context["cl"].result_count == 1
    sql = " ".join(query["sql"] for query in queries.captured_queries).lower()
    assert term.lower() not in sql
    assert re.sub(r"\D", "", term) not in re.sub(r"\s", "", sql) or "@" in term
