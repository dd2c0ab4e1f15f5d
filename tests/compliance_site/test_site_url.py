"""Links in emails use the configured site URL (CUSTOS_SITE_URL), never a fixed port."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone

from compliance_site.site_url import absolute_url
from dsr.models import DataSubjectRequest, RequestType
from dsr.reminders import reminders_send_due
from dsr.services import request_create

ROOT = Path(__file__).resolve().parents[2]
_NAMES = ("CUSTOS_SITE_URL", "CUSTOS_BASE_URL", "CUSTOS_PORT")


def _site_url_with(**env_overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in _NAMES}
    env.update(env_overrides)
    env.setdefault("DJANGO_SETTINGS_MODULE", "compliance_site.settings")
    script = "from django.conf import settings; print(settings.CUSTOS_SITE_URL)"
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.django_db
def test_a_reminder_links_to_the_configured_site_url(analyst, settings):
    # given: the demo runs on port 8765
    settings.CUSTOS_SITE_URL = "http://127.0.0.1:8765"
    request = request_create(
        request_type=RequestType.ERASURE,
        channel=DataSubjectRequest.Channel.LETTER,
        received_at=timezone.now() - datetime.timedelta(days=23),
        assignee=analyst,
    )

    # when
    reminders_send_due(now=timezone.now())

    # then
    [message] = mail.outbox
    assert f"http://127.0.0.1:8765/admin/dsr/datasubjectrequest/{request.pk}/change/" in message.body
    assert ":8000" not in message.body


def test_absolute_url_keeps_a_path_prefix_and_refuses_a_relative_path(settings):
    settings.CUSTOS_SITE_URL = "https://custos.example.eu/backoffice/"
    assert absolute_url("/admin/") == "https://custos.example.eu/backoffice/admin/"
    with pytest.raises(ValueError):
        absolute_url("admin/")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"CUSTOS_PORT": "8080"}, "http://127.0.0.1:8080"),  # what `make demo PORT=8080` starts with
        ({"CUSTOS_BASE_URL": "https://old.example.eu"}, "https://old.example.eu"),  # the former name
        (
            {"CUSTOS_SITE_URL": "https://custos.example.eu", "CUSTOS_BASE_URL": "https://old.example.eu"},
            "https://custos.example.eu",
        ),
    ],
)
def test_the_site_url_setting_defaults_to_the_demo_and_reads_the_former_name(env, expected):
    result = _site_url_with(**env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(
    "value", ["127.0.0.1:8000", "ftp://custos.example.eu", "https://x.eu/?a=1", "https://"]
)
def test_a_bad_site_url_is_refused_at_start_with_its_name(value):
    result = _site_url_with(CUSTOS_SITE_URL=value)
    assert result.returncode != 0
    assert "CUSTOS_SITE_URL" in result.stderr


def test_make_demo_gives_the_site_url_its_port():
    result = subprocess.run(
        ["make", "-n", "demo", "PORT=8080"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in _NAMES},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "CUSTOS_SITE_URL=http://127.0.0.1:8080" in result.stdout
