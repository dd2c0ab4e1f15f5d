"""Celery task of the access log: the nightly check, thin around ``verification``."""

from __future__ import annotations

from celery import shared_task

from compliance_site.audit.digests import digests_write_due
from compliance_site.audit.verification import access_log_verify


# The name is what the periodic task provisioned in the database runs (compliance_site.schedule);
# it kept the name it had in recordings.
@shared_task(name="recordings.tasks.verify_access_log")
def verify_access_log() -> str:
    """Nightly: verify the access log's chain and its digests, alerting the DPO group on any
    problem; returns the first problem, or "intact"."""
    report = access_log_verify()
    return "intact" if report.intact else report.problems()[0]


@shared_task(name="compliance_site.audit.tasks.write_audit_digests")
def write_audit_digests() -> int:
    """Every period: the signed digest of the access log, outside the database (``digests``);
    catches up the periods missed while beat was down. Returns how many were written."""
    return len(digests_write_due())
