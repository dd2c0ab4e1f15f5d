"""A database made by the code of b1c7a0e (before the access log moved to the ``audit`` app),
with rows in it, migrates to today's code: the events stay, their chain still verifies and goes
on, and the auditor still reads the log.

The old code runs from ``git archive b1c7a0e`` in a process of its own against a PostgreSQL
database of this test's own; today's ``manage.py migrate`` then runs against the same database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import uuid
from io import BytesIO
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
OLD = "b1c7a0e"

OLD_ROWS = """
from django.contrib.auth import get_user_model
from recordings.access_log import access_event_record
from recordings.models import AccessAction
reader = get_user_model().objects.create_user("old.reader", password="x", is_staff=True)
for n in range(3):
    access_event_record(action=AccessAction.VIEW, object_type="recording", object_id=n, actor=reader)
access_event_record(action=AccessAction.KEY_DESTROYED, object_type="recording", object_id=7)
"""

NEW_CHECKS = """
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from compliance_site.audit.models import AccessAction, AccessEvent, AuditChainHead
from compliance_site.audit.services import access_event_record
from compliance_site.audit.verification import access_log_first_break
from compliance_site.roles import AUDITOR
assert AccessEvent.objects.count() == 4, AccessEvent.objects.count()
assert list(AccessEvent.objects.order_by("sequence").values_list("actor__username", flat=True)) == [
    "old.reader", "old.reader", "old.reader", None]
assert access_log_first_break() is None
# The chain goes on from the old head.
access_event_record(action=AccessAction.LIST, object_type="recording")
assert AuditChainHead.objects.get().sequence == 5 and access_log_first_break() is None
# The content types followed the models: no stale twin, and the auditor's grant held.
assert not ContentType.objects.filter(app_label="recordings", model="accessevent").exists()
assert Group.objects.get(name=AUDITOR).permissions.filter(
    content_type__app_label="audit", codename="view_accessevent").exists()
print("checked")
"""


def _database_url(name: str) -> str:
    db = connection.settings_dict
    return (
        f"postgres://{quote(db['USER'] or '', safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
        f"@{db['HOST']}:{db['PORT'] or 5432}/{name}"
    )


def _admin_connection() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )


def _manage(code: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=code,
        env={**env, "PYTHONPATH": str(code)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"manage.py {args[0]} in {code}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def old_code(tmp_path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", OLD], capture_output=True, check=False, timeout=120
    )
    if archive.returncode != 0:
        pytest.skip(f"commit {OLD} is not in this clone's history")
    target = tmp_path / "old"
    target.mkdir()
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target


@pytest.fixture
def scratch_database():
    if connection.vendor != "postgresql":
        if os.environ.get("CUSTOS_REQUIRE_SERVICES") == "1":
            pytest.fail("the migration from b1c7a0e is tested on PostgreSQL, and DATABASE_URL is not one")
        pytest.skip("the migration from b1c7a0e is tested on PostgreSQL (set DATABASE_URL)")
    name = f"custos_migrate_{uuid.uuid4().hex[:12]}"
    with _admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _database_url(name)
    finally:
        with _admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_database_of_b1c7a0e_migrates_with_its_access_log_whole(old_code, scratch_database, tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "compliance_site.settings",
        "DATABASE_URL": scratch_database,
        "CUSTOS_VAR_DIR": str(tmp_path / "var"),
        "KEY_PROVIDER": "local",
        "RECORDINGS_STORAGE": "local",
        "CELERY_BROKER_URL": "memory://",
    }
    # given: the old schema, provisioned, with access events of a user and of the system
    _manage(old_code, env, "migrate", "--no-input")
    _manage(old_code, env, "shell", "-c", OLD_ROWS)

    # when: today's code migrates the same database
    _manage(ROOT, env, "migrate", "--no-input")

    # then: nothing is left to migrate, the chain verifies, and the rows and grants are there
    _manage(ROOT, env, "migrate", "--check")
    assert "4 events verified" in _manage(ROOT, env, "verify_audit_log")
    assert "checked" in _manage(ROOT, env, "shell", "-c", NEW_CHECKS)
