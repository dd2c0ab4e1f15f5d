"""The upload spool: the one place where a large upload's plaintext may touch the disk.

Django streams an uploaded file above ``FILE_UPLOAD_MAX_MEMORY_SIZE`` to a temporary file, by
default in the system's temporary folder, and deletes it when the request ends. A process killed
mid-upload (``kill -9``, the OOM killer, a lost container) never gets there: the half-uploaded
call audio stays in ``/tmp`` in clear, where no erasure, retention or key destruction reaches it.

So every upload goes to ``CUSTOS_SPOOL_DIR`` (default ``var/spool/``, mode 0700), into a folder
of its own process: ``<pid>-<random>/``, whose ``.lock`` file the process holds an exclusive
``flock`` on for as long as it lives. The kernel releases that lock when the process dies, however
it dies, so a cleaner that can take the lock knows the folder's owner is gone and deletes the
folder whole, while a live process's folder (an upload in progress) is never touched: no guess by
pid (pids are reused) and no time bound needed. Files of live processes, and stray files at the
top of the spool (Django's own handler, if something bypasses ours, writes there through
``FILE_UPLOAD_TEMP_DIR``), are deleted once older than ``CUSTOS_SPOOL_MAX_AGE_MINUTES``, longer
than any upload can take.

The web process (``compliance_site.wsgi``, also under ``runserver``) and the Celery worker clean
the spool when they start; beat's "Upload spool" task cleans it every few minutes
(``compliance_site.tasks.clean_upload_spool``). Both see the spool of their own host only: on a
deployment with several hosts, each web host cleans its own at start-up, and its beat-driven
cleaning needs a worker on that host (docs/SECURITY.md).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import logging
import os
import secrets
import shutil
import stat
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler

logger = logging.getLogger(__name__)

LOCK_NAME = ".lock"
UPLOAD_SUFFIX = ".upload"

_lock = threading.Lock()
# (pid, folder, fd of its held lock): this process's folder, made on its first upload.
_own: tuple[int, Path, int] | None = None


def spool_root() -> Path:
    """The spool folder, created 0700 if missing; ImproperlyConfigured if it is not a folder this
    process's user owns (a folder others can read or plant links in is no place for audio)."""
    root = Path(settings.CUSTOS_SPOOL_DIR)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise ImproperlyConfigured(
            f"CUSTOS_SPOOL_DIR={root} must be a folder (not a link) owned by the user Custos runs as."
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(root, 0o700)  # mkdir's mode is cut by the umask, and an old folder may be wider
    return root


def _forget_after_fork() -> None:
    """In a forked child (gunicorn's workers, a multiprocessing pool): the parent's folder and
    lock are the parent's. The inherited descriptor shares the parent's lock, so it is closed,
    or the lock would outlive the parent for as long as the child lives."""
    global _own
    if _own is not None:
        with contextlib.suppress(OSError):
            os.close(_own[2])
    _own = None


os.register_at_fork(after_in_child=_forget_after_fork)


def process_spool_dir() -> Path:
    """This process's own folder in the spool, made on first use, its lock held until exit."""
    global _own
    with _lock:
        root = spool_root()
        if _own is not None:
            if _own[0] == os.getpid() and _own[1].parent == root and _own[1].is_dir():
                return _own[1]
            # Its folder was removed, or the setting changed (tests): start a new one.
            with contextlib.suppress(OSError):
                os.close(_own[2])
            _own = None
        folder = root / f"{os.getpid()}-{secrets.token_hex(6)}"
        folder.mkdir(mode=0o700)
        # The lock file is locked under a name cleaners ignore, then renamed into place: a
        # cleaner sees no lock file (and spares a folder that young) or a held one, never a
        # free one it could take for a dead process's. O_CLOEXEC (Python's default): a
        # program this process starts does not inherit the lock.
        pending = folder / f"{LOCK_NAME}.new"
        descriptor = os.open(pending, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh file: nobody else has it
        os.rename(pending, folder / LOCK_NAME)
        _own = (os.getpid(), folder, descriptor)
        return folder


class SpooledUploadedFile(UploadedFile):
    """Django's ``TemporaryUploadedFile``, in this process's spool folder (0600, a random name
    that keeps nothing of the client's file name), deleted when closed."""

    file: IO[bytes]  # always a named temporary file, never None

    def __init__(self, name, content_type, size, charset, content_type_extra=None):
        file = tempfile.NamedTemporaryFile(suffix=UPLOAD_SUFFIX, dir=process_spool_dir())  # noqa: SIM115
        super().__init__(file, name, content_type, size, charset, content_type_extra)

    def temporary_file_path(self) -> str:
        return self.file.name

    def close(self):
        try:
            return self.file.close()
        except FileNotFoundError:  # moved or deleted already, as Django's own allows
            pass


class SpoolUploadHandler(TemporaryFileUploadHandler):
    """``FILE_UPLOAD_HANDLERS``' handler for uploads too large for memory: into the spool."""

    def new_file(self, *args, **kwargs):
        super(TemporaryFileUploadHandler, self).new_file(*args, **kwargs)
        # Django's handlers hold any UploadedFile here; the stubs type it as TemporaryUploadedFile.
        self.file = SpooledUploadedFile(  # type: ignore[assignment]
            self.file_name, self.content_type, 0, self.charset, self.content_type_extra
        )


@dataclass
class SpoolCleaned:
    folders: int = 0  # folders of dead processes deleted
    files: int = 0  # files older than the bound deleted (stray, or of live processes)


def _dead_owners_lock(folder: Path) -> int | None:
    """The lock of ``folder`` if its process is dead (the lock can be taken), else None. The
    caller keeps it until the folder is deleted, so that no other cleaner races on the folder."""
    try:
        descriptor = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        # No lock file: a process killed between its mkdir and its lock, or not a folder of
        # ours; only its age tells (the caller checks it).
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(descriptor)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None  # held: its process lives, maybe mid-upload
        raise
    return descriptor


def _older_than(path: Path, bound: datetime.datetime) -> bool:
    try:
        modified = os.lstat(path).st_mtime
    except FileNotFoundError:
        return False
    return datetime.datetime.fromtimestamp(modified, tz=datetime.UTC) < bound


def _remove(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)  # fd-based on Linux: a link planted inside is removed, not followed
        else:
            path.unlink()
    except FileNotFoundError:
        return False
    return True


def spool_clean(*, now: datetime.datetime | None = None) -> SpoolCleaned:
    """Delete what no live upload uses: the folders of dead processes, whatever their age, and
    any file older than ``CUSTOS_SPOOL_MAX_AGE_MINUTES``. Safe to run while uploads are in
    progress (their process holds its folder's lock) and from several processes at once."""
    now = now or datetime.datetime.now(tz=datetime.UTC)
    bound = now - datetime.timedelta(minutes=settings.CUSTOS_SPOOL_MAX_AGE_MINUTES)
    root = spool_root()
    cleaned = SpoolCleaned()
    own = _own[1] if _own is not None and _own[0] == os.getpid() and _own[1].parent == root else None
    for entry in sorted(root.iterdir()):
        if entry == own:
            cleaned.files += _clean_old_files(entry, bound)
            continue
        if entry.is_dir() and not entry.is_symlink():
            lock = _dead_owners_lock(entry)
            if lock is not None:
                try:
                    cleaned.folders += _remove(entry)
                finally:
                    os.close(lock)
                continue
            if not (entry / LOCK_NAME).exists() and _older_than(entry, bound):
                cleaned.folders += _remove(entry)
                continue
            cleaned.files += _clean_old_files(entry, bound)
        elif _older_than(entry, bound):
            cleaned.files += _remove(entry)
    if cleaned.folders or cleaned.files:
        # Counts only: a file name in the spool says nothing, but there is no need to log it.
        logger.info(
            "Upload spool cleaned: %d folders of dead processes, %d old files",
            cleaned.folders,
            cleaned.files,
        )
    return cleaned


def _clean_old_files(folder: Path, bound: datetime.datetime) -> int:
    """A live process's files older than the bound: leaked by a request that never closed its
    upload. Its lock file stays."""
    removed = 0
    for path in folder.iterdir():
        if path.name != LOCK_NAME and _older_than(path, bound):
            removed += _remove(path)
    return removed


def spool_clean_at_startup() -> None:
    """Called by the web process and the worker as they start: the uploads of processes that
    died (a kill during an upload) go before this one serves anything. A failure is logged and
    does not stop the start (the beat task tries again); a misconfigured spool does."""
    try:
        spool_clean()
    except OSError:
        logger.exception("The upload spool could not be cleaned at start-up; beat's task retries")
