"""One beat per deployment, guarded by a lock: a second beat waits as a standby and schedules
nothing until the first one is gone.

The lock is a PostgreSQL advisory lock held by a connection of its own (released by the server
when that process dies, so a standby takes over within a tick), or, on the laptop's SQLite, an
exclusive ``flock`` on a file under ``var/`` (released by the kernel the same way). The tasks are
safe to run twice anyway; the lock keeps a second beat from doubling every tick.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connections
from django_celery_beat.schedulers import DatabaseScheduler

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

# pg_try_advisory_lock's key: any fixed 64-bit number, the same in every beat of a deployment.
ADVISORY_LOCK_KEY = 0x637573746F73  # "custos"
# How long a standby sleeps between attempts to take over.
STANDBY_RETRY_SECONDS = 5.0


class BeatLock:
    """The deployment's beat lock; ``acquire`` never blocks."""

    def acquire(self) -> bool:
        raise NotImplementedError

    def held(self) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError


class PostgresAdvisoryLock(BeatLock):
    def __init__(
        self, db_settings: dict, key: int = ADVISORY_LOCK_KEY, application_name: str = "custos-beat-lock"
    ):
        self.db_settings = db_settings
        self.key = key
        self.application_name = application_name
        self.connection: psycopg.Connection | None = None

    def _connect(self) -> psycopg.Connection:
        import psycopg

        params = {
            "dbname": self.db_settings["NAME"],
            "user": self.db_settings.get("USER") or None,
            "password": self.db_settings.get("PASSWORD") or None,
            "host": self.db_settings.get("HOST") or None,
            "port": self.db_settings.get("PORT") or None,
            "application_name": self.application_name,
            "autocommit": True,
        }
        return psycopg.connect(**{k: v for k, v in params.items() if v is not None})

    def acquire(self) -> bool:
        if self.held():
            return True
        self.release()
        try:
            self.connection = self._connect()
            row = self.connection.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()
            if row is None:
                raise RuntimeError("pg_try_advisory_lock returned no row")
            got = row[0]
        except Exception:  # the database is away: no lock, try again next tick
            logger.exception("Beat lock: cannot reach PostgreSQL")
            self.release()
            return False
        if not got:
            self.release()
        return bool(got)

    def held(self) -> bool:
        if self.connection is None:
            return False
        try:
            self.connection.execute("SELECT 1")
            return True
        except Exception:  # connection lost: the server dropped our lock with it
            self.release()
            return False

    def release(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:  # closing a dead connection
                logger.debug("Beat lock: closing a dead connection", exc_info=True)
            self.connection = None


class FileLock(BeatLock):
    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> bool:
        if self.fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return True

    def held(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None


def beat_lock() -> BeatLock:
    db = connections["default"].settings_dict
    if db["ENGINE"] == "django.db.backends.postgresql":
        return PostgresAdvisoryLock(db)
    return FileLock(Path(settings.VAR_DIR) / "beat.lock")


class SingleBeatScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler, scheduling only while it holds the beat lock."""

    def __init__(self, *args, **kwargs):
        self.lock = beat_lock()
        self._standby_logged = False
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        if not self.lock.held() and not self.lock.acquire():
            if not self._standby_logged:
                logger.warning(
                    "Another beat holds this deployment's beat lock; this one stands by and "
                    "schedules nothing until that one stops."
                )
                self._standby_logged = True
            return STANDBY_RETRY_SECONDS
        if self._standby_logged:
            logger.warning("This beat now holds the beat lock and schedules the periodic tasks.")
            self._standby_logged = False
        return super().tick(*args, **kwargs)

    def close(self):
        try:
            super().close()
        finally:
            self.lock.release()
