"""Celery tasks of the project package: thin wrappers around its services."""

from __future__ import annotations

from celery import shared_task

from compliance_site.object_permissions import object_permissions_clean_orphans


@shared_task(name="compliance_site.tasks.clean_orphan_object_permissions")
def clean_orphan_object_permissions() -> int:
    """Nightly: remove object permissions left behind by deleted objects; returns how many."""
    return object_permissions_clean_orphans()
