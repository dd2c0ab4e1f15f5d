"""Calls: a recording of a call, its sensitive segments and its sealed transcript."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from recordings.models.constraints import choices_check
from recordings.models.subjects import DataSubject, LawfulBasis, LegitimateInterestAssessment, Purpose, Queue


class RecordingDirection(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class RecordingStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RESTRICTED = "restricted", "Restricted (Art. 18)"
    ERASED = "erased", "Erased"


class Recording(models.Model):
    """One recorded call and the reference to its stored audio."""

    Direction = RecordingDirection
    Status = RecordingStatus

    reference = models.CharField(max_length=40, unique=True)
    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT, related_name="recordings")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="handled_recordings",
    )
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="recordings")
    direction = models.CharField(max_length=10, choices=Direction.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    lawful_basis = models.CharField(max_length=30, choices=LawfulBasis.choices)
    legitimate_interest_assessment = models.ForeignKey(
        LegitimateInterestAssessment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recordings",
        help_text="Required when the lawful basis is legitimate interests.",
    )
    purposes = models.ManyToManyField(Purpose, related_name="recordings", blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    storage_ref = models.CharField(
        max_length=255, blank=True, help_text="Name of the audio blob in the recordings storage."
    )
    size_bytes = models.PositiveBigIntegerField(default=0)
    content_type = models.CharField(max_length=100, default="audio/wav")
    checksum_sha256 = models.CharField(max_length=64, blank=True)
    keep_until = models.DateTimeField(
        null=True, blank=True, help_text="Retention end, computed from the purposes' policies."
    )
    # Derived with keep_until by retention (``retention.keep_until``), never typed in: why the
    # retention ends when it does, as the tombstone will say it (a deletion reason's value, e.g.
    # "consent_withdrawn") and the rule behind it ("Policy quality_assurance: 30 days ...").
    keep_until_cause = models.CharField(max_length=30, blank=True, editable=False)
    keep_until_rule = models.CharField(max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    # History rows are looked up by recording (id) and date; the indexes simple-history would copy
    # from these fields serve no query and cost every history row written (the sweep writes one
    # per recording it erases).
    history = HistoricalRecords(
        m2m_fields=[purposes], no_db_index=["reference", "agent", "queue", "legitimate_interest_assessment"]
    )

    class Meta:
        ordering = ["-started_at", "-pk"]
        permissions = [
            ("view_all_recordings", "Can view every recording (DPO, auditor)"),
            ("review_recording", "Can review this recording (ad-hoc grant)"),
            ("play_recording", "Can play recordings"),
            ("ingest_recording", "Can push new recordings (telephony integration)"),
            ("play_unredacted", "Can hear muted segments and read unredacted transcripts (with a reason)"),
            ("share_recording", "Can share a recording with a recipient"),
            ("mark_sensitive", "Can mark sensitive segments"),
            ("reattribute_recording", "Can re-attribute a recording to another subject (DPO)"),
            ("remove_sensitive_segment", "Can remove a sensitive segment marked wrongly (DPO)"),
        ]
        indexes = [
            # Serves the admin's default ordering without a sort over the whole table.
            models.Index(fields=["-started_at", "-id"], name="recording_started_idx"),
            models.Index(fields=["queue", "-started_at"], name="recording_queue_started_idx"),
            models.Index(fields=["keep_until"], name="recording_keep_until_idx"),
            # The retention sweep's batches walk the recordings not yet erased in pk order; erased
            # rows stay as tombstoned rows, and without this a batch reads past every one of them.
            models.Index(fields=["id"], condition=~Q(status="erased"), name="recording_not_erased_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__gte=F("started_at")), name="recording_ends_after_start"
            ),
            choices_check("direction", RecordingDirection, "recording_direction_valid"),
            choices_check("status", RecordingStatus, "recording_status_valid"),
            choices_check("lawful_basis", LawfulBasis, "recording_lawful_basis_valid"),
            models.CheckConstraint(
                condition=~Q(lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS)
                | Q(legitimate_interest_assessment__isnull=False),
                name="recording_li_basis_has_assessment",
            ),
            # An erased recording has no audio left to point at.
            models.CheckConstraint(
                condition=~Q(status="erased") | Q(storage_ref=""), name="recording_erased_has_no_blob"
            ),
            models.CheckConstraint(
                condition=Q(status="erased") | ~Q(storage_ref=""), name="recording_live_has_blob"
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def duration(self):
        return self.ended_at - self.started_at


class SensitiveKind(models.TextChoices):
    PAYMENT_CARD = "payment_card", "Payment card"
    BANK_DETAILS = "bank_details", "Bank details"
    ADDRESS = "address", "Address"
    HEALTH = "health", "Health"
    OTHER = "other", "Other"


class SensitiveSegment(models.Model):
    """A time range of a call that reviewers and recipients must not hear (muted on the server)."""

    Kind = SensitiveKind

    class Source(models.TextChoices):
        TELEPHONY = "telephony", "Telephony (pause or secure-IVR marker)"
        STAFF = "staff", "Marked by staff"
        TRANSCRIPT = "transcript", "Found in the transcript"

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="sensitive_segments")
    start_seconds = models.DecimalField(max_digits=9, decimal_places=3)
    end_seconds = models.DecimalField(max_digits=9, decimal_places=3)
    kind = models.CharField(max_length=15, choices=Kind.choices)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.STAFF)
    detector_version = models.CharField(
        max_length=20, blank=True, help_text="The detector that found it in the transcript, if one did."
    )
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set when the stored audio was rewritten with this segment silenced: playback and muted
    # renditions leave it alone from then on (there is nothing left to mute), and a segment that
    # grows is cleared again (its new part is not silent yet).
    redacted_at_rest = models.ForeignKey(
        "recordings.AtRestRedaction",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="redacted_segments",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["recording", "start_seconds"]
        constraints = [
            models.CheckConstraint(condition=Q(start_seconds__gte=0), name="segment_starts_at_or_after_zero"),
            models.CheckConstraint(
                condition=Q(end_seconds__gt=F("start_seconds")), name="segment_ends_after_start"
            ),
            choices_check("kind", SensitiveKind, "segment_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.start_seconds}-{self.end_seconds}s"


class Transcript(models.Model):
    """A call's transcript, sealed under the recording's key (which the subject key wraps), so
    erasing the recording or its subject shreds it; shown redacted to reviewers
    (``recordings.redaction.transcripts``)."""

    recording = models.OneToOneField(Recording, on_delete=models.CASCADE, related_name="transcript")
    text_encrypted = models.BinaryField(default=b"", blank=True, editable=False)
    language = models.CharField(max_length=10, blank=True)
    source = models.CharField(max_length=100, blank=True, help_text="Telephony or speech-to-text vendor.")
    payment_data_flagged_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A card number outside every sensitive segment: payment data may be in the audio.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"Transcript of {self.recording_id}"
