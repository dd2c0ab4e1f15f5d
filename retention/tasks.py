"""Celery tasks of retention: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from retention.services import blobs_delete_pending, retention_sweep


@shared_task(name="retention.tasks.run_retention_sweep")
def run_retention_sweep() -> int:
    """Nightly: delete what retention says must go; returns the SweepRun id."""
    return retention_sweep(now=timezone.now()).pk


@shared_task(
    name="retention.tasks.delete_pending_blobs",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def delete_pending_blobs() -> None:
    """On demand, after an erasure commits: delete the blobs its tombstones still name (a blob the
    storage refuses stays pending and is logged; the task retries, and the nightly sweep too)."""
    blobs_delete_pending()
