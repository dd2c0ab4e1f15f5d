"""Calibration: several QA leads score the same call blind, then compare and agree."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from recordings.models import Recording
from reviews.models.scorecards import ScorecardVersion


class CalibrationSession(models.Model):
    """A calibration of one recording against one scorecard version.

    The participants' evaluations point here (``Evaluation.calibration``); none is shown to
    another participant before every participant has submitted (``revealed_at``).
    """

    recording = models.ForeignKey(
        Recording, null=True, blank=True, on_delete=models.SET_NULL, related_name="calibrations"
    )
    scorecard_version = models.ForeignKey(ScorecardVersion, on_delete=models.PROTECT, related_name="+")
    participants = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="calibrations")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revealed_at = models.DateTimeField(null=True, blank=True)
    agreed_score = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    agreed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    agreed_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    # When the recording was erased or expired: the session keeps its numbers, not its call.
    detached_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords(m2m_fields=[participants])

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(agreed_score__isnull=True) | Q(agreed_score__gte=0, agreed_score__lte=100),
                name="calibrationsession_agreed_score_0_100",
            ),
            models.CheckConstraint(
                condition=Q(agreed_score__isnull=True) | Q(revealed_at__isnull=False),
                name="calibrationsession_agreed_after_reveal",
            ),
        ]

    def __str__(self) -> str:
        return f"Calibration #{self.pk}"
