"""Celery tasks of the project package: thin wrappers around its services."""

from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from celery import shared_task
from django.conf import settings

from compliance_site.object_permissions import object_permissions_clean_orphans
from compliance_site.spool import spool_clean


@shared_task(name="compliance_site.tasks.clean_orphan_object_permissions")
def clean_orphan_object_permissions() -> int:
    """Nightly: remove object permissions left behind by deleted objects; returns how many."""
    return object_permissions_clean_orphans()


@shared_task(name="compliance_site.tasks.prune_login_logs")
def prune_login_logs() -> int:
    """Nightly: delete axes' login and login-failure logs older than ``CUSTOS_LOGIN_LOG_DAYS``
    (they hold staff usernames and addresses); returns how many. Lockouts expire on their own."""
    days = settings.CUSTOS_LOGIN_LOG_DAYS
    return AxesProxyHandler.reset_logs(age_days=days) + AxesProxyHandler.reset_failure_logs(age_days=days)


@shared_task(name="compliance_site.tasks.purge_stale_login_state")
def purge_stale_login_state() -> int:
    """Nightly: delete expired sessions (``clearsessions``) and enrolments never confirmed;
    returns how many rows went."""
    from compliance_site.services import authenticators_pending_purge
    from compliance_site.sessions import sessions_expired_purge

    return sessions_expired_purge() + authenticators_pending_purge()


@shared_task(name="compliance_site.tasks.clean_upload_spool")
def clean_upload_spool() -> int:
    """Every few minutes: delete the uploads that dead processes left in this host's spool, and
    files older than ``CUSTOS_SPOOL_MAX_AGE_MINUTES``; returns how many folders and files."""
    cleaned = spool_clean()
    return cleaned.folders + cleaned.files
