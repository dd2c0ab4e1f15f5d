"""Leases: a lock a process holds for as long as a piece of work of its runs, which the database
server (PostgreSQL) or the kernel (a file lock, on the laptop's SQLite) drops the moment that
process dies, however it dies. Another process asks ``lease_held`` to know, without a time
bound, whether the work it sees "running" still has a live owner.

PostgreSQL: a session advisory lock on a connection of the lease's own (Django's connection may be
closed and reopened between queries; the lease must not go with it), keyed by the kind of work
and the row's id. SQLite: an exclusive ``flock`` on ``var/locks/<kind>-<id>.lock``. The same
machinery as the beat lock (``compliance_site.beat``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import zlib
from pathlib import Path

from django.conf import settings
from django.db import connection, connections

from compliance_site.beat import BeatLock, FileLock, PostgresAdvisoryLock


def _is_postgresql() -> bool:
    return connections["default"].settings_dict["ENGINE"] == "django.db.backends.postgresql"


def _key(kind: str, ident: int) -> int:
    """A signed 64-bit advisory-lock key: the kind's CRC-32 above the id (ids stay below 2**31),
    so that no lease can share a key with another kind's or with the beat lock."""
    if not 0 <= ident < 2**31:
        raise ValueError(f"A lease id must be a non-negative 31-bit number, not {ident}.")
    return ((zlib.crc32(kind.encode()) & 0x7FFFFFFF) << 32) | ident


def _lock_path(kind: str, ident: int) -> Path:
    return Path(settings.VAR_DIR) / "locks" / f"{kind}-{ident}.lock"


def lease_acquire(kind: str, ident: int) -> BeatLock:
    """Take the lease of ``kind`` ``ident`` for this process; ``release()`` it when the work ends.
    RuntimeError if another process holds it."""
    if _is_postgresql():
        lease: BeatLock = PostgresAdvisoryLock(
            connections["default"].settings_dict, key=_key(kind, ident), application_name=f"custos-{kind}"
        )
    else:
        lease = FileLock(_lock_path(kind, ident))
    if not lease.acquire():
        raise RuntimeError(f"The lease of {kind} {ident} is held elsewhere.")
    return lease


def lease_held(kind: str, ident: int) -> bool:
    """Whether a live process holds the lease of ``kind`` ``ident`` now. False means its owner
    is gone (or never took it): whatever it was doing will never finish by itself."""
    if _is_postgresql():
        key = _key(kind, ident)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            (got,) = cursor.fetchone()
            if got:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return not got
    path = _lock_path(kind, ident)
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # drops the lock if it was taken here
    # Taken: its owner is gone; the file is litter now.
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return False


def lease_release(lease: BeatLock, kind: str, ident: int) -> None:
    """Release a lease taken by ``lease_acquire`` and remove its file, if it has one."""
    lease.release()
    if isinstance(lease, FileLock):
        with contextlib.suppress(FileNotFoundError):
            _lock_path(kind, ident).unlink()
