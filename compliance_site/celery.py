"""The Celery app. Beat reads its schedule from django-celery-beat's tables (DatabaseScheduler)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "compliance_site.settings")

app = Celery("custos")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _clean_upload_spool(**kwargs) -> None:
    """A worker starting on a host deletes the uploads its dead processes left in the spool."""
    from compliance_site.spool import spool_clean_at_startup

    spool_clean_at_startup()
