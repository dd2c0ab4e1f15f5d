"""Retention's answers to events of the recordings app (which may not import retention)."""

from __future__ import annotations

from recordings.models import Recording
from retention.services import recording_keep_until_recompute


def keep_until_on_ingest(sender, *, recording: Recording, **kwargs) -> None:
    recording_keep_until_recompute(recording=recording)


def keep_until_on_grounds_changed(sender, *, recordings: list[Recording], **kwargs) -> None:
    for recording in recordings:
        recording_keep_until_recompute(recording=recording)
