"""Celery tasks of recordings: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task

from recordings.audit_check import access_log_verify
from recordings.playback_log import playbacks_seal_idle


@shared_task(name="recordings.tasks.seal_idle_playbacks")
def seal_idle_playbacks() -> int:
    """Every minute: one access event per finished playback; returns how many were sealed."""
    return playbacks_seal_idle()


@shared_task(name="recordings.tasks.verify_access_log")
def verify_access_log() -> str:
    """Nightly: verify the access log's chain, alerting the DPO group on a break; returns the
    first broken link, or "intact"."""
    broken = access_log_verify()
    return "intact" if broken is None else str(broken)
