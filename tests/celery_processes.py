"""Real Celery worker and beat processes for tests, against the test's PostgreSQL database and
Redis.

A process cannot share SQLite's in-memory test database, so these need Redis as the broker and
PostgreSQL as the database. Tests that ask for the ``celery_processes`` fixture skip elsewhere,
and fail instead where CUSTOS_REQUIRE_SERVICES=1 (CI) says the services must be there. Use it
from a conftest::

    from tests.celery_processes import celery_processes  # noqa: F401

Each worker consumes a queue of its own (``worker.queue``; send with ``queue=worker.queue``), so
that a message left behind by a killed worker or by another test's beat never reaches it. The
processes read and write the test's files: the same recordings storage and keyring (through
CUSTOS_VAR_DIR and CUSTOS_KEYRING_PATH) and, for email, a folder of their own.
"""

from __future__ import annotations

import email
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection

from compliance_site.celery import app

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 90.0  # a worker boots in 1-2 s; a loaded CI machine may take far longer
# The filebased email backend ends every message with this line.
MAIL_SEPARATOR = "\n" + "-" * 79 + "\n"


def services_missing() -> str | None:
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        return "CELERY_BROKER_URL is not a Redis URL"
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return "DATABASE_URL is not PostgreSQL"
    return None


def wait_until(condition: Callable[[], object], *, timeout: float, message: str, interval: float = 0.05):
    """Poll ``condition`` until it returns something truthy, which is returned; fail after
    ``timeout`` seconds with ``message``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{message} (waited {timeout:.0f} s)")
        time.sleep(interval)


def read_mails(folder: Path) -> list[email.message.Message]:
    """Every message the filebased email backend wrote under ``folder``."""
    if not folder.exists():
        return []
    messages = []
    for path in sorted(folder.iterdir()):
        for chunk in path.read_text().split(MAIL_SEPARATOR):
            if chunk.strip():
                messages.append(email.message_from_string(chunk.lstrip("\n")))
    return messages


@dataclass
class CeleryProcess:
    kind: str  # "worker" or "beat"
    node: str  # worker node name (worker@host) or beat label
    queue: str
    process: subprocess.Popen
    log: Path
    mail_dir: Path
    application_name: str  # PostgreSQL application_name of its database connections

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """kill -9: no shutdown, no acknowledgement, connections dropped by the kernel."""
        if self.alive():
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def mails(self) -> list[email.message.Message]:
        return read_mails(self.mail_dir)


@dataclass
class CeleryProcesses:
    """Starts worker and beat processes for one test and cleans up after them."""

    tmp_path: Path
    started: list[CeleryProcess] = field(default_factory=list)
    queues: set[str] = field(default_factory=set)

    def _env(self, application_name: str, mail_dir: Path, extra: dict[str, str]) -> dict[str, str]:
        db = connection.settings_dict
        location = Path(settings.STORAGES["recordings"]["OPTIONS"]["location"])
        # settings.py puts the local recordings storage at CUSTOS_VAR_DIR/recordings.
        assert location.name == "recordings", location
        return {
            **os.environ,
            "DATABASE_URL": (
                f"postgres://{quote(db['USER'] or '', safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
                f"@{db['HOST']}:{db['PORT']}/{db['NAME']}"
                f"?application_name={application_name}"
            ),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CUSTOS_VAR_DIR": str(location.parent),
            "RECORDINGS_STORAGE": "local",
            "CUSTOS_KEYRING_PATH": str(settings.LOCAL_KEYRING_PATH),
            "KEY_PROVIDER": "local",
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(mail_dir),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            **extra,
        }

    def _spawn(self, kind: str, args: list[str], *, queue: str, env: dict[str, str] | None) -> CeleryProcess:
        label = f"{kind}-{uuid.uuid4().hex[:10]}"
        if kind == "worker":
            args = [*args, f"--hostname={label}@custos-test"]
        mail_dir = self.tmp_path / "mail" / label
        log = self.tmp_path / f"{label}.log"
        application_name = f"custos-test-{label}"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "compliance_site", kind, *args],
                cwd=ROOT,
                env=self._env(application_name, mail_dir, env or {}),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        handle = CeleryProcess(
            kind=kind,
            node=f"{label}@custos-test",
            queue=queue,
            process=process,
            log=log,
            mail_dir=mail_dir,
            application_name=application_name,
        )
        self.started.append(handle)
        return handle

    def worker(self, *, queue: str | None = None, env: dict[str, str] | None = None, ready: bool = True):
        """A solo-pool worker consuming ``queue`` (a new queue of its own by default)."""
        queue = queue or f"custos-test-{uuid.uuid4().hex[:10]}"
        self.queues.add(queue)
        handle = self._spawn(
            "worker",
            [
                "--pool=solo",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=WARNING",
                f"--queues={queue}",
            ],
            queue=queue,
            env=env,
        )
        if ready:
            self.wait_ready(handle)
        return handle

    def beat(self, *, env: dict[str, str] | None = None) -> CeleryProcess:
        """``celery beat`` with the deployment's scheduler (the lock-guarded DatabaseScheduler)."""
        return self._spawn("beat", ["--loglevel=INFO"], queue="", env=env)

    def wait_ready(self, worker: CeleryProcess) -> None:
        def answers() -> bool:
            if not worker.alive():
                pytest.fail(f"the worker exited at start:\n{worker.log_text()[-3000:]}")
            return bool(app.control.ping(destination=[worker.node], timeout=0.5))

        wait_until(answers, timeout=START_TIMEOUT_SECONDS, message="the worker did not answer a ping")

    def tasks_done_by(self, workers: list[CeleryProcess], task: str) -> dict[str, int] | None:
        """How many ``task`` messages each worker has finished, or None while one is busy.

        A solo worker answers control messages only between tasks, so once every worker has
        answered, each task it accepted has finished."""
        nodes = [w.node for w in workers]
        inspect = app.control.inspect(destination=nodes, timeout=2.0, limit=len(nodes))
        stats = inspect.stats() or {}
        active = inspect.active() or {}
        if set(stats) != set(nodes) or set(active) != set(nodes) or any(active.values()):
            return None
        return {node: reply.get("total", {}).get(task, 0) for node, reply in stats.items()}

    def wait_tasks_done(self, workers: list[CeleryProcess], task: str, count: int, timeout: float) -> None:
        def done() -> bool:
            for worker in workers:
                if not worker.alive():
                    pytest.fail(f"a worker died:\n{worker.log_text()[-3000:]}")
            done = self.tasks_done_by(workers, task)
            return done is not None and sum(done.values()) == count

        wait_until(done, timeout=timeout, message=f"the workers did not finish {count} {task}", interval=0.2)

    def wait_disconnected(self, process: CeleryProcess, timeout: float = 60.0) -> None:
        """Until PostgreSQL has ended the sessions (and rolled back the transactions, released the
        row locks) of a killed process."""

        def gone() -> bool:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                    [process.application_name],
                )
                return cursor.fetchone()[0] == 0

        wait_until(gone, timeout=timeout, message=f"PostgreSQL kept the sessions of {process.node}")

    def close(self) -> None:
        for process in self.started:
            process.stop()
        self.purge_queues()

    def purge_queues(self) -> None:
        """Delete our queues, their bindings and any message a killed worker left unacknowledged
        (Redis would hand it back to a consumer of that queue after the visibility timeout)."""
        if not self.queues:
            return
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        try:
            binding_sets = [k for k in client.scan_iter(match="_kombu.binding*") if client.type(k) == b"set"]
            for queue in self.queues:
                client.delete(queue, *(f"{queue}\x06\x16{priority}" for priority in range(10)))
                for key in binding_sets:
                    for member in client.smembers(key):
                        if member.decode(errors="replace").endswith(f"\x06\x16{queue}"):
                            client.srem(key, member)
                client.zrem("_kombu.binding_deadlines", queue)
            for tag, payload in client.hgetall("unacked").items():
                try:
                    _message, _exchange, routing_key = json.loads(payload)
                except (ValueError, TypeError):
                    continue
                if routing_key in self.queues:
                    client.hdel("unacked", tag)
                    client.zrem("unacked_index", tag)
        finally:
            client.close()


@pytest.fixture
def celery_processes(transactional_db, tmp_path) -> Iterator[CeleryProcesses]:
    missing = services_missing()
    if missing:
        if os.environ.get("CUSTOS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"A real worker test cannot run: {missing}")
        pytest.skip(f"needs Redis and PostgreSQL: {missing}")
    processes = CeleryProcesses(tmp_path)
    try:
        yield processes
    finally:
        processes.close()
