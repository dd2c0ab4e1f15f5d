"""Celery tasks of retention: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from retention.services import retention_sweep


@shared_task(name="retention.tasks.run_retention_sweep")
def run_retention_sweep() -> int:
    """Nightly: delete what retention says must go; returns the SweepRun id."""
    return retention_sweep(now=timezone.now()).pk
