"""The demo's filesystem broker keeps everything under var/, nothing in the working directory.

kombu's filesystem transport writes its exchange table to ``./control`` unless told where
(issue 15: a ``control/`` folder had even been committed from a demo run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_broadcast_on_the_filesystem_broker_writes_under_var_only(tmp_path):
    # given: the demo's defaults, started from another working directory
    workdir, var = tmp_path / "cwd", tmp_path / "var"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"CELERY_BROKER_URL", "DATABASE_URL"}}
    env |= {
        "CUSTOS_VAR_DIR": str(var),
        "DJANGO_SETTINGS_MODULE": "compliance_site.settings",
        "PYTHONPATH": str(ROOT),
    }
    script = (
        "import django; django.setup()\n"
        "from kombu import Exchange, Queue\n"
        "from compliance_site.celery import app\n"
        "with app.connection_for_write() as connection:\n"
        "    Queue('q', Exchange('custos-test', type='fanout'))(connection.default_channel).declare()\n"
    )

    # when: a queue bound to an exchange, as every worker binds its control queue at start
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )

    # then
    assert result.returncode == 0, result.stderr
    assert not (workdir / "control").exists()
    assert list((var / "celery-broker" / "control").glob("*.exchange"))
