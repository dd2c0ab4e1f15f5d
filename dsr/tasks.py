"""Celery tasks of the DSR desk: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from dsr.services import reminders_send_due


@shared_task(name="dsr.tasks.send_deadline_reminders")
def send_deadline_reminders() -> int:
    """Hourly: send every reminder that is due now; returns how many were sent."""
    return reminders_send_due(now=timezone.now())
