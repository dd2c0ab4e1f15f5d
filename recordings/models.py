"""Data subjects, their calls and the consents and purposes that make keeping a call lawful.

Invariants the database can hold are constraints here; rules that need the clock or other rows
live in selectors and services.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from simple_history.models import HistoricalRecords


def _choices_check(field: str, choices: type[models.TextChoices], name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(**{f"{field}__in": choices.values}), name=name)


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

    Name, phone and email exist only as ciphertext under the subject key (``recordings.vault``
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
            _choices_check("direction", RecordingDirection, "recording_direction_valid"),
            _choices_check("status", RecordingStatus, "recording_status_valid"),
            _choices_check("lawful_basis", LawfulBasis, "recording_lawful_basis_valid"),
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
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
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
            _choices_check("kind", SensitiveKind, "segment_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.start_seconds}-{self.end_seconds}s"


class Transcript(models.Model):
    """A call's transcript, sealed under the recording's key (which the subject key wraps), so
    erasing the recording or its subject shreds it; shown redacted to reviewers
    (``recordings.transcripts``)."""

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

    history = HistoricalRecords()

    class Meta:
        ordering = ["-captured_at", "-pk"]
        permissions = [("withdraw_consent", "Can record a consent withdrawal")]
        indexes = [
            models.Index(fields=["subject", "purpose"], name="consent_subject_purpose_idx"),
            models.Index(fields=["-captured_at", "-id"], name="consent_captured_idx"),
        ]
        constraints = [
            _choices_check("decision", ConsentDecision, "consent_decision_valid"),
            _choices_check("method", ConsentMethod, "consent_method_valid"),
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
            _choices_check("decision", ObjectionDecision, "objection_decision_valid"),
            models.CheckConstraint(
                condition=Q(decision="pending", decided_at__isnull=True)
                | ~Q(decision="pending") & Q(decided_at__isnull=False),
                name="objection_decision_dated",
            ),
        ]

    def __str__(self) -> str:
        return f"Objection to {self.purpose_id} ({self.subject_id}): {self.decision}"


class SubjectKey(models.Model):
    """A subject's data key, wrapped by a master-key version. No history: a copy of a wrapped key
    in a history row would survive its destruction. Destroying it leaves this row as a tombstone.
    """

    subject = models.OneToOneField(DataSubject, on_delete=models.PROTECT, related_name="key")
    master_version = models.CharField(max_length=255, blank=True)
    wrapped_key = models.BinaryField(default=b"", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rewrapped_at = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["master_version"], name="subjectkey_version_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(destroyed_at__isnull=True) & ~Q(master_version="")
                | Q(destroyed_at__isnull=False, master_version=""),
                name="subjectkey_live_or_tombstone",
            ),
        ]

    def __str__(self) -> str:
        return f"Key of {self.subject_id}" + (" (destroyed)" if self.destroyed_at else "")


class RecordingKey(models.Model):
    """A recording's data key, wrapped by its subject's key with the recording id as associated
    data. No history, for the same reason as SubjectKey."""

    recording = models.OneToOneField(Recording, on_delete=models.PROTECT, related_name="key")
    wrapped_key = models.BinaryField(default=b"", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(destroyed_at__isnull=True) | Q(destroyed_at__isnull=False, wrapped_key=b""),
                name="recordingkey_destroyed_is_empty",
            ),
        ]

    def __str__(self) -> str:
        return f"Key of recording {self.recording_id}" + (" (destroyed)" if self.destroyed_at else "")


class PlaybackSession(models.Model):
    """One playback in progress: the byte ranges a player asked for, sealed into one access event.

    A browser's player sends several Range requests for one listen (the start, the index at the
    end, each seek). They are gathered here under the playback id the admin page gave the player,
    and once the player has been idle a while, ``playbacks_seal_idle`` writes the single chained
    ``play`` event that carries them all. A work table without history: the event is the record,
    and a session not yet sealed is still proof that the audio was served.
    """

    playback_id = models.UUIDField()
    recording = models.ForeignKey(Recording, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    purpose = models.CharField(max_length=50, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    ranges = models.JSONField(default=list, help_text="Requested byte ranges, merged: [[first, last], ...].")
    requests = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    last_request_at = models.DateTimeField()
    event = models.OneToOneField(
        "audit.AccessEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="playback"
    )

    class Meta:
        constraints = [
            # One open session per playback id: concurrent Range requests join the same one.
            models.UniqueConstraint(
                fields=["playback_id"], condition=Q(event__isnull=True), name="playback_open_once"
            ),
        ]
        indexes = [
            models.Index(
                fields=["last_request_at"], condition=Q(event__isnull=True), name="playback_open_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"Playback {self.playback_id} of recording {self.recording_id}"


# guardian's direct foreign-key permission tables: object grants on the hot tables join by
# integer key instead of the generic (content_type, object_pk text) pair.
class DataSubjectUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(DataSubject, on_delete=models.CASCADE)
    history = HistoricalRecords()


class DataSubjectGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(DataSubject, on_delete=models.CASCADE)
    history = HistoricalRecords()


class QueueUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Queue, on_delete=models.CASCADE)
    history = HistoricalRecords()


class QueueGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Queue, on_delete=models.CASCADE)
    history = HistoricalRecords()


class AdHocGrantFields(models.Model):
    """A grant on one recording is an exception to the queue grants: it says why, and it ends.

    The expiry is checked by the access selectors at query time, so an expired grant stops
    working at once, without a job having to remove it.
    """

    reason = models.CharField(max_length=255, blank=True, help_text="Why this recording is granted.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until revoked.")

    class Meta:
        abstract = True


class RecordingUserObjectPermission(AdHocGrantFields, UserObjectPermissionBase):
    content_object = models.ForeignKey(Recording, on_delete=models.CASCADE)
    history = HistoricalRecords()

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "recording grant"
        indexes = [models.Index(fields=["user", "permission", "expires_at"], name="recording_user_grant_idx")]

    def __str__(self) -> str:
        return f"{self.user} may review {self.content_object}"


class RecordingGroupObjectPermission(AdHocGrantFields, GroupObjectPermissionBase):
    content_object = models.ForeignKey(Recording, on_delete=models.CASCADE)
    history = HistoricalRecords()

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = "recording group grant"

    def __str__(self) -> str:
        return f"{self.group} may review {self.content_object}"
