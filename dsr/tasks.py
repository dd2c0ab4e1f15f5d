"""Celery tasks of the DSR desk: thin wrappers around services."""

from __future__ import annotations

import datetime

from celery import shared_task
from django.utils import timezone

from dsr.packages import package_orphans_delete, packages_expired_purge
from dsr.services import reminders_send_due


@shared_task(name="dsr.tasks.send_deadline_reminders")
def send_deadline_reminders(now: str | None = None) -> int:
    """Hourly: send every reminder that is due now; returns how many were sent.

    ``now`` (ISO 8601 with its UTC offset) stands in for the clock, for tests that drive time."""
    moment = datetime.datetime.fromisoformat(now) if now else timezone.now()
    if timezone.is_naive(moment):
        raise ValueError(f"now={now!r} must carry its UTC offset.")
    return reminders_send_due(now=moment)


@shared_task(name="dsr.tasks.purge_expired_packages")
def purge_expired_packages() -> int:
    """Nightly: delete the archives of access and portability packages past their expiry."""
    return packages_expired_purge()


@shared_task(name="dsr.tasks.delete_orphan_package_blobs")
def delete_orphan_package_blobs() -> int:
    """Every few minutes: delete the archives of package builds that died before their row was
    committed; returns how many."""
    return len(package_orphans_delete())
