"""Muted renditions: a recording in a compressed or float format re-encoded with its sensitive
segments silenced, stored as a blob of its own under the recording's key."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from recordings.models.calls import Recording
from recordings.models.constraints import choices_check


class RenditionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Being rendered"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    STALE = "stale", "Stale: its blob is being deleted"


class MutedRendition(models.Model):
    """The muted audio of one recording for one set of sensitive segments (``fingerprint``: the
    SHA-256 of the segment list and the source blob's name), rendered by a worker
    (``recordings.renditions``). Playback serves the ready rendition whose fingerprint matches the
    recording's segments now, and nothing else. A rendition whose segments changed, or whose
    recording was erased, turns stale and goes with its blob.

    Derived data and a work row, without history: the segments it was made from have theirs, the
    access log records every byte served from it, and the blob is encrypted under the recording's
    key (a key shred makes it unreadable like the original)."""

    Status = RenditionStatus

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="muted_renditions")
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    storage_ref = models.CharField(
        max_length=255, blank=True, help_text="The rendition's blob; named before it is written."
    )
    content_type = models.CharField(max_length=100, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0, help_text="Plaintext bytes of the muted audio.")
    checksum_sha256 = models.CharField(max_length=64, blank=True)
    muted_seconds = models.DecimalField(max_digits=12, decimal_places=3, default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True, help_text="Why the last attempt failed.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One live rendition per segment list: a request that meets one already there joins it.
            models.UniqueConstraint(
                fields=["recording", "fingerprint"],
                condition=~Q(status="stale"),
                name="rendition_live_once",
            ),
            choices_check("status", RenditionStatus, "rendition_status_valid"),
            models.CheckConstraint(
                condition=~Q(status="ready") | ~Q(storage_ref=""), name="rendition_ready_has_blob"
            ),
        ]
        indexes = [
            # The beat's work: the rows not yet ready or not yet gone.
            models.Index(
                fields=["status", "id"],
                condition=Q(status__in=["pending", "running", "stale"]),
                name="rendition_work_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Muted rendition {self.pk} of recording {self.recording_id} ({self.status})"
