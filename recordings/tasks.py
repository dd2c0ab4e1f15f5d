"""Celery tasks of recordings: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task

from recordings.playback.sessions import playbacks_seal_idle
from recordings.vault.dead_rows import key_tables_vacuum


@shared_task(name="recordings.tasks.seal_idle_playbacks")
def seal_idle_playbacks() -> int:
    """Every minute: one access event per finished playback; returns how many were sealed."""
    return playbacks_seal_idle()


@shared_task(name="recordings.tasks.vacuum_key_tables")
def vacuum_key_tables() -> list[str]:
    """After an erasure batch commits (debounced): VACUUM the tables that held the destroyed keys,
    so their dead rows leave the pages (recordings.vault.dead_rows). Safe to run twice."""
    return key_tables_vacuum()
