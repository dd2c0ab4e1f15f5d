"""Consents and objections: the decisions of a data subject that make keeping a call lawful, or not."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from recordings.models.calls import Recording
from recordings.models.constraints import choices_check
from recordings.models.subjects import DataSubject, Purpose, RecordingNotice


class ConsentDecision(models.TextChoices):
    GIVEN = "given", "Given"
    REFUSED = "refused", "Refused"


class ConsentMethod(models.TextChoices):
    VERBAL_AGENT = "verbal_agent", "Agent asked, verbal yes"
    IVR_KEYPRESS = "ivr_keypress", "IVR key press"
    WEB_FORM = "web_form", "Web form"
    WRITTEN = "written", "Written"


class Consent(models.Model):
    """One explicit decision of a subject for one purpose, with its evidence (Art. 7(1)).

    The ledger is append-only: a changed mind is a new record; a withdrawal (Art. 7(3)) fills the
    withdrawn_* fields and deletes nothing.
    """

    Decision = ConsentDecision
    Method = ConsentMethod

    class Channel(models.TextChoices):
        PHONE = "phone", "Phone"
        IVR = "ivr", "IVR"
        WEB = "web", "Web"
        EMAIL = "email", "Email"
        LETTER = "letter", "Letter"
        DSR = "dsr", "Data-subject request"

    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT, related_name="consents")
    recording = models.ForeignKey(
        Recording, null=True, blank=True, on_delete=models.PROTECT, related_name="consents"
    )
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="consents")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    method = models.CharField(max_length=20, choices=Method.choices)
    notice = models.ForeignKey(RecordingNotice, on_delete=models.PROTECT, related_name="consents")
    captured_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="captured_consents",
        help_text="The agent who asked; empty for IVR and web consents.",
    )
    captured_at = models.DateTimeField()
    evidence_offset = models.DurationField(
        null=True, blank=True, help_text="Where in the call the answer was given."
    )
    jurisdiction = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 country code.")
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_via = models.CharField(max_length=10, choices=Channel.choices, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recorded_withdrawals",
        help_text="Staff who recorded the withdrawal on the subject's behalf.",
    )
    withdrawn_under = models.CharField(
        max_length=40,
        blank=True,
        help_text="The request the withdrawal was made under, e.g. a data-subject request's reference.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-captured_at", "-pk"]
        permissions = [("withdraw_consent", "Can record a consent withdrawal")]
        indexes = [
            models.Index(fields=["subject", "purpose"], name="consent_subject_purpose_idx"),
            models.Index(fields=["-captured_at", "-id"], name="consent_captured_idx"),
        ]
        constraints = [
            choices_check("decision", ConsentDecision, "consent_decision_valid"),
            choices_check("method", ConsentMethod, "consent_method_valid"),
            models.CheckConstraint(
                condition=Q(withdrawn_at__isnull=True, withdrawn_via="")
                | Q(withdrawn_at__isnull=False) & ~Q(withdrawn_via=""),
                name="consent_withdrawal_complete",
            ),
            models.CheckConstraint(
                condition=Q(withdrawn_at__isnull=True) | Q(withdrawn_at__gte=F("captured_at")),
                name="consent_withdrawn_after_captured",
            ),
            models.CheckConstraint(
                condition=Q(withdrawn_at__isnull=True) | Q(decision="given"),
                name="consent_only_given_is_withdrawn",
            ),
            models.CheckConstraint(
                condition=Q(withdrawn_under="") | Q(withdrawn_at__isnull=False),
                name="consent_withdrawn_under_only_withdrawn",
            ),
            models.CheckConstraint(
                condition=Q(jurisdiction__regex=r"^[A-Z]{2}$"), name="consent_jurisdiction_iso"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} for {self.purpose_id} ({self.subject_id})"

    @property
    def is_active(self) -> bool:
        return self.decision == self.Decision.GIVEN and self.withdrawn_at is None


class ObjectionDecision(models.TextChoices):
    PENDING = "pending", "Pending"
    UPHELD = "upheld", "Upheld: processing for this purpose stops"
    OVERRULED = "overruled", "Overruled: compelling legitimate grounds (Art. 21(1))"


class Objection(models.Model):
    """A subject's objection (Art. 21) to processing for one purpose on legitimate interests.

    Once upheld, recordings held on legitimate interests no longer serve that purpose.
    """

    Decision = ObjectionDecision

    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT, related_name="objections")
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="objections")
    received_at = models.DateTimeField()
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True, help_text="The grounds of the decision.")

    history = HistoricalRecords()

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["subject", "purpose", "decision"], name="objection_subject_idx")]
        constraints = [
            choices_check("decision", ObjectionDecision, "objection_decision_valid"),
            models.CheckConstraint(
                condition=Q(decision="pending", decided_at__isnull=True)
                | ~Q(decision="pending") & Q(decided_at__isnull=False),
                name="objection_decision_dated",
            ),
        ]

    def __str__(self) -> str:
        return f"Objection to {self.purpose_id} ({self.subject_id}): {self.decision}"
