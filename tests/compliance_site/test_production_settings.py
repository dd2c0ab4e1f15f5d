"""The production profile refuses unsafe values at start and passes ``check --deploy``."""

from __future__ import annotations

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
    "RECORDINGS_STORAGE": "s3",
    "AWS_STORAGE_BUCKET_NAME": "custos-recordings",
    "AWS_S3_REGION_NAME": "eu-central-1",
    "KEY_PROVIDER": "aws-kms",
    "AWS_KMS_KEY_ID": "alias/custos-master",
    "AWS_KMS_REGION_NAME": "eu-central-1",
    "BLIND_INDEX_KEY": "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=",
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
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"SECRET_KEY": "django-insecure-" + "a1b2c3d4e5" * 5}, "SECRET_KEY"),
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
        ({"DATABASE_URL": "sqlite:////tmp/custos.sqlite3"}, "PostgreSQL"),
        ({"CELERY_BROKER_URL": "filesystem://"}, "CELERY_BROKER_URL"),
        ({"RECORDINGS_STORAGE": "local"}, "RECORDINGS_STORAGE"),
        ({"AWS_S3_REGION_NAME": "us-east-1"}, "'us-east-1' is outside the EU/EEA"),
        ({"KEY_PROVIDER": "local"}, "KEY_PROVIDER must be 'aws-kms'"),
        ({"BLIND_INDEX_KEY": ""}, "BLIND_INDEX_KEY"),
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
