"""Master-key rotation on a schedule: a new version once the current one is older than
``CUSTOS_MASTER_KEY_ROTATION_DAYS``, then every subject key and staff authenticator key
re-wrapped under it, in batches.

Resumable: a rotation cut short leaves keys under the old version (still readable); the next run
finishes it before it would ever start another. Progress goes to the log (counts only) and to
the caller's ``progress`` callback (the management command prints it).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from compliance_site.audit.audit_keys import audit_keys_rotate, audit_keys_stale_count
from compliance_site.keys import get_provider
from compliance_site.services import authenticators_rewrap_batch, authenticators_stale_count
from recordings.vault.services import subject_keys_rewrap_batch, subject_keys_stale_count

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RotationResult:
    started: str | None  # the version this run created, None if it only resumed (or did nothing)
    subject_keys: int
    authenticator_keys: int


def rotation_interval() -> datetime.timedelta:
    return datetime.timedelta(days=settings.CUSTOS_MASTER_KEY_ROTATION_DAYS)


def master_key_rotation_due(*, now: datetime.datetime | None = None) -> bool:
    """Whether the current master-key version is older than the rotation interval."""
    now = now or timezone.now()
    provider = get_provider()
    current = provider.current_version()
    created = next(v.created_at for v in provider.versions() if v.version == current)
    return now - created >= rotation_interval()


def master_key_rotate(
    *,
    force: bool = False,
    resume_only: bool = False,
    batch_size: int = 500,
    now: datetime.datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RotationResult:
    """Finish a rotation under way, or else start one if it is due (or ``force``), and re-wrap
    every key under the current version. ``progress(done, total)`` after each batch."""
    provider = get_provider()
    started = None
    under_way = subject_keys_stale_count() or authenticators_stale_count() or audit_keys_stale_count()
    if not under_way and not resume_only and (force or master_key_rotation_due(now=now)):
        started = provider.create_version()
        logger.info("Master-key rotation: new version %s", started)
    total = subject_keys_stale_count()
    done = 0
    while rewrapped := subject_keys_rewrap_batch(batch_size=batch_size):
        done += rewrapped
        logger.info("Master-key rotation: %d/%d subject keys re-wrapped", done, total)
        if progress is not None:
            progress(done, total)
    # Staff authenticators too, or destroying the old version would lock every user out.
    authenticators = 0
    while rewrapped := authenticators_rewrap_batch(batch_size=batch_size):
        authenticators += rewrapped
    # The access log's keys too: a new one signs from now on, and the older ones stay readable
    # (every past event verifiable) once the old master-key version is destroyed.
    audit_keys_rotate()
    if done or authenticators:
        logger.info(
            "Master-key rotation complete: %d subject keys and %d authenticator keys under %s",
            done,
            authenticators,
            provider.current_version(),
        )
    return RotationResult(started=started, subject_keys=done, authenticator_keys=authenticators)
