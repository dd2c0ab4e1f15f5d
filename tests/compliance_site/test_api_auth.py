"""Integration tokens and the API's shared counters.

- Only a digest of a token is stored; DRF's old clear tokens become digests and their table goes.
- The throttle and the wrong-token lockout count in a cache every process shares: a second
  process (a second gunicorn worker) adds to the same count.
- An address that sends ``CUSTOS_API_TOKEN_FAILURE_LIMIT`` wrong tokens within the window is
  refused with 429 and Retry-After, right token included, for one window; another address is not.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
import time
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from compliance_site.audit.models import AccessEvent
from dsr.models import DataSubjectRequest
from tests.celery_processes import services_missing

ROOT = Path(__file__).resolve().parents[2]
URL = "/api/v1/requests/"  # JSON, and an empty body is a 400 after authentication and throttling
WINDOW_SECONDS = 15 * 60


def create_integration(name: str = "pbx-berlin") -> str:
    out = StringIO()
    call_command("create_integration", name, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def client_from(address: str, token: str | None = None) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    if token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def file_request(client: APIClient):
    return client.post(URL, {}, format="json")


# --- Stored as a digest ------------------------------------------------------------------------


def _every_text_value() -> str:
    """Every text cell of every table of the database, as one string."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            found += [str(cell) for row in cursor.fetchall() for cell in row if isinstance(cell, str)]
    return "\n".join(found)


@pytest.mark.django_db
def test_the_token_is_shown_once_and_no_table_holds_it():
    # when
    token = create_integration()

    # then: it works, and the database holds its digest, never the token
    assert file_request(client_from("10.0.0.1", token)).status_code == 400  # authenticated
    assert len(token) >= 40
    stored = _every_text_value()
    assert token not in stored and token[8:] not in stored
    assert hashlib.sha256(token.encode()).hexdigest() in stored


@pytest.mark.django_db(transaction=True)
def test_drf_tokens_become_digests_and_their_table_is_dropped(roles):
    # given: a database from before, with DRF's authtoken table holding an integration's key
    from compliance_site.models import IntegrationToken

    create_integration("pbx-old")
    IntegrationToken.objects.all().delete()
    user_id = IntegrationToken._meta.get_field("user").related_model.objects.get(username="pbx-old").pk
    key = "4f1c0d6a2b8e4b5f9a0c7d3e1f2a4b6c8d0e2f4a"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp with time zone"
            " NOT NULL, user_id bigint NOT NULL UNIQUE)"
            if connection.vendor == "postgresql"
            else "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created datetime NOT NULL,"
            " user_id bigint NOT NULL UNIQUE)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [key, "2026-01-02 03:04:05+00:00", user_id],
        )

    # when: the migration runs
    migration = importlib.import_module("compliance_site.migrations.0006_integration_tokens_from_authtoken")

    with connection.schema_editor() as editor:
        migration.tokens_from_authtoken(apps, editor)

    # then: the integration keeps its token, held as a digest; DRF's table is gone
    assert "authtoken_token" not in connection.introspection.table_names()
    token = IntegrationToken.objects.get(user_id=user_id)
    assert (token.prefix, token.digest) == (key[:8], hashlib.sha256(key.encode()).hexdigest())
    assert token.created_at.year == 2026
    assert file_request(client_from("10.0.0.1", key)).status_code == 400  # authenticated
    assert file_request(client_from("10.0.0.1", key[:-1] + "0")).status_code == 401


# --- Lockout of an address that guesses --------------------------------------------------------


@pytest.fixture
def limit_three(settings):
    settings.CUSTOS_API_TOKEN_FAILURE_LIMIT = 3
    settings.CUSTOS_API_TOKEN_FAILURE_WINDOW_MINUTES = WINDOW_SECONDS // 60


@pytest.mark.django_db
def test_wrong_tokens_lock_the_address_out_and_not_another(limit_three):
    # given: an integration, and a guesser at 10.0.0.7
    token = create_integration()
    guesser = client_from("10.0.0.7", "0" * 43)

    # when: three wrong tokens
    wrong = [file_request(guesser).status_code for _ in range(3)]

    # then: each was refused as wrong; now the address is refused outright, the right token too
    assert wrong == [401, 401, 401]
    refused = file_request(guesser)
    assert refused.status_code == 429
    assert WINDOW_SECONDS - 5 <= int(refused["Retry-After"]) <= WINDOW_SECONDS
    assert "wrong tokens" in refused.json()["detail"]
    assert file_request(client_from("10.0.0.7", token)).status_code == 429
    assert file_request(client_from("10.0.0.7")).status_code == 429
    # and the integration at another address is not locked out
    assert file_request(client_from("10.0.0.8", token)).status_code == 400
    assert not DataSubjectRequest.objects.exists()
    assert not AccessEvent.objects.filter(action="request_filed").exists()


@pytest.mark.django_db
def test_behind_the_named_proxy_a_guesser_locks_out_their_own_address_only(limit_three, settings):
    # given: the deployment's TLS proxy at 10.0.0.5, which appends each client's address to
    # X-Forwarded-For; a guesser at 203.0.113.9 who sends an X-Forwarded-For of their own
    from compliance_site.proxy import trusted_proxy_networks

    settings.TRUSTED_PROXY_NETWORKS = trusted_proxy_networks(["10.0.0.5"])
    token = create_integration()

    def through_proxy(client_address: str, token: str, claimed: str = "") -> APIClient:
        client = client_from("10.0.0.5", token)
        forwarded = f"{claimed}, {client_address}" if claimed else client_address
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}", HTTP_X_FORWARDED_FOR=forwarded)
        return client

    # when: the guesser sends three wrong tokens, claiming to be the integration's address
    guesser = through_proxy("203.0.113.9", "0" * 43, claimed="198.51.100.20")
    assert [file_request(guesser).status_code for _ in range(3)] == [401, 401, 401]

    # then: the guesser is locked out; the integration at 198.51.100.20, behind the same proxy,
    # is not (before, every client of the proxy shared its address and its lockout)
    assert file_request(guesser).status_code == 429
    assert file_request(through_proxy("198.51.100.20", token)).status_code == 400
    # and a client reaching the server directly cannot pick its address with the header
    direct = client_from("203.0.113.50", token)
    direct.credentials(HTTP_AUTHORIZATION=f"Token {token}", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert file_request(direct).status_code == 400


@pytest.mark.django_db
def test_the_lockout_ends_after_the_window(limit_three, monkeypatch):
    token = create_integration()
    guesser = client_from("10.0.0.7", "0" * 43)
    for _ in range(3):
        file_request(guesser)
    assert file_request(client_from("10.0.0.7", token)).status_code == 429

    later = time.time() + WINDOW_SECONDS + 1
    monkeypatch.setattr("compliance_site.api_auth.time.time", lambda: later)

    assert file_request(client_from("10.0.0.7", token)).status_code == 400


@pytest.mark.django_db
def test_failures_on_both_sides_of_a_window_boundary_still_count(limit_three, monkeypatch):
    # given: two wrong tokens just before a window ends, one just after
    boundary = (int(time.time()) // WINDOW_SECONDS + 1) * WINDOW_SECONDS
    guesser = client_from("10.0.0.7", "0" * 43)
    monkeypatch.setattr("compliance_site.api_auth.time.time", lambda: boundary - 1)
    file_request(guesser)
    file_request(guesser)
    monkeypatch.setattr("compliance_site.api_auth.time.time", lambda: boundary + 1)

    # when
    third = file_request(guesser)

    # then: three within one window's length lock the address out
    assert third.status_code == 401
    assert file_request(guesser).status_code == 429


@pytest.mark.django_db
def test_a_good_token_does_not_reset_the_count_and_no_token_is_not_a_guess(limit_three):
    # given: a guesser who also holds a valid token (a compromised integration)
    token = create_integration()
    guesser = client_from("10.0.0.7", "0" * 43)
    honest = client_from("10.0.0.7", token)

    # when: requests without any token, wrong tokens interleaved with the right one
    assert {file_request(client_from("10.0.0.7")).status_code for _ in range(5)} == {401}
    answers = [file_request(c).status_code for c in (guesser, honest, guesser, honest, guesser)]

    # then: the right token did not wipe the count
    assert answers == [401, 400, 401, 400, 401]
    assert file_request(honest).status_code == 429


def test_the_default_cache_is_shared_between_processes():
    backend = settings.CACHES["default"]["BACKEND"]

    assert backend in {
        "django.core.cache.backends.db.DatabaseCache",
        "django.core.cache.backends.redis.RedisCache",
    }


# --- Two processes, one count ------------------------------------------------------------------

SECOND_PROCESS = """
import json, sys
import django
django.setup()
from rest_framework.test import APIClient
address, token, times = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = APIClient(REMOTE_ADDR=address)
client.credentials(HTTP_AUTHORIZATION="Token " + token)
print(json.dumps([client.post("/api/v1/requests/", {}, format="json").status_code for _ in range(times)]))
"""


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def second_process(address: str, token: str, times: int, **env: str) -> list[int]:
    """``times`` requests from another process (another gunicorn worker, in effect)."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "compliance_site.settings",
        "DATABASE_URL": _database_url(),
        "CUSTOS_ENV": "development",
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-c", SECOND_PROCESS, address, token, str(times)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(params=["database", "redis"])
def shared_cache(request, settings):
    """The cache both processes use: the laptop's default (the database) or production's Redis."""
    missing = services_missing()
    if missing:
        if os.environ.get("CUSTOS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"CUSTOS_REQUIRE_SERVICES=1 but {missing}")
        pytest.skip(f"a second process needs PostgreSQL and Redis: {missing}")
    if request.param == "database":
        yield {}
        return
    prefix = f"test-{uuid.uuid4().hex}"
    url = f"{settings.CELERY_BROKER_URL}?key_prefix={prefix}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.CELERY_BROKER_URL,
            "KEY_PREFIX": prefix,
        }
    }
    yield {"CACHE_URL": url}
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


@pytest.mark.django_db(transaction=True)
def test_a_second_process_adds_to_the_same_throttle(roles, shared_cache, monkeypatch):
    # given: three requests a minute per integration, in both processes
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"recording-ingest": "3/minute"})
    token = create_integration()

    # when: two requests in another process, then two here
    there = second_process("10.0.0.1", token, 2, API_INGEST_THROTTLE_RATE="3/minute", **shared_cache)
    here = [file_request(client_from("10.0.0.1", token)).status_code for _ in range(2)]

    # then: the fourth is throttled, wherever it arrives
    assert there + here == [400, 400, 400, 429]


@pytest.mark.django_db(transaction=True)
def test_a_second_process_adds_to_the_same_lockout(roles, shared_cache, limit_three):
    # given
    token = create_integration()

    # when: two wrong tokens in another process, one here
    there = second_process("10.0.0.7", "0" * 43, 2, CUSTOS_API_TOKEN_FAILURE_LIMIT="3", **shared_cache)
    here = file_request(client_from("10.0.0.7", "0" * 43)).status_code

    # then: the address is locked out here and there, and only that address
    assert (there, here) == ([401, 401], 401)
    assert file_request(client_from("10.0.0.7", token)).status_code == 429
    assert second_process("10.0.0.7", token, 1, **shared_cache) == [429]
    assert second_process("10.0.0.8", token, 1, **shared_cache) == [400]
