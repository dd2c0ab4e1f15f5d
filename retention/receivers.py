"""Retention's answers to events of the recordings app (which may not import retention)."""

from __future__ import annotations

from recordings.models import Recording, SubjectRestriction
from retention.models import HeldErasure
from retention.services import recording_keep_until_recompute


def keep_until_on_ingest(sender, *, recording: Recording, **kwargs) -> None:
    recording_keep_until_recompute(recording=recording)


def keep_until_on_grounds_changed(sender, *, recordings: list[Recording], **kwargs) -> None:
    for recording in recordings:
        recording_keep_until_recompute(recording=recording)


def restricted_for_held_erasure(sender, *, restriction: SubjectRestriction, **kwargs) -> list[int]:
    """Lifting a restriction gives back none of its calls whose erasure waits for a legal hold:
    they stay restricted until the erasure is carried out."""
    return list(
        HeldErasure.objects.filter(
            recording__restrictions=restriction, state__in=HeldErasure.OPEN_STATES
        ).values_list("recording_id", flat=True)
    )
