"""Celery tasks of recordings: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task

from compliance_site.leases import lease_acquire
from recordings.playback.sessions import playbacks_seal_idle
from recordings.redaction_at_rest import redact_recording_at_rest
from recordings.redaction_at_rest_beat import finish_redactions_at_rest
from recordings.renditions import delete_stale_renditions, finish_muted_renditions, render_muted_rendition
from recordings.vault.dead_rows import vacuum_key_tables
from recordings.vault.retirement import master_key_versions_retire
from recordings.vault.rotation import master_key_rotate

__all__ = [
    "delete_stale_renditions",
    "finish_muted_renditions",
    "finish_redactions_at_rest",
    "redact_recording_at_rest",
    "render_muted_rendition",
    "rotate_master_key",
    "seal_idle_playbacks",
    "vacuum_key_tables",
]


@shared_task(name="recordings.tasks.seal_idle_playbacks")
def seal_idle_playbacks() -> int:
    """Every minute: one access event per finished playback; returns how many were sealed."""
    return playbacks_seal_idle()


@shared_task(name="recordings.tasks.rotate_master_key")
def rotate_master_key() -> dict[str, object]:
    """Every hour: finish or start (when due) a master-key rotation, then destroy the versions
    retired longer than the backup retention. Counts and version ids only."""
    try:
        lease = lease_acquire("master-key-rotation", 0)
    except RuntimeError:
        return {"skipped": "a rotation is running in another process"}
    try:
        result = master_key_rotate()
        destroyed = master_key_versions_retire()
    finally:
        lease.release()
    return {
        "started": result.started,
        "subject_keys": result.subject_keys,
        "authenticator_keys": result.authenticator_keys,
        "destroyed": destroyed,
    }
