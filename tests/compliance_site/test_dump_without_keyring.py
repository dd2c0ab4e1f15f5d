"""A database reader gets nothing usable (issue 18, point 4): a ``pg_dump`` restored into an empty
database, read with no keyring, holds no audio, no name, phone or email, no second factor, no
session, no token, no key, in any encoding an attacker would try; and what it does hold (digests,
wrapped keys) is refused where the real thing would be accepted.

Seeded through the services, as Custos writes them in use: a subject, a call with its audio and
transcript, a DPO with an authenticator and recovery codes logged in through the login pages (the
cookie kept), a failed login, an integration token, a share link, an access request whose package
link went to the subject through the outbox, and an open enrolment code. PostgreSQL only: the
dump is ``pg_dump``'s, restored with ``pg_restore``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import hashlib
import io
import json
import os
import re
import subprocess
import uuid
import wave
import zlib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from compliance_site.audit.audit_keys import audit_key_current
from compliance_site.keys import KeyProviderError, get_provider, reset_provider_cache
from compliance_site.models import recovery_code_digest
from compliance_site.services import enrolment_code_issue
from compliance_site.sessions import session_key_digest
from dsr.models import DataPackage, LetterDelivery
from dsr.packages import package_key
from dsr.response_delivery import response_send_email
from dsr.services import request_create
from dsr.subject_links import subject_package_from_token
from dsr.workflow import request_complete, request_identity_verify
from recordings.models import Recipient, Share, SubjectKey
from recordings.redaction.transcripts import transcript_store
from recordings.sharing.services import share_create, share_for_token
from recordings.vault.keys import recording_key, subject_key, subject_key_aad
from tests.compliance_site.test_api_auth import create_integration
from tests.compliance_site.test_two_factor import (
    INDEX,
    PASSWORD,
    enrolled,
    log_in_with_password,
    totp_now,
    verify,
)
from tests.factories import DataSubjectFactory, RecordingFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a pg_dump restored with pg_restore"),
    pytest.mark.timeout(600),
]

NAME = "Wilhelmina Quaxbauer-Zettl"
PHONE_TYPED = "030 9018 2736"  # as the agent typed it; stored normalised to E.164
PHONE_E164 = "+493090182736"
EMAIL = "Wilhelmina.Quaxbauer@Example.org"
TRANSCRIPT = f"Agent: Good morning.\nCaller: This is {NAME}, calling about invoice ZEBRA-4711-QUOKKA."
TYPO = PASSWORD + "s"  # a failed login's password: one letter off the real one

# Every column whose name says it may hold a secret, and why what it holds is not usable without
# the keyring or SECRET_KEY. A new such column fails the test until it is looked at and listed.
SECRET_COLUMNS = {
    ("custos_user", "password"): "Django's salted password hash",
    ("django_session", "session_key"): "HMAC digest of the cookie under SECRET_KEY",
    ("reviews_scorecardquestion", "key"): "a question's name across scorecard versions, not a secret",
    ("compliance_site_enrolmentcode", "digest"): "SHA-256 of a 100-bit code",
    ("compliance_site_authenticator", "key_wrapped"): "TOTP secret wrapped by the master key",
    ("compliance_site_authenticator", "key_version"): "master-key version name",
    ("compliance_site_recoverycode", "digest"): "HMAC digest under SECRET_KEY",
    ("compliance_site_integrationtoken", "digest"): "SHA-256 of a 256-bit token",
    ("compliance_site_integrationtoken", "prefix"): "first 8 characters, to tell tokens apart",
    ("recordings_share", "token_hash"): "SHA-256 of a 256-bit token",
    ("recordings_subjectkey", "wrapped_key"): "wrapped by the master key",
    ("recordings_recordingkey", "wrapped_key"): "wrapped by the subject key",
    ("recordings_atrestredaction", "target_wrapped_key"): "a recording key wrapped by the subject key",
    ("recordings_atrestredaction", "previous_wrapped_key"): "a recording key wrapped by the subject key",
    ("dsr_datapackage", "wrapped_key"): "wrapped by the subject key",
    ("audit_auditkey", "wrapped_key"): "wrapped by the master key",
    ("recordings_datasubject", "phone_index"): "blind index: HMAC under the index key (keyring)",
    ("recordings_datasubject", "email_index"): "blind index: HMAC under the index key (keyring)",
    ("recordings_historicaldatasubject", "phone_index"): "blind index, as the live row",
    ("recordings_historicaldatasubject", "email_index"): "blind index, as the live row",
    ("recordings_accessevent", "hash"): "the chain's HMAC",
    ("recordings_accessevent", "prev_hash"): "the chain's HMAC",
    ("recordings_accessevent", "key_version"): "audit-key label",
    ("recordings_auditchainhead", "last_hash"): "the chain's HMAC",
    ("recordings_auditchainhead", "keyed_from"): "a sequence number",
    ("recordings_recording", "checksum_sha256"): "SHA-256 of the audio (the audio is not in the dump)",
    ("recordings_historicalrecording", "checksum_sha256"): "as the live row",
    ("recordings_mutedrendition", "checksum_sha256"): "SHA-256 of a muted rendition (not in the dump)",
    ("django_celery_beat_periodictask", "routing_key"): "a queue name",
    ("custos_cache", "cache_key"): "counter names with client addresses; no secret in the values",
    ("axes_accesslog", "session_hash"): "axes' SHA-256 of a session key (190 random bits): no cookie",
}
SECRET_NAME = re.compile(r"token|secret|key|passw|digest|hash|index|checksum", re.IGNORECASE)
NOT_SECRET_NAME = re.compile(r"(_id|_ptr_id|^id)$|^history_|^(primary_key|monkey)$")


def _wav(seed: bytes) -> bytes:
    """A call: a WAV whose frames are distinct random bytes from the first sample on."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(seed + os.urandom(16_000))
    return buffer.getvalue()


def _encodings(secret: bytes) -> set[bytes]:
    """The ways an attacker would look for ``secret`` in a dump."""
    b32 = base64.b32encode(secret).rstrip(b"=")
    forms = {
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        base64.b64encode(secret).rstrip(b"="),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
        b32,
        b32.lower(),
    }
    return {form for form in forms if len(form) >= 8}


def _text(value: str) -> set[bytes]:
    return {value.encode(), value.lower().encode()}


def _decodings(cell: bytes) -> Iterator[bytes]:
    """A cell as read, and every decoding of it an attacker would try: hex, base64, and the
    payload of a Django-signed value (the session data), decompressed."""
    yield cell
    yield cell.lower()
    text = cell.strip()
    if re.fullmatch(rb"(?:[0-9a-fA-F]{2})+", text):
        yield binascii.unhexlify(text)
    for part in re.split(rb"[:\s\"',]", text):
        body, compressed = (part[1:], True) if part.startswith(b".") else (part, False)
        if len(body) < 12 or not re.fullmatch(rb"[A-Za-z0-9+/_=-]+", body):
            continue
        try:
            decoded = base64.urlsafe_b64decode(body.replace(b"+", b"-").replace(b"/", b"_") + b"==")
        except (binascii.Error, ValueError):
            continue
        yield decoded
        if compressed:
            with contextlib.suppress(zlib.error):
                yield zlib.decompress(decoded)


class _Restored:
    """The test database dumped with ``pg_dump -Fc`` and restored with ``pg_restore`` into a new
    empty database; read only through its own connection."""

    def __init__(self, folder: Path) -> None:
        params = connection.settings_dict
        self._env = {**os.environ, "PGPASSWORD": params.get("PASSWORD") or ""}
        self._base = ["-h", params["HOST"] or "127.0.0.1", "-p", str(params["PORT"] or 5432)]
        self._base += ["-U", params["USER"]]
        self.dbname = f"custos_restored_{uuid.uuid4().hex[:8]}"
        dump = folder / "custos.dump"
        self._run("pg_dump", "-Fc", "--no-owner", "-f", str(dump), params["NAME"])
        self._run("createdb", self.dbname)
        self._run("pg_restore", "--no-owner", "--exit-on-error", "-d", self.dbname, str(dump))
        self.conn = psycopg.connect(
            host=params["HOST"] or "127.0.0.1",
            port=params["PORT"] or 5432,
            user=params["USER"],
            password=params.get("PASSWORD") or None,
            dbname=self.dbname,
            autocommit=True,
        )

    def _run(self, *command: str) -> None:
        done = subprocess.run(
            [command[0], *self._base, *command[1:]], env=self._env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{command[0]} failed: {done.stderr}"

    def rows(self, sql: str, *params: object) -> list[tuple]:
        return self.conn.execute(sql, params).fetchall()

    def columns(self) -> list[tuple[str, str, str]]:
        """(table, column, type) of every text, bytea and json column of the restored schema."""
        return self.rows(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN "
            "('text', 'character varying', 'character', 'bytea', 'json', 'jsonb') "
            "ORDER BY table_name, column_name"
        )

    def cells(self) -> Iterator[tuple[str, str, bytes]]:
        """(table, column, value as bytes) of every non-empty cell of those columns."""
        for table, column, data_type in self.columns():
            cast = "::text" if data_type in ("json", "jsonb") else ""
            for (value,) in self.rows(f'SELECT "{column}"{cast} FROM "{table}" WHERE "{column}" IS NOT NULL'):
                raw = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
                if raw:
                    yield table, column, raw

    def drop(self) -> None:
        self.conn.close()
        self._run("dropdb", "--force", self.dbname)


@pytest.fixture
def restore(tmp_path):
    made: list[_Restored] = []

    def restore() -> _Restored:
        made.append(_Restored(tmp_path))
        return made[-1]

    yield restore
    for restored in made:
        restored.drop()


@pytest.fixture
def seeded(settings, roles, dpo, jobs_eager) -> dict:
    """What Custos holds after a working day, written through its services; the secrets as the
    people who hold them know them."""
    settings.CUSTOS_REQUIRE_2FA = True
    audio = _wav(b"QUOKKA-AUDIO-FIRST-SAMPLES-" + os.urandom(16))
    subject = DataSubjectFactory(full_name=NAME, phone=PHONE_TYPED, email=EMAIL)
    recording = RecordingFactory(subject=subject, audio=audio)
    transcript_store(recording, TRANSCRIPT, language="en", source="test", actor=dpo)

    # the DPO's second factor, and a real login through the pages (the cookie is what they hold)
    device, recovery_codes = enrolled(dpo)
    totp_secret = device.bin_key
    browser = Client()
    log_in_with_password(browser, dpo.username)
    verify(browser, totp_now(device, steps_ahead=1))
    assert browser.get(INDEX).status_code == 200
    cookie = browser.cookies[django_settings.SESSION_COOKIE_NAME].value
    # and someone's failed login, one letter off the password (axes keeps the attempt)
    Client().post(reverse("admin:login"), {"username": dpo.username, "password": TYPO})

    api_token = create_integration()
    recipient = Recipient.objects.create(name="Dispute Lawyers LLP", role="third_party", country="DE")
    _share, share_token = share_create(
        recording=recording,
        recipient=recipient,
        ground="legal_claim",
        ground_note="Court case 3 O 12/26",
        expires_at=timezone.now() + datetime.timedelta(days=3),
        actor=dpo,
    )

    # an access request answered by email through the outbox, with the subject's package link
    request = request_create(
        request_type="access", channel="email", received_at=timezone.now(), subject=subject
    )
    request_identity_verify(dsr=request, method="document", note="Passport seen.", actor=dpo)
    request_complete(dsr=request, actor=dpo)  # the package is built on commit (eager worker)
    package = DataPackage.objects.get(request=request)
    response_send_email(dsr=request, actor=dpo)
    assert LetterDelivery.objects.get(letter__request=request).state == LetterDelivery.State.SENT
    [sent] = mail.outbox
    link = re.search(r"/dsr/p/(\S+)", sent.body)
    assert link is not None and subject_package_from_token(link.group(1)) == package
    package_token = link.group(1)

    newcomer = UserFactory(username="nora.newcomer")
    enrolment_code = enrolment_code_issue(user=newcomer, actor=dpo)

    keyring = json.loads(Path(settings.LOCAL_KEYRING_PATH).read_text())
    return {
        "subject": subject,
        "texts": {
            "name": _text(NAME) | _text("Quaxbauer") | _text("Wilhelmina"),
            "phone": {PHONE_E164.encode(), PHONE_E164[1:].encode(), b"3090182736", PHONE_TYPED.encode()},
            "email": _text(EMAIL),
            "transcript": _text("ZEBRA-4711-QUOKKA"),
            "password": _text(PASSWORD) | _text(TYPO),
            "session cookie": {cookie.encode()},
            "api token": {api_token.encode(), api_token[8:].encode()},
            "share token": {share_token.encode()},
            "subject package token": {package_token.encode(), package_token.split(":")[-1].encode()},
            "enrolment code": _text(enrolment_code) | _text(enrolment_code.replace("-", "")),
            "recovery codes": set().union(*(_text(code) for code in recovery_codes)),
            "SECRET_KEY": {django_settings.SECRET_KEY.encode()},
        },
        "keys": {
            "audio (first 64 bytes)": audio[:64],
            "audio (first frames)": audio[44:108],
            "TOTP secret": totp_secret,
            "subject key": subject_key(subject),
            "recording key": recording_key(recording),
            "package key": package_key(package),
            "audit key": audit_key_current()[1],
            "blind-index key": get_provider().index_key(),
            **{
                f"master key {version}": base64.b64decode(entry["key"])
                for version, entry in keyring["versions"].items()
            },
        },
        "cookie": cookie,
        "recovery codes": recovery_codes,
        "api token": api_token,
        "share token": share_token,
    }


def test_a_restored_dump_read_without_the_keyring_holds_no_usable_secret(seeded, restore):
    # given: the needles, in every encoding an attacker would try
    needles: list[tuple[str, bytes]] = [
        (what, needle) for what, forms in seeded["texts"].items() for needle in forms
    ]
    needles += [(what, form) for what, secret in seeded["keys"].items() for form in _encodings(secret)]

    # when: the database is dumped and restored into an empty one, and every text, bytea and
    # json cell of every table is read (and decoded where it can be)
    restored = restore()
    cells = list(restored.cells())
    assert len({table for table, _, _ in cells}) > 40  # the whole schema came across

    def found(needles: list[tuple[str, bytes]]) -> list[str]:
        return sorted(
            {
                f"{what} in {table}.{column}"
                for table, column, cell in cells
                for variant in _decodings(cell)
                for what, needle in needles
                if needle in variant
            }
        )

    # then: no secret is found anywhere
    assert found(needles) == []

    # while the same search finds what is stored, clear or encoded: a wrapped key's bytes, the
    # session key's digest, the user id inside the signed and compressed session data, the bytes
    # of a share token's SHA-256 behind its hex
    wrapped = bytes(SubjectKey.objects.get(subject=seeded["subject"]).wrapped_key)
    controls = [
        ("wrapped", wrapped),
        ("digest", session_key_digest(seeded["cookie"]).encode()),
        ("session data", b'"_auth_user_id"'),
        ("share hash", hashlib.sha256(seeded["share token"].encode()).digest()),
    ]
    assert found(controls) == [
        "digest in django_session.session_key",
        "session data in django_session.session_data",
        "share hash in recordings_share.token_hash",
        "wrapped in recordings_subjectkey.wrapped_key",
    ]

    # and the dump does hold what the attacker would look at: ciphertext and digests, no clear text
    [(sealed_name,)] = restored.rows(
        "SELECT full_name_encrypted FROM recordings_datasubject WHERE id = %s", seeded["subject"].pk
    )
    assert len(bytes(sealed_name)) > len(NAME)


@pytest.mark.django_db
def test_every_column_that_may_hold_a_secret_is_accounted_for():
    # A column named like a secret that is not listed is a new secret nobody has looked at. The
    # schema is the one a dump restores, so the live test database is read (no dump needed).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        )
        columns = cursor.fetchall()
        named = {
            (table, column)
            for table, column in columns
            if SECRET_NAME.search(column) and not NOT_SECRET_NAME.search(column)
        }
        # django_otp's own device tables would hold TOTP keys and static tokens in clear: empty
        for table in ("otp_totp_totpdevice", "otp_static_statictoken", "otp_static_staticdevice"):
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            assert cursor.fetchone() == (0,), table
    named -= {("otp_totp_totpdevice", "key"), ("otp_static_statictoken", "token")}
    unlisted = sorted(named - set(SECRET_COLUMNS))
    assert unlisted == [], unlisted


def test_what_the_dump_holds_does_not_work_where_the_secret_would(seeded, restore, settings):
    # given: the dump, restored
    restored = restore()

    # when/then: each session row's key, pasted as a cookie, logs nobody in (the real cookie does)
    session_keys = [key for (key,) in restored.rows("SELECT session_key FROM django_session")]
    assert session_keys
    for key in session_keys:
        thief = Client()
        thief.cookies[django_settings.SESSION_COOKIE_NAME] = key
        response = thief.get(INDEX)
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    # nor does axes' hash of a session key
    for (hashed,) in restored.rows("SELECT session_hash FROM axes_accesslog"):
        thief = Client()
        thief.cookies[django_settings.SESSION_COOKIE_NAME] = hashed
        assert thief.get(INDEX).status_code == 302
    owner = Client()
    owner.cookies[django_settings.SESSION_COOKIE_NAME] = seeded["cookie"]
    assert owner.get(INDEX).status_code == 200

    # an integration token's digest, sent as the token, is refused; the token itself is not
    [(digest,)] = restored.rows("SELECT digest FROM compliance_site_integrationtoken")
    api = APIClient(REMOTE_ADDR="198.51.100.7")
    api.credentials(HTTP_AUTHORIZATION=f"Token {digest}")
    assert api.post("/api/v1/requests/", {}, format="json").status_code in (401, 403)
    api.credentials(HTTP_AUTHORIZATION=f"Token {seeded['api token']}")
    assert api.post("/api/v1/requests/", {}, format="json").status_code == 400  # authenticated

    # a recovery code's digest is not a code: after the right password, the session stays unverified
    digests = [d for (d,) in restored.rows("SELECT digest FROM compliance_site_recoverycode")]
    assert recovery_code_digest(seeded["recovery codes"][0]) in digests
    intruder = Client()
    log_in_with_password(intruder, "dana.dpo")
    page = verify(intruder, digests[0])
    assert page.status_code == 200 and intruder.get(INDEX).status_code == 302

    # a share's stored hash opens no share; the link's token does
    [(token_hash,)] = restored.rows("SELECT token_hash FROM recordings_share")
    assert share_for_token(token_hash) is None
    assert isinstance(share_for_token(seeded["share token"]), Share)

    # and with a keyring of the attacker's own, no wrapped key in the dump opens
    settings.LOCAL_KEYRING_PATH = Path(settings.LOCAL_KEYRING_PATH).with_name("attackers-keyring.json")
    reset_provider_cache()
    try:
        subject = seeded["subject"]
        [(version, wrapped)] = restored.rows(
            "SELECT master_version, wrapped_key FROM recordings_subjectkey WHERE subject_id = %s", subject.pk
        )
        with pytest.raises(KeyProviderError):
            get_provider().unwrap(version, bytes(wrapped), associated_data=subject_key_aad(subject))
    finally:
        reset_provider_cache()
