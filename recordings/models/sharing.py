"""Shares: a recording shared with a recipient, on a ground, through an expiring, revocable link."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from recordings.models.calls import Recording
from recordings.models.subjects import Recipient


class ShareGround(models.TextChoices):
    CONSENT = "consent", "The subject's consent to sharing with third parties"
    LEGAL_CLAIM = (
        "legal_claim",
        "Establishment, exercise or defence of a legal claim (Art. 9(2)(f), 17(3)(e))",
    )
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation (Art. 6(1)(c))"


class Share(models.Model):
    """A recording made available to one recipient through an expiring, revocable link."""

    Ground = ShareGround

    recording = models.ForeignKey(Recording, on_delete=models.PROTECT, related_name="shares")
    recipient = models.ForeignKey(Recipient, on_delete=models.PROTECT, related_name="shares")
    ground = models.CharField(max_length=20, choices=Ground.choices)
    ground_note = models.TextField(blank=True, help_text="The claim or obligation, stated on the share.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)
    fetch_count = models.PositiveIntegerField(default=0)

    history = HistoricalRecords(excluded_fields=["token_hash"])

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="share_expires_after_created"
            ),
            models.CheckConstraint(
                condition=Q(ground="consent") | ~Q(ground_note=""), name="share_other_ground_stated"
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | ~Q(revoked_reason=""),
                name="share_revocation_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"Share of {self.recording_id} with {self.recipient}"

    def is_open(self, now) -> bool:
        return self.revoked_at is None and self.expires_at > now
