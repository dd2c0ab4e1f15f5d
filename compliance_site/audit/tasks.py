"""Celery task of the access log: the nightly check, thin around ``verification``."""

from __future__ import annotations

from celery import shared_task

from compliance_site.audit.verification import access_log_verify


# The name is what the periodic task provisioned in the database runs (compliance_site.schedule);
# it kept the name it had in recordings.
@shared_task(name="recordings.tasks.verify_access_log")
def verify_access_log() -> str:
    """Nightly: verify the access log's chain, alerting the DPO group on a break; returns the
    first broken link, or "intact"."""
    broken = access_log_verify()
    return "intact" if broken is None else str(broken)
