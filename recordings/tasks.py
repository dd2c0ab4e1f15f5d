"""Celery tasks of recordings: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task

from recordings.playback.sessions import playbacks_seal_idle
from recordings.vault.dead_rows import vacuum_key_tables

__all__ = ["seal_idle_playbacks", "vacuum_key_tables"]


@shared_task(name="recordings.tasks.seal_idle_playbacks")
def seal_idle_playbacks() -> int:
    """Every minute: one access event per finished playback; returns how many were sealed."""
    return playbacks_seal_idle()
