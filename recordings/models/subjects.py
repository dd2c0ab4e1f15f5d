"""Data subjects, their calls and the consents and purposes that make keeping a call lawful.

Invariants the database can hold are constraints here; rules that need the clock or other rows
live in selectors and services.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords


class LawfulBasis(models.TextChoices):
    """The six lawful bases of GDPR Art. 6(1)(a)-(f)."""

    CONSENT = "consent", "Consent (Art. 6(1)(a))"
    CONTRACT = "contract", "Contract (Art. 6(1)(b))"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation (Art. 6(1)(c))"
    VITAL_INTERESTS = "vital_interests", "Vital interests (Art. 6(1)(d))"
    PUBLIC_TASK = "public_task", "Public interest / official authority (Art. 6(1)(e))"
    LEGITIMATE_INTERESTS = "legitimate_interests", "Legitimate interests (Art. 6(1)(f))"


class DataSubject(models.Model):
    """A caller whose voice and data we hold, known to staff by a pseudonymous reference.

    Name, phone and email exist only as ciphertext under the subject key (``recordings.vault.keys``
    reads and writes them), so history rows and backups hold ciphertext too, and destroying the
    subject key shreds every copy. Phone and email are found through blind indexes (HMAC under a
    separate index key), never by their clear value.
    """

    reference = models.CharField(
        max_length=32, unique=True, help_text="Pseudonymous reference used in tickets and logs."
    )
    full_name_encrypted = models.BinaryField(default=b"", blank=True, editable=False)
    phone_encrypted = models.BinaryField(default=b"", blank=True, editable=False)
    email_encrypted = models.BinaryField(default=b"", blank=True, editable=False)
    phone_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    email_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["-created_at", "-id"], name="subject_created_idx")]
        permissions = [("view_all_subjects", "Can view every data subject (DPO, auditor)")]
        constraints = [
            models.CheckConstraint(condition=~Q(reference=""), name="subject_reference_not_empty"),
        ]

    def __str__(self) -> str:
        return self.reference


class Queue(models.Model):
    """A support team or queue; QA leads are granted review of queues (guardian)."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        permissions = [("review_queue", "Can review the recordings of this queue")]

    def __str__(self) -> str:
        return self.name


class Purpose(models.Model):
    """A stated, specific purpose a recording may serve (quality assurance, training, ...)."""

    QUALITY_ASSURANCE = "quality_assurance"
    SHARING = "sharing_with_third_parties"

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField()

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Recipient(models.Model):
    """Someone outside the controller who receives recordings for a purpose (a processor such as
    an outsourced QA vendor, or a third party): listed in access answers (Art. 15(1)(c)) and told
    of rectifications, erasures and restrictions (Art. 19)."""

    class Role(models.TextChoices):
        PROCESSOR = "processor", "Processor (Art. 28)"
        THIRD_PARTY = "third_party", "Third party"

    class TransferGround(models.TextChoices):
        NONE = "", "None (inside the EU/EEA)"
        ADEQUACY = "adequacy", "Adequacy decision (Art. 45)"
        SCC = "scc", "Standard contractual clauses (Art. 46(2)(c))"
        BCR = "bcr", "Binding corporate rules (Art. 47)"

    name = models.CharField(max_length=200)
    role = models.CharField(max_length=12, choices=Role.choices)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 country of processing.")
    dpa_signed = models.BooleanField(
        "data processing agreement signed", default=False, help_text="Art. 28(3) contract in place."
    )
    transfer_ground = models.CharField(
        max_length=10,
        choices=TransferGround.choices,
        blank=True,
        help_text="Required outside the EU/EEA; without it the recipient receives nothing.",
    )
    safeguard = models.CharField(
        max_length=200, blank=True, help_text="Details of the transfer ground (decision, SCC module, date)."
    )
    contact = models.CharField(max_length=200, blank=True, help_text="Where shares and Art. 19 notices go.")
    purposes = models.ManyToManyField(Purpose, related_name="recipients")

    history = HistoricalRecords(m2m_fields=[purposes])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RecordingNotice(models.Model):
    """The text that told the caller when, where and how the call is recorded (Art. 13)."""

    version = models.CharField(max_length=20)
    language = models.CharField(max_length=10, help_text="BCP 47 language tag, e.g. de or en.")
    text = models.TextField()
    published_at = models.DateTimeField()

    history = HistoricalRecords()

    class Meta:
        ordering = ["-published_at", "language"]
        constraints = [
            models.UniqueConstraint(fields=["version", "language"], name="notice_version_language_unique"),
        ]

    def __str__(self) -> str:
        return f"Notice {self.version} ({self.language})"


class LegitimateInterestAssessment(models.Model):
    """The balancing test that must exist before legitimate interests can be a basis (Art. 6(1)(f))."""

    title = models.CharField(max_length=200)
    purposes = models.ManyToManyField(Purpose, related_name="legitimate_interest_assessments")
    balancing_summary = models.TextField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(m2m_fields=[purposes])

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True, approved_at__isnull=True)
                | Q(approved_by__isnull=False, approved_at__isnull=False),
                name="lia_approval_complete",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_approved(self) -> bool:
        return self.approved_at is not None
