"""Sensitive segments of a call: the rules for their bounds, and marking one in the back office.

A segment is a time range of the call (payment card, bank details, address, health, other) that
playback mutes for everyone without unredacted playback (``recordings.playback.audio``). The telephony
system sends them with the call (``RecordingMetadataSerializer``, stored by ``recording_ingest``);
a DPO or QA lead holding ``mark_sensitive`` adds them on the recording's admin page; the payment
data found in a transcript's word timings (``detection``) adds them when the transcript is stored.
A DPO holding ``remove_sensitive_segment`` removes one found or marked wrongly, with a reason
(``sensitive_segment_remove``): the history keeps it, the access log the reason.
"""

from __future__ import annotations

import datetime
import logging
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.dispatch import Signal
from simple_history.utils import bulk_create_with_history

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.model_update import history_delete, history_save, model_update
from recordings.models import Recording, SensitiveSegment
from recordings.redaction.detection import DETECTOR_VERSION, Finding
from recordings.selectors import recordings_visible_to

logger = logging.getLogger(__name__)

PERMISSION = "recordings.mark_sensitive"
REMOVE_PERMISSION = "recordings.remove_sensitive_segment"
REMOVAL_REASON_MIN_LENGTH, REMOVAL_REASON_MAX_LENGTH = 10, 500
# C0 controls but tab and newline, DEL and the C1 controls (as a transcript's).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
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


def _padded_spans(findings: list[Finding], *, duration: Decimal) -> list[tuple[str, Decimal, Decimal]]:
    """Each finding padded by the margin, clamped to the call, and merged with the overlapping
    ones of its kind: (kind, start, end), by kind then start."""
    margin = settings.CUSTOS_DETECTED_SEGMENT_MARGIN_SECONDS
    spans: list[tuple[str, Decimal, Decimal]] = []
    for finding in sorted(findings, key=lambda f: (f.kind, f.start)):
        start, end = segment_bounds(
            max(finding.start - margin, Decimal(0)), min(finding.end + margin, duration)
        )
        if end <= start:
            continue  # said after the call's end by the transcript's clock: nothing of the audio
        if spans and spans[-1][0] == finding.kind and start <= spans[-1][2]:
            spans[-1] = (finding.kind, spans[-1][1], max(end, spans[-1][2]))
        else:
            spans.append((finding.kind, start, end))
    return spans


@transaction.atomic
def sensitive_segments_detected_record(*, recording: Recording, findings: list[Finding]) -> int:
    """Mark what the transcript's detector found (source ``transcript``, its version), padded by
    ``CUSTOS_DETECTED_SEGMENT_MARGIN_SECONDS``. A span already covered by a segment of its kind is
    left; one overlapping segments found before grows the first of them to cover them all (the
    others go), so a second run changes nothing. Returns how many segments were added or changed;
    the rendition follows once for all of them."""
    spans = _padded_spans(findings, duration=call_seconds(recording.started_at, recording.ended_at))
    if not spans:
        return 0
    # The recording's segments locked in id order, as every writer of them would: two runs for
    # one recording do not both add the same span.
    existing = list(recording.sensitive_segments.select_for_update(of=("self",)).order_by("pk"))
    changed, created = 0, []
    for kind, start, end in spans:
        same_kind = [segment for segment in existing if segment.kind == kind]
        if any(s.start_seconds <= start and end <= s.end_seconds for s in same_kind):
            continue
        overlapping = [
            s
            for s in same_kind
            if s.source == SensitiveSegment.Source.TRANSCRIPT
            and s.start_seconds <= end
            and start <= s.end_seconds
        ]
        if not overlapping:
            created.append(
                SensitiveSegment(
                    recording=recording,
                    start_seconds=start,
                    end_seconds=end,
                    kind=kind,
                    source=SensitiveSegment.Source.TRANSCRIPT,
                    detector_version=DETECTOR_VERSION,
                )
            )
            continue
        keep, *merged = overlapping
        model_update(
            keep,
            actor=None,
            start_seconds=min(start, *(s.start_seconds for s in overlapping)),
            end_seconds=max(end, *(s.end_seconds for s in overlapping)),
            detector_version=DETECTOR_VERSION,
            redacted_at_rest=None,  # grown: its new part is not silent in the stored audio yet
        )
        for segment in merged:
            segment.delete()
            existing.remove(segment)
        changed += 1
    if created:
        bulk_create_with_history(created, SensitiveSegment)
    if changed or created:
        sensitive_segments_changed.send(sender=SensitiveSegment, recording=recording)
        # Counts and ids only: where a card number was said is no business of the log.
        count = changed + len(created)
        logger.info("Recording %s: %d sensitive segments found in its transcript", recording.pk, count)
    return changed + len(created)


@transaction.atomic
def sensitive_segment_remove(
    *, segment: SensitiveSegment, actor, reason: str, client_ip: str | None = None
) -> None:
    """Remove a segment found or marked wrongly, by a holder of ``remove_sensitive_segment`` (the
    DPO) who may see its recording, giving a reason: the history keeps a delete row by them, the
    access log a ``segment_removed`` event with the reason (as an ``unredacted`` one keeps its
    own), and the muted rendition follows. What it muted is heard from the next request on."""
    if actor is None or not (actor.is_active and actor.has_perm(REMOVE_PERMISSION)):
        raise PermissionDenied("Removing a sensitive segment needs the remove_sensitive_segment permission.")
    if not recordings_visible_to(actor).filter(pk=segment.recording_id).exists():
        raise PermissionDenied("The recording is out of your reach.")
    reason = (reason or "").strip()
    if not REMOVAL_REASON_MIN_LENGTH <= len(reason) <= REMOVAL_REASON_MAX_LENGTH or _CONTROL.search(reason):
        raise ValidationError(
            {
                "reason": f"Give the reason in {REMOVAL_REASON_MIN_LENGTH} to {REMOVAL_REASON_MAX_LENGTH} "
                "characters, without control characters."
            }
        )
    # Locked, and read again: removed meanwhile (another tab, another DPO) is no second removal.
    locked = SensitiveSegment.objects.select_for_update().filter(pk=segment.pk).first()
    if locked is None:
        raise ValidationError("The segment was removed meanwhile.")
    recording = Recording.objects.get(pk=locked.recording_id)
    detail = {
        "segment": locked.pk,
        "kind": locked.kind,
        "source": locked.source,
        "detector_version": locked.detector_version,
        "start_seconds": str(locked.start_seconds),
        "end_seconds": str(locked.end_seconds),
        # Silenced in the stored audio itself: removing the segment does not bring that back.
        "silenced_at_rest": locked.redacted_at_rest_id is not None,
        "reason": reason,
    }
    # The history's reason is short (100 characters): the full one is the access event's.
    history_delete(locked, actor=actor, reason="Removed as marked wrongly (reason in the access log)")
    access_event_record(
        action=AccessAction.SEGMENT_REMOVED,
        object_type="recording",
        object_id=recording.pk,
        object_reference=recording.reference,
        actor=actor,
        detail=detail,
        client_ip=client_ip,
    )
    sensitive_segments_changed.send(sender=SensitiveSegment, recording=recording)
    logger.info("Sensitive segment %s removed from recording %s", detail["segment"], recording.pk)
