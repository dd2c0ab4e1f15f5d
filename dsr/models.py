"""Data-subject requests (GDPR Art. 15-21 and 7(3)), their notes and deadline reminders."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from simple_history.models import HistoricalRecords

from compliance_site.display import local_minutes
from recordings.models import DataSubject


class RequestType(models.TextChoices):
    ACCESS = "access", "Access (Art. 15)"
    RECTIFICATION = "rectification", "Rectification (Art. 16)"
    ERASURE = "erasure", "Erasure (Art. 17)"
    RESTRICTION = "restriction", "Restriction (Art. 18)"
    PORTABILITY = "portability", "Portability (Art. 20)"
    OBJECTION = "objection", "Objection (Art. 21)"
    CONSENT_WITHDRAWAL = "consent_withdrawal", "Consent withdrawal (Art. 7(3))"


class RequestStatus(models.TextChoices):
    NEW = "new", "New"
    IDENTITY_PENDING = "identity_pending", "Identity pending"
    IN_PROGRESS = "in_progress", "In progress"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    # Completed by the DPO, carried out on a worker (a package build, an erasure): still open,
    # the deadline still running, until the job finishes (dsr.jobs).
    EXECUTING = "executing", "Being carried out"
    # An access or portability package is built and its response written, but the subject does
    # not have it yet: still open, the deadline still running, until it is delivered
    # (dsr.workflow.request_response_delivered).
    READY_TO_SEND = "ready_to_send", "Ready to send"
    COMPLETED = "completed", "Completed"
    REFUSED = "refused", "Refused"
    WITHDRAWN = "withdrawn", "Withdrawn by the subject"


class DataSubjectRequest(models.Model):
    class Channel(models.TextChoices):
        PHONE = "phone", "Phone call"
        EMAIL = "email", "Email"
        LETTER = "letter", "Letter"
        WEB = "web", "Web form"
        IN_PERSON = "in_person", "In person"
        API = "api", "API"

    Status = RequestStatus

    OPEN_STATUSES = (
        Status.NEW,
        Status.IDENTITY_PENDING,
        Status.IN_PROGRESS,
        Status.AWAITING_APPROVAL,
        Status.EXECUTING,
        Status.READY_TO_SEND,
    )

    class IdentityMethod(models.TextChoices):
        CALLER_NUMBER = "caller_number", "Caller number matches the one on file"
        EMAIL_ROUND_TRIP = "email_round_trip", "Email round trip"
        DOCUMENT = "document", "Identity document seen"
        ACCOUNT = "account", "Existing customer account"

    class RefusalGround(models.TextChoices):
        MANIFESTLY_UNFOUNDED = "manifestly_unfounded", "Manifestly unfounded (Art. 12(5))"
        EXCESSIVE = "excessive", "Excessive, notably repetitive (Art. 12(5))"
        IDENTITY_NOT_VERIFIED = "identity_not_verified", "Identity not verified (Art. 12(6))"
        LEGAL_CLAIMS = "legal_claims", "Legal claims (Art. 17(3)(e))"
        LEGAL_OBLIGATION = "legal_obligation", "Legal obligation (Art. 17(3)(b))"
        NO_DATA = "no_data", "No data held about the subject"

    reference = models.CharField(max_length=20, unique=True, help_text="e.g. DSR-2026-000123")
    request_type = models.CharField(max_length=20, choices=RequestType.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    subject = models.ForeignKey(
        DataSubject,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="requests",
        help_text="Empty until the requester is matched to a subject.",
    )
    language = models.CharField(
        max_length=2,
        choices=[("en", "English"), ("de", "Deutsch")],
        default="en",
        help_text="The language the subject's letters are written in.",
    )
    received_at = models.DateTimeField()
    due_at = models.DateTimeField(
        help_text="The end (23:59:59 local time) of the due date: received date + the period rule "
        "(default 30 days), see dsr.deadlines."
    )
    extended_until = models.DateTimeField(
        null=True, blank=True, help_text="The end of the extended due date (Art. 12(3))."
    )
    extension_reason = models.TextField(blank=True)
    identity_method = models.CharField(max_length=20, choices=IdentityMethod.choices, blank=True)
    identity_note = models.TextField(blank=True)
    identity_verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    identity_verified_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_requests",
    )
    outcome = models.TextField(blank=True)
    refusal_ground = models.CharField(max_length=30, choices=RefusalGround.choices, blank=True)
    exemption = models.CharField(
        max_length=200,
        blank=True,
        help_text="An Art. 17(3) ground that turned (part of) an erasure into a restriction.",
    )
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who asked for the second approval of an erasure.",
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The second DPO who approved the erasure (four eyes).",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_without_preparer = models.BooleanField(
        default=False,
        editable=False,
        help_text="Set once, by migration, on requests closed before the database required a "
        "preparer for every approval: their approval was recorded by one DPO alone. Never set since.",
    )
    executed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the right's effect on the data was carried out."
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "data-subject request"
        ordering = ["due_at", "pk"]
        permissions = [
            ("view_all_requests", "Can view every request (DPO, auditor)"),
            ("match_request", "Can match a request to a data subject (DPO)"),
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="dsr_status_due_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(reference__regex=r"^DSR-[0-9]{4}-[0-9]{6}$"), name="dsr_reference_format"
            ),
            models.CheckConstraint(condition=Q(request_type__in=RequestType.values), name="dsr_type_valid"),
            models.CheckConstraint(condition=Q(status__in=RequestStatus.values), name="dsr_status_valid"),
            models.CheckConstraint(condition=Q(due_at__gt=F("received_at")), name="dsr_due_after_received"),
            models.CheckConstraint(
                condition=Q(extended_until__isnull=True)
                | Q(extended_until__gt=F("due_at")) & ~Q(extension_reason=""),
                name="dsr_extension_later_with_reason",
            ),
            models.CheckConstraint(
                condition=Q(identity_verified_at__isnull=True, identity_verified_by__isnull=True)
                | Q(identity_verified_at__isnull=False, identity_verified_by__isnull=False)
                & ~Q(identity_method=""),
                name="dsr_identity_verification_complete",
            ),
            # A refusal always states its ground, and only a refusal has one.
            models.CheckConstraint(
                condition=Q(status="refused") & ~Q(refusal_ground="")
                | ~Q(status="refused") & Q(refusal_ground=""),
                name="dsr_refusal_has_ground",
            ),
            # Four eyes: an approval answers someone's preparation, and the approver is a second
            # person. The only exception is the record of a request closed before this was
            # enforced (see approved_without_preparer); an open request never has it.
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True)
                | Q(prepared_by__isnull=False) & ~Q(approved_by=F("prepared_by"))
                | Q(approved_without_preparer=True, prepared_by__isnull=True, closed_at__isnull=False),
                name="dsr_approval_has_a_second_preparer",
            ),
            models.CheckConstraint(
                condition=Q(approved_without_preparer=False) | Q(closed_at__isnull=False),
                name="dsr_unprepared_approval_only_closed",
            ),
            # Only an erasure waits for approval, and only once someone sent it for approval.
            models.CheckConstraint(
                condition=~Q(status="awaiting_approval")
                | Q(request_type="erasure", prepared_by__isnull=False),
                name="dsr_awaiting_approval_prepared",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["completed", "refused", "withdrawn"], closed_at__isnull=False)
                | ~Q(status__in=["completed", "refused", "withdrawn"]) & Q(closed_at__isnull=True),
                name="dsr_closed_at_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def effective_due_at(self) -> datetime.datetime:
        """The deadline in force: the extension if one was granted, else the original due date."""
        return self.extended_until or self.due_at

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def due_date(self) -> datetime.date:
        """The date the deadline in force falls on: the request is due until the end of it."""
        return timezone.localdate(self.effective_due_at)

    def days_left(self, now: datetime.datetime | None = None) -> int:
        """Whole days until the due date in the configured time zone: 0 all day on the due date,
        negative once it has passed."""
        now = now or timezone.now()
        due_day = timezone.localdate(self.effective_due_at)
        return (due_day - timezone.localdate(now)).days


class RequestNote(models.Model):
    request = models.ForeignKey(DataSubjectRequest, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Note on {self.request_id} at {local_minutes(self.created_at)}"


class ReminderState(models.TextChoices):
    PENDING = "pending", "pending"
    SENT = "sent", "sent"
    FAILED = "failed", "failed, to be retried"
    GIVEN_UP = "given_up", "given up (the DPOs were alerted)"
    CANCELLED = "cancelled", "cancelled (request closed or deadline moved)"


class DeadlineReminder(models.Model):
    """A reminder about one deadline, as an outbox row (``dsr.reminders``).

    The row is written first, one per (request, kind, due date) by a unique constraint, so no
    beat, redelivery or crash creates the same reminder twice. A tick then claims it under a row
    lock, sends the email and records the outcome in the same transaction: sent, or failed with
    the error and the time of the next attempt (exponential backoff), or, after
    ``DSR_REMINDER_MAX_ATTEMPTS``, given up, which queues one ``undelivered-…`` reminder to the
    DPO group and flags the request.
    """

    State = ReminderState
    # States a tick still works on.
    DUE_STATES = (ReminderState.PENDING, ReminderState.FAILED)
    ESCALATION_PREFIX = "undelivered-"

    request = models.ForeignKey(DataSubjectRequest, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=32, help_text="e.g. 7-days-before, due-day, overdue-3")
    due_date = models.DateField(help_text="The deadline this reminder is about.")
    state = models.CharField(max_length=10, choices=ReminderState.choices, default=ReminderState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Sends tried so far.")
    next_attempt_at = models.DateTimeField(
        null=True,
        blank=True,
        default=timezone.now,
        help_text="When a tick next tries it; empty once sent, given up or cancelled.",
    )
    last_error = models.CharField(
        max_length=200, blank=True, help_text="The last failure: error class and code, no personal data."
    )
    recipients = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="reminder_due_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "kind", "due_date"], name="reminder_once_per_deadline"
            ),
            models.CheckConstraint(condition=Q(state__in=ReminderState.values), name="reminder_state_valid"),
            # Sent exactly when it has a sending time; only what a tick still works on waits
            # for an attempt; a failure says what failed.
            models.CheckConstraint(
                condition=Q(state="sent", sent_at__isnull=False) | ~Q(state="sent") & Q(sent_at__isnull=True),
                name="reminder_sent_at_matches_state",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["pending", "failed"], next_attempt_at__isnull=False)
                | ~Q(state__in=["pending", "failed"]) & Q(next_attempt_at__isnull=True),
                name="reminder_next_attempt_matches_state",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["failed", "given_up"]) | ~Q(last_error=""),
                name="reminder_failure_has_error",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} reminder for {self.request_id} (due {self.due_date}): {self.state}"

    @property
    def is_escalation(self) -> bool:
        return self.kind.startswith(self.ESCALATION_PREFIX)


class ReferenceCounter(models.Model):
    """Per-year sequence behind DSR references. A work table: no history, row-locked on use."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


class ResponseLetter(models.Model):
    """A letter to the subject (extension notice, response, restriction lifted), kept with the
    request as the facts it states and a name-less text copy; rendered with the subject's name,
    in the request's language, when it is read (``dsr.letters``)."""

    class Kind(models.TextChoices):
        EXTENSION = "extension", "Extension notice (Art. 12(3))"
        OUTCOME = "outcome", "Response"
        RESTRICTION_LIFTED = "lifted", "Restriction lifted (Art. 18(3))"

    class Language(models.TextChoices):
        EN = "en", "English"
        DE = "de", "Deutsch"

    request = models.ForeignKey(DataSubjectRequest, on_delete=models.CASCADE, related_name="letters")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    language = models.CharField(max_length=2, choices=Language.choices)
    subject_line = models.CharField(max_length=200)
    body = models.TextField()
    # What the letter states, never the subject's name (dsr.letter_facts); empty for a letter
    # written before letters kept their facts, which shows its stored text.
    facts = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.language}) for {self.request_id}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "pending"
    FAILED = "failed", "failed, to be retried"
    SENT = "sent", "sent"
    GIVEN_UP = "given_up", "given up (the DPOs were alerted)"


class LetterDelivery(models.Model):
    """How a letter reached the subject (``dsr.response_delivery``): by email through an outbox,
    or by post as a DPO or analyst recorded it.

    One row per letter. An email is written as a pending row first; a tick claims it under a row
    lock, sends it and records the outcome in the same transaction (sent; failed with the next
    attempt's time; given up after ``DSR_REMINDER_MAX_ATTEMPTS``, which alerts the DPO group
    once). A letter given up may be sent again, by email or by post: the same row starts over and
    its history keeps the earlier attempts.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        POST = "post", "Post"

    State = DeliveryState
    DUE_STATES = (DeliveryState.PENDING, DeliveryState.FAILED)

    letter = models.OneToOneField(ResponseLetter, on_delete=models.CASCADE, related_name="delivery")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(
        max_length=200, blank=True, help_text="The last failure: error class and code, no personal data."
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who chose to send it (by email) or recorded it sent (by post).",
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who posted it; empty for an email, which the outbox sent.",
    )
    note = models.TextField(blank=True, help_text="For a letter sent by post: how and when.")
    alerted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the DPO group was told the email was given up."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "letter deliveries"
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="delivery_due_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(channel__in=["email", "post"]), name="delivery_channel_valid"),
            models.CheckConstraint(condition=Q(state__in=DeliveryState.values), name="delivery_state_valid"),
            models.CheckConstraint(
                condition=Q(state="sent", sent_at__isnull=False) | ~Q(state="sent") & Q(sent_at__isnull=True),
                name="delivery_sent_at_matches_state",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["pending", "failed"], next_attempt_at__isnull=False)
                | ~Q(state__in=["pending", "failed"]) & Q(next_attempt_at__isnull=True),
                name="delivery_next_attempt_matches_state",
            ),
            # A letter recorded as posted says how, and by whom; only an email goes through the outbox.
            models.CheckConstraint(
                condition=~Q(channel="post") | Q(state="sent", sent_by__isnull=False) & ~Q(note=""),
                name="delivery_post_recorded",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} delivery of letter {self.letter_id}: {self.state}"


class DataPackage(models.Model):
    """The subject's data for an access (Art. 15) or portability (Art. 20) request: a ZIP archive
    encrypted in the recordings storage, built by ``dsr.packages.package_build``.

    Its key is random and wrapped under the subject key, so erasing the subject (destroying that
    key) makes every package of theirs unreadable too. Like every wrapped key, it is kept out of
    history: clearing it must leave no copy behind.
    """

    class Kind(models.TextChoices):
        ACCESS = "access", "Access (Art. 15)"
        PORTABILITY = "portability", "Portability (Art. 20)"

    request = models.ForeignKey(DataSubjectRequest, on_delete=models.PROTECT, related_name="packages")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    storage_ref = models.CharField(
        max_length=255, unique=True, help_text="Name of the encrypted blob in the recordings storage."
    )
    size_bytes = models.PositiveBigIntegerField(help_text="Size of the ZIP archive (plaintext).")
    recordings = models.PositiveIntegerField(help_text="Recordings whose audio the archive holds.")
    wrapped_key = models.BinaryField(editable=False)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    expires_at = models.DateTimeField(help_text="No download after this (DSR_PACKAGE_TTL_DAYS).")
    downloaded_count = models.PositiveIntegerField(default=0)
    purged_at = models.DateTimeField(
        null=True, blank=True, help_text="When the expired archive was deleted and its key destroyed."
    )

    history = HistoricalRecords(excluded_fields=["wrapped_key"])

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["access", "portability"]), name="datapackage_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="datapackage_expires_after_created"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        """The archive's file name: the request's reference, never anything about the subject."""
        return f"{self.request.reference}-{self.kind}.zip"

    def is_expired(self, now: datetime.datetime | None = None) -> bool:
        return (now or timezone.now()) >= self.expires_at


class RequestJob(models.Model):
    """Long work of a request, carried out on a Celery worker (``dsr.jobs``): building its access
    or portability package, or executing its approved erasure. The admin shows it on the request's
    page (queued / running n of m / done / failed with the reason and a retry).

    A work table, without history: the worker claims it by a conditional update under a row lock,
    and a redelivered message finds it claimed or finished and does nothing. What the work did is
    recorded where it always was: the request's history, the package row, the tombstones and the
    access log.
    """

    class Kind(models.TextChoices):
        PACKAGE = "package", "Package"
        ERASURE = "erasure", "Erasure"

    class State(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)

    request = models.ForeignKey(DataSubjectRequest, on_delete=models.PROTECT, related_name="jobs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who completed or approved the request: the work is done, and recorded, in their name.",
    )
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="How many times a worker started it.")
    failure_reason = models.TextField(blank=True)
    retried_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["package", "erasure"]), name="requestjob_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(state__in=["queued", "running", "done", "failed"]), name="requestjob_state_valid"
            ),
            # A failed job says why; no other job carries a reason.
            models.CheckConstraint(
                condition=Q(state="failed") & ~Q(failure_reason="")
                | ~Q(state="failed") & Q(failure_reason=""),
                name="requestjob_failure_has_reason",
            ),
            # One piece of work at a time per request: a double click or a retry race cannot
            # build two packages or run an erasure twice.
            models.UniqueConstraint(
                fields=["request"],
                condition=Q(state__in=["queued", "running"]),
                name="requestjob_one_active_per_request",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.request_id}: {self.state}"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES


class RecipientNotification(models.Model):
    """An Art. 19 notice owed to a recipient after a rectification, erasure or restriction."""

    request = models.ForeignKey(DataSubjectRequest, on_delete=models.CASCADE, related_name="notifications")
    recipient = models.ForeignKey("recordings.Recipient", on_delete=models.PROTECT, related_name="+")
    notified_at = models.DateTimeField(null=True, blank=True)
    notified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(max_length=255, blank=True, help_text="How and to whom it was sent.")

    history = HistoricalRecords()

    class Meta:
        ordering = ["recipient__name"]
        constraints = [
            models.UniqueConstraint(fields=["request", "recipient"], name="notification_once_per_recipient"),
            models.CheckConstraint(
                condition=Q(notified_at__isnull=True, notified_by__isnull=True)
                | Q(notified_at__isnull=False, notified_by__isnull=False),
                name="notification_sent_by_someone",
            ),
        ]

    def __str__(self) -> str:
        state = "notified" if self.notified_at else "to notify"
        return f"{self.recipient} ({state})"


# guardian's direct foreign-key permission tables for requests (an analyst's grant on the requests
# assigned to them). Not guardian's generic tables: their object_pk is text without a foreign key,
# so a deleted request's grants would stay behind and pass to a new request that reuses its id.
# Here the foreign key removes them with the request (CASCADE), and the database refuses any
# other delete that would leave one behind.
class DataSubjectRequestUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(DataSubjectRequest, on_delete=models.CASCADE)
    history = HistoricalRecords()

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "request grant"


class DataSubjectRequestGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(DataSubjectRequest, on_delete=models.CASCADE)
    history = HistoricalRecords()

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = "request group grant"
