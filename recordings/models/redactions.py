"""Redactions at rest: the stored audio of a recording rewritten with its sensitive segments of
the kinds a policy names silenced, under a new recording key, the old key destroyed."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from recordings.models.calls import Recording
from recordings.models.constraints import choices_check


class AtRestRedactionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Being rewritten"
    SWAPPED = "swapped", "Redacted; the unredacted version is being removed"
    DONE = "done", "Redacted at rest"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled (erased, re-attributed, or nothing left to silence)"


class AtRestRedaction(models.Model):
    """One rewrite of a recording's stored audio with some of its segments silenced
    (``recordings.redaction_at_rest``), and the durable record of it: the segments it silenced,
    by which rule, when. A work row before it is evidence: written pending in the transaction
    that asks for it, claimed by a worker, swapped in one transaction, finished by beat.

    The keys in flight live here, wrapped under the subject's key like ``RecordingKey``'s: the new
    key from the claim to the swap (``target_wrapped_key``), and the old one after the swap only
    while ``CUSTOS_UNREDACTED_KEEP_HOURS`` allows (``previous_wrapped_key``). No history, for the
    reason the key tables have none: a copy of a wrapped key would outlive its destruction."""

    Status = AtRestRedactionStatus

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="at_rest_redactions")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    rule = models.CharField(
        max_length=200, blank=True, help_text="The policy that asked for it, as the recording page says it."
    )
    # What was silenced, as it was when the rewrite began: [{"kind", "start", "end", "source"}].
    segments = models.JSONField(default=list, blank=True)
    source_ref = models.CharField(max_length=255, blank=True, help_text="The unredacted blob.")
    target_ref = models.CharField(
        max_length=255, blank=True, help_text="The redacted blob; named before it is written."
    )
    # Blobs of rewrites handed back or cancelled: written down before anything forgets them, deleted
    # by beat (a kill between the two leaves a name, never a blob no row names).
    discarded_refs = models.JSONField(default=list, blank=True)
    target_wrapped_key = models.BinaryField(default=b"", blank=True, editable=False)
    previous_wrapped_key = models.BinaryField(default=b"", blank=True, editable=False)
    previous_kept_until = models.DateTimeField(null=True, blank=True)
    source_deleted_at = models.DateTimeField(null=True, blank=True)
    muted_seconds = models.DecimalField(max_digits=12, decimal_places=3, default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True, help_text="Why the last attempt failed.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    swapped_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["recording", "-created_at"]
        constraints = [
            # One rewrite at a time per recording: a second request meets the first and joins it.
            models.UniqueConstraint(
                fields=["recording"],
                condition=Q(status__in=["pending", "running"]),
                name="atrest_one_in_flight",
            ),
            choices_check("status", AtRestRedactionStatus, "atrest_status_valid"),
            # The new key exists only between the claim and the swap.
            models.CheckConstraint(
                condition=Q(status="running") | Q(target_wrapped_key=b""), name="atrest_target_key_in_flight"
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "id"],
                condition=Q(status__in=["pending", "running", "swapped"]) | ~Q(discarded_refs=[]),
                name="atrest_work_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Redaction at rest {self.pk} of recording {self.recording_id} ({self.status})"
