"""Celery tasks of the QA reviews: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from reviews.retention import evaluations_sweep


@shared_task(name="reviews.tasks.sweep_expired_evaluations")
def sweep_expired_evaluations() -> int:
    """Nightly: delete the evaluations past CUSTOS_EVALUATION_RETENTION_DAYS, with tombstones;
    returns how many went."""
    return evaluations_sweep(now=timezone.now())
