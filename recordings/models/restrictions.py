"""Restrictions of processing (Art. 18): the durable record that a subject's data is stored only.

A restriction is placed by a completed restriction request (``dsr.rights``) and holds until a DPO
lifts it (Art. 18(3), ``dsr.restriction``): while it holds, every recording of the subject, those
that arrive later included, is restricted (stored, never used, never deleted by retention). The
record names the request by its reference (recordings may not import dsr) and lists the recordings
it restricted, so that lifting it gives back exactly those.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from recordings.models.calls import Recording
from recordings.models.constraints import choices_check
from recordings.models.subjects import DataSubject


class RestrictionGround(models.TextChoices):
    """When a subject has the right to restriction (Art. 18(1)(a)-(d))."""

    ACCURACY_CONTESTED = "accuracy_contested", "Accuracy contested, while it is verified (Art. 18(1)(a))"
    UNLAWFUL_NO_ERASURE = "unlawful_no_erasure", "Unlawful, the subject opposes erasure (Art. 18(1)(b))"
    LEGAL_CLAIMS = "legal_claims", "Needed by the subject for legal claims (Art. 18(1)(c))"
    OBJECTION_PENDING = "objection_pending", "Objection pending verification (Art. 18(1)(d))"


class SubjectRestriction(models.Model):
    """One restriction of a subject's processing, from its request to its lifting.

    At most one per subject is in force (``lifted_at`` empty); a lifted one stays as the record of
    what was restricted, when, why, by whom, and why it ended.
    """

    Ground = RestrictionGround

    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT, related_name="restrictions")
    request_reference = models.CharField(
        max_length=20, help_text="The restriction request that placed it, e.g. DSR-2026-000123."
    )
    ground = models.CharField(max_length=30, choices=RestrictionGround.choices)
    placed_at = models.DateTimeField()
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lift_reason = models.TextField(blank=True, help_text="Why the restriction ends (Art. 18(3)).")
    recordings = models.ManyToManyField(
        Recording,
        related_name="restrictions",
        blank=True,
        help_text="The recordings this restriction restricted (at placing, and calls that came later).",
    )

    history = HistoricalRecords(m2m_fields=[recordings])

    class Meta:
        ordering = ["-placed_at", "-pk"]
        permissions = [("lift_restriction", "Can lift a restriction of processing (DPO, Art. 18(3))")]
        constraints = [
            choices_check("ground", RestrictionGround, "restriction_ground_valid"),
            models.CheckConstraint(condition=~Q(request_reference=""), name="restriction_request_named"),
            # One restriction in force per subject: ingest and the sweep ask "is there one?".
            models.UniqueConstraint(
                fields=["subject"], condition=Q(lifted_at__isnull=True), name="restriction_one_in_force"
            ),
            # A lift is dated, signed and reasoned, or there is none.
            models.CheckConstraint(
                condition=Q(lifted_at__isnull=True, lifted_by__isnull=True, lift_reason="")
                | Q(lifted_at__isnull=False, lifted_by__isnull=False) & ~Q(lift_reason=""),
                name="restriction_lift_complete",
            ),
            models.CheckConstraint(
                condition=Q(lifted_at__isnull=True) | Q(lifted_at__gte=F("placed_at")),
                name="restriction_lifted_after_placed",
            ),
        ]

    def __str__(self) -> str:
        state = "lifted" if self.lifted_at else "in force"
        return f"Restriction under {self.request_reference} ({state})"

    @property
    def in_force(self) -> bool:
        return self.lifted_at is None
