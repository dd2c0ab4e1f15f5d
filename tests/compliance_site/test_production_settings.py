"""The production profile refuses unsafe values at start and passes ``check --deploy``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SAFE_PRODUCTION_ENV = {
    "CUSTOS_ENV": "production",
    "SECRET_KEY": "x7#kQ2!vP9zL4@mN8wR1$tY6^uI3&oE5*aS0(dF)gH_jK+lZ-cX=bV~nM.qW,eR",
    "ALLOWED_HOSTS": "custos.example.eu",
    "DATABASE_URL": "postgres://custos@db.internal:5432/custos",
    "CELERY_BROKER_URL": "redis://cache.internal:6379/0",
    "CACHE_URL": "redis://cache.internal:6379/1",
    "RECORDINGS_STORAGE": "s3",
    "AWS_STORAGE_BUCKET_NAME": "custos-recordings",
    "AWS_S3_REGION_NAME": "eu-central-1",
    "KEY_PROVIDER": "aws-kms",
    "AWS_KMS_KEY_ID": "alias/custos-master",
    "AWS_KMS_REGION_NAME": "eu-central-1",
    "BLIND_INDEX_KEY": "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=",
    "CUSTOS_TRUSTED_PROXIES": "10.0.0.5,10.0.1.0/24",
    "CUSTOS_SITE_URL": "https://custos.example.eu",
    "CUSTOS_CONTROLLER_NAME": "Beispiel Telekom AG",
    "CUSTOS_CONTROLLER_ADDRESS": "Hauptstraße 1|10115 Berlin|Germany",
    "CUSTOS_CONTROLLER_EMAIL": "privacy@beispiel-telekom.eu",
    "CUSTOS_DPO_EMAIL": "dpo@beispiel-telekom.eu",
    "CUSTOS_AUTHORITY_NAME": "Berliner Beauftragte für Datenschutz und Informationsfreiheit",
    "CUSTOS_AUTHORITY_WEBSITE": "https://www.datenschutz-berlin.de",
}


def run_manage(*args: str, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in SAFE_PRODUCTION_ENV and k != "DEBUG"}
    env.update(SAFE_PRODUCTION_ENV)
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_safe_production_configuration_passes_check_deploy():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stderr
    # Nothing at all: no warning, no error, nothing silenced.
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
    assert result.stderr.strip() == ""


def test_production_turns_on_the_staff_login_and_http_hardening():
    # given: the safe production environment
    script = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps({name: getattr(s, name) for name in ["
        "'CUSTOS_REQUIRE_2FA', 'SESSION_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', "
        "'SESSION_COOKIE_SAMESITE', "
        "'SESSION_COOKIE_NAME', 'CSRF_COOKIE_SECURE', 'CSRF_COOKIE_NAME', 'SESSION_COOKIE_AGE', "
        "'SESSION_SAVE_EVERY_REQUEST', 'SESSION_EXPIRE_AT_BROWSER_CLOSE', 'SECURE_HSTS_SECONDS', "
        "'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD', 'SECURE_SSL_REDIRECT', 'X_FRAME_OPTIONS', "
        "'SECURE_REFERRER_POLICY', 'SECURE_CROSS_ORIGIN_OPENER_POLICY', 'AXES_FAILURE_LIMIT', "
        "'AXES_LOCKOUT_PARAMETERS']} | {'CSP': s.CONTENT_SECURITY_POLICY['DIRECTIVES'], "
        "'AXES_COOLOFF_MINUTES': s.AXES_COOLOFF_TIME.total_seconds() / 60}))"
    )

    # when
    result = run_manage("shell", "--no-imports", "-c", script)

    # then
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values | {"CSP": None} == {
        "CUSTOS_REQUIRE_2FA": True,
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_NAME": "__Host-sessionid",
        "CSRF_COOKIE_SECURE": True,
        "CSRF_COOKIE_NAME": "__Host-csrftoken",
        "SESSION_COOKIE_AGE": 30 * 60,
        "SESSION_SAVE_EVERY_REQUEST": True,
        "SESSION_EXPIRE_AT_BROWSER_CLOSE": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_SSL_REDIRECT": True,
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_REFERRER_POLICY": "same-origin",
        "SECURE_CROSS_ORIGIN_OPENER_POLICY": "same-origin",
        "AXES_FAILURE_LIMIT": 5,
        "AXES_LOCKOUT_PARAMETERS": [["username", "ip_address"]],
        "AXES_COOLOFF_MINUTES": 30.0,
        "CSP": None,
    }
    assert values["CSP"]["upgrade-insecure-requests"] is True
    assert values["CSP"]["script-src"] == ["'self'"]
    assert values["CSP"]["frame-ancestors"] == ["'none'"]


def test_the_idle_timeout_is_a_setting():
    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.SESSION_COOKIE_AGE)",
        CUSTOS_SESSION_IDLE_MINUTES="15",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "900"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"SECRET_KEY": "django-insecure-" + "a1b2c3d4e5" * 5}, "SECRET_KEY"),
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
        ({"DATABASE_URL": "sqlite:////tmp/custos.sqlite3"}, "PostgreSQL"),
        ({"CELERY_BROKER_URL": "filesystem://"}, "CELERY_BROKER_URL"),
        ({"CACHE_URL": "locmemcache://"}, "CACHE_URL must be a redis:// or rediss:// URL"),
        ({"CACHE_URL": ""}, "CACHE_URL must be a redis:// or rediss:// URL"),
        ({"RECORDINGS_STORAGE": "local"}, "RECORDINGS_STORAGE"),
        ({"AWS_S3_REGION_NAME": "us-east-1"}, "'us-east-1' is outside the EU/EEA"),
        ({"KEY_PROVIDER": "local"}, "KEY_PROVIDER must be 'aws-kms'"),
        ({"BLIND_INDEX_KEY": ""}, "BLIND_INDEX_KEY"),
        ({"CUSTOS_REQUIRE_2FA": "false"}, "CUSTOS_REQUIRE_2FA must be on"),
        (
            {"CUSTOS_TRUSTED_PROXIES": ""},
            "CUSTOS_TRUSTED_PROXIES must name the TLS-terminating reverse proxy",
        ),
        ({"CUSTOS_TLS_WITHOUT_PROXY": "true"}, "not both"),
    ],
)
def test_unsafe_production_value_stops_the_start_with_a_clear_message(override, message):
    result = run_manage("check", **override)

    assert result.returncode != 0
    assert "Custos refuses to start with CUSTOS_ENV=production" in result.stderr
    assert message in result.stderr


def test_secret_can_come_from_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(SAFE_PRODUCTION_ENV["SECRET_KEY"] + "\n")

    result = run_manage("check", "--deploy", SECRET_KEY="", SECRET_KEY_FILE=str(secret_file))

    assert result.returncode == 0, result.stderr


def test_unknown_environment_name_is_refused():
    result = run_manage("check", CUSTOS_ENV="staging")

    assert result.returncode != 0
    assert "CUSTOS_ENV='staging'" in result.stderr


def test_without_a_proxy_the_forwarded_proto_header_is_not_trusted_at_all():
    # given: gunicorn terminates TLS itself
    script = "from django.conf import settings; print(repr(settings.SECURE_PROXY_SSL_HEADER))"

    # when
    result = run_manage(
        "shell", "--no-imports", "-c", script, CUSTOS_TRUSTED_PROXIES="", CUSTOS_TLS_WITHOUT_PROXY="1"
    )

    # then
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "None"


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, 0),  # runserver, threaded workers, shells: one connection per request
        ({"CUSTOS_PERSISTENT_DB_CONNECTIONS": "1"}, 60),  # what gunicorn_conf sets in a sync worker
        ({"CUSTOS_PERSISTENT_DB_CONNECTIONS": "1", "CONN_MAX_AGE": "30"}, 30),
    ],
)
def test_database_connections_persist_only_where_one_thread_serves_every_request(environment, expected):
    # Issue 14, item 11: runserver's thread per request left a PostgreSQL connection open per
    # thread (94 idle connections after 500 ingests, then "too many clients").
    script = "from django.conf import settings; print(settings.DATABASES['default']['CONN_MAX_AGE'])"

    result = run_manage("shell", "--no-imports", "-c", script, CUSTOS_ENV="development", **environment)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(expected)


def test_gunicorn_config_asks_for_persistent_connections_in_sync_workers_only(monkeypatch):
    from gunicorn.workers.gthread import ThreadWorker
    from gunicorn.workers.sync import SyncWorker

    from compliance_site import gunicorn_conf

    for worker_class, expected in ((ThreadWorker, None), (SyncWorker, "1")):
        monkeypatch.delenv("CUSTOS_PERSISTENT_DB_CONNECTIONS", raising=False)
        worker = worker_class.__new__(worker_class)  # the hook only looks at the worker's class

        gunicorn_conf.post_fork(server=None, worker=worker)

        assert os.environ.get("CUSTOS_PERSISTENT_DB_CONNECTIONS") == expected


def test_a_proxy_given_by_name_instead_of_address_is_refused():
    result = run_manage("check", CUSTOS_TRUSTED_PROXIES="proxy.internal")

    assert result.returncode != 0
    assert "CUSTOS_TRUSTED_PROXIES: 'proxy.internal' is not an IP address or network" in result.stderr


@pytest.mark.parametrize(
    ("unset", "message"),
    [
        ("CUSTOS_CONTROLLER_NAME", "CUSTOS_CONTROLLER_NAME is the demo's fictional value"),
        ("CUSTOS_DPO_EMAIL", "CUSTOS_DPO_EMAIL is the demo's fictional value"),
        ("CUSTOS_AUTHORITY_NAME", "CUSTOS_AUTHORITY_NAME is the demo's fictional value"),
        ("CUSTOS_SITE_URL", "CUSTOS_SITE_URL must be the back office's https:// address"),
    ],
)
def test_production_refuses_the_demo_letterhead_and_a_plain_http_site_url(unset, message):
    env = {k: v for k, v in os.environ.items() if k not in SAFE_PRODUCTION_ENV and k != "DEBUG"}
    env.update({k: v for k, v in SAFE_PRODUCTION_ENV.items() if k != unset})
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode != 0
    assert message in result.stderr
