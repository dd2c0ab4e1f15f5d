"""Sensitive segments of a call: the rules for their bounds, and marking one in the back office.

A segment is a time range of the call (payment card, bank details, address, health, other) that
playback mutes for everyone without unredacted playback (``recordings.playback.audio``). The telephony
system sends them with the call (``RecordingMetadataSerializer``, stored by ``recording_ingest``);
a DPO or QA lead holding ``mark_sensitive`` adds them on the recording's admin page.
"""

from __future__ import annotations

import datetime
import logging
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.dispatch import Signal

from compliance_site.model_update import history_save
from recordings.models import Recording, SensitiveSegment

logger = logging.getLogger(__name__)

PERMISSION = "recordings.mark_sensitive"
# The model keeps milliseconds (9 digits, 3 decimal places): longer calls do not exist.
MAX_SECONDS = Decimal("999999.999")
_MILLISECOND = Decimal("0.001")
# Sent with ``recording`` inside the transaction that changed its segments: its muted rendition
# must follow them (``recordings.renditions``, connected in ``recordings.apps``).
sensitive_segments_changed = Signal()


def segment_bounds(start, end) -> tuple[Decimal, Decimal]:
    """A segment's (start, end) seconds to the millisecond, rounded outward (start down, end up),
    so that what is muted never falls short of what was marked."""
    return (
        Decimal(str(start)).quantize(_MILLISECOND, rounding=ROUND_FLOOR),
        Decimal(str(end)).quantize(_MILLISECOND, rounding=ROUND_CEILING),
    )


def call_seconds(started_at: datetime.datetime, ended_at: datetime.datetime) -> Decimal:
    """A call's duration in seconds, to the millisecond (rounded up)."""
    duration = ended_at - started_at
    microseconds = (duration.days * 86400 + duration.seconds) * 1_000_000 + duration.microseconds
    return (Decimal(microseconds) / 1_000_000).quantize(_MILLISECOND, rounding=ROUND_CEILING)


def segment_errors(start: Decimal, end: Decimal, *, duration: Decimal) -> dict[str, str]:
    """What is wrong with a segment of a call lasting ``duration`` seconds, by field; empty if
    nothing. A segment lies within the call and ends after it starts."""
    if start < 0:
        return {"start_seconds": "A segment cannot start before the call."}
    if end <= start:
        return {"end_seconds": "A segment must end after it starts."}
    if start >= duration:
        return {"start_seconds": f"The segment starts after the call's end ({duration} s into it)."}
    if end > duration:
        return {"end_seconds": f"The segment ends after the call's end ({duration} s into it)."}
    return {}


@transaction.atomic
def sensitive_segment_mark(
    *, recording: Recording, start_seconds, end_seconds, kind: str, actor
) -> SensitiveSegment:
    """Mark a segment of the call sensitive, by a member of staff (``marked_by`` and the history's
    user): it is muted for everyone without unredacted playback from the next request on."""
    start, end = segment_bounds(start_seconds, end_seconds)
    errors = segment_errors(start, end, duration=call_seconds(recording.started_at, recording.ended_at))
    if kind not in SensitiveSegment.Kind.values:
        errors.setdefault("kind", f"Unknown kind {kind!r}.")
    if errors:
        raise ValidationError(errors)
    segment = SensitiveSegment(
        recording=recording,
        start_seconds=start,
        end_seconds=end,
        kind=kind,
        source=SensitiveSegment.Source.STAFF,
        marked_by=actor,
    )
    history_save(segment, actor=actor)
    sensitive_segments_changed.send(sender=SensitiveSegment, recording=recording)
    # Ids only: the kind and the times are no personal data, but they say nothing useful in a log.
    logger.info("Sensitive segment %s marked on recording %s", segment.pk, recording.pk)
    return segment
