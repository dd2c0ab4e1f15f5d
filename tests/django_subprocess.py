"""A Python process of its own running Django against this test's database, storage and keyring,
for tests that kill a process for real (kill -9) at a chosen point of its work.

Such a process sees only committed rows: on PostgreSQL, a test that gives it rows uses
``transactional_db``; the in-memory SQLite test database cannot be shared at all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def django_env(*, var_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "compliance_site.settings",
        "CUSTOS_VAR_DIR": str(var_dir),
        "CUSTOS_KEYRING_PATH": str(settings.LOCAL_KEYRING_PATH),
        "KEY_PROVIDER": "local",
        "RECORDINGS_STORAGE": "local",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **extra,
    }
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        env["DATABASE_URL"] = (
            f"postgres://{quote(db['USER'] or '', safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
            f"@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        )
    else:
        env.pop("DATABASE_URL", None)
    return env


def start(script: str, *args: str, env: dict[str, str], stdin: bool = False) -> subprocess.Popen:
    """``python -c script args...``, its stdout a text pipe the test reads line by line; with
    ``stdin``, its stdin a text pipe the test writes commands to."""
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE if stdin else None,
        stdout=subprocess.PIPE,
        text=True,
    )


def kill(process: subprocess.Popen) -> None:
    """kill -9: no clean-up of any kind runs in the process."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
