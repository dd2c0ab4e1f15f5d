"""How long recordings are kept, what stops their deletion, and the evidence that they are gone."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from compliance_site.display import local_minutes
from recordings.models import DataSubject, Purpose, Queue, Recording


class RetentionPolicy(models.Model):
    """Keep recordings that serve this purpose for N days after the call."""

    purpose = models.OneToOneField(Purpose, on_delete=models.PROTECT, related_name="retention_policy")
    keep_days = models.PositiveIntegerField()
    disposition_review = models.BooleanField(
        default=False, help_text="A DPO approves each deletion before it happens."
    )
    legal_reference = models.CharField(
        max_length=200, blank=True, help_text="Why this period (statute, internal policy)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "retention policies"
        ordering = ["purpose__name"]
        constraints = [
            models.CheckConstraint(condition=Q(keep_days__gte=1), name="retention_keep_days_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.purpose}: {self.keep_days} days"


class LegalHold(models.Model):
    """A hold beats every retention period and every erasure until it is released (Art. 17(3)(e))."""

    class Scope(models.TextChoices):
        SUBJECT = "subject", "All recordings of a subject"
        RECORDING = "recording", "One recording"
        QUEUE = "queue", "All recordings of a queue"

    scope = models.CharField(max_length=10, choices=Scope.choices)
    subject = models.ForeignKey(
        DataSubject, null=True, blank=True, on_delete=models.PROTECT, related_name="legal_holds"
    )
    recording = models.ForeignKey(
        Recording, null=True, blank=True, on_delete=models.PROTECT, related_name="legal_holds"
    )
    queue = models.ForeignKey(
        Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="legal_holds"
    )
    case_reference = models.CharField(max_length=100)
    reason = models.TextField()
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    placed_at = models.DateTimeField()
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-placed_at"]
        indexes = [models.Index(fields=["released_at"], name="legalhold_released_idx")]
        constraints = [
            # Exactly the target that the scope names, and no other.
            models.CheckConstraint(
                condition=Q(
                    scope="subject", subject__isnull=False, recording__isnull=True, queue__isnull=True
                )
                | Q(scope="recording", subject__isnull=True, recording__isnull=False, queue__isnull=True)
                | Q(scope="queue", subject__isnull=True, recording__isnull=True, queue__isnull=False),
                name="legalhold_scope_matches_target",
            ),
            models.CheckConstraint(
                condition=Q(released_at__isnull=True, released_by__isnull=True)
                | Q(released_at__isnull=False, released_by__isnull=False),
                name="legalhold_release_complete",
            ),
            models.CheckConstraint(
                condition=Q(released_at__isnull=True) | Q(released_at__gte=F("placed_at")),
                name="legalhold_released_after_placed",
            ),
            models.CheckConstraint(condition=~Q(case_reference=""), name="legalhold_case_reference_set"),
        ]

    def __str__(self) -> str:
        return f"Hold {self.case_reference} ({self.get_scope_display()})"

    @property
    def is_active(self) -> bool:
        return self.released_at is None


class DispositionApproval(models.Model):
    """A DPO's approval to delete one recording whose purpose's policy asks for a disposition
    review; the sweep deletes such a recording only once it is approved."""

    recording = models.OneToOneField(Recording, on_delete=models.PROTECT, related_name="disposition_approval")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField()
    note = models.CharField(max_length=255, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-approved_at"]

    def __str__(self) -> str:
        return f"Deletion of {self.recording_id} approved"


class PendingDisposition(Recording):
    """Recordings past retention that wait for the DPO's disposition review (an admin list)."""

    class Meta:
        proxy = True
        verbose_name = "recording awaiting disposition review"
        verbose_name_plural = "recordings awaiting disposition review"


class RestrictedPastRetention(Recording):
    """Restricted recordings whose retention has ended, kept because they are restricted (Art. 18)
    or wait for a legal hold's release (an admin list for the DPO, with the reason)."""

    class Meta:
        proxy = True
        verbose_name = "restricted recording past retention"
        verbose_name_plural = "restricted recordings past retention"


class SweepRun(models.Model):
    """One pass of the retention sweep, with its progress visible while it runs.

    A running sweep holds the lease ``sweep-run`` of its id (``compliance_site.leases``), which
    goes when its process dies; the next sweep to start marks a run whose lease is gone
    "abandoned", superseded by itself (``retention.services``)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"
        ABANDONED = "abandoned", "Abandoned (its worker died)"

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    superseded_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The sweep that found this one's worker dead and finished its work.",
    )
    examined = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    held_back = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    subjects_erased = models.PositiveIntegerField(
        default=0, help_text="Subjects with nothing left to keep, erased (Art. 5(1)(e))."
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(finished_at__gte=F("started_at")),
                name="sweeprun_finished_after_started",
            ),
            models.CheckConstraint(
                condition=Q(status="running", finished_at__isnull=True)
                | Q(status__in=["finished", "failed", "abandoned"], finished_at__isnull=False),
                name="sweeprun_status_matches_finish",
            ),
            models.CheckConstraint(
                condition=Q(superseded_by__isnull=True) | Q(status="abandoned"),
                name="sweeprun_superseded_only_when_abandoned",
            ),
        ]

    def __str__(self) -> str:
        return f"Sweep {local_minutes(self.started_at)} ({self.get_status_display()})"

    @property
    def state(self) -> str:
        """The status as the admin says it: an abandoned run names the sweep that superseded it."""
        if self.status == self.Status.ABANDONED and self.superseded_by_id:
            return f"Abandoned: its worker died; superseded by run {self.superseded_by_id}"
        return self.get_status_display()


class DeletionReason(models.TextChoices):
    """Why a recording was deleted: the cause a tombstone names (issue 16: not all "retention")."""

    RETENTION_EXPIRED = "retention_expired", "Retention period ended"
    ERASURE_REQUEST = "erasure_request", "Erasure request (Art. 17)"
    CONSENT_WITHDRAWN = "consent_withdrawn", "Consent withdrawn, no other ground"
    OBJECTION_UPHELD = "objection_upheld", "Objection upheld (Art. 21), no other ground"
    HOLD_RELEASED = "hold_released", "Erasure deferred by a legal hold, carried out on release"
    SUBJECT_STORAGE_LIMIT = "subject_storage_limit", "Nothing left to keep of the subject (Art. 5(1)(e))"
    GROUND_ENDED = "ground_ended", "Lawful ground ended (assessment withdrawn or purpose removed)"


class DeletionRecord(models.Model):
    """A tombstone: what was deleted, when, why, by whom and under which rule — no personal data.

    It outlives the recording, so it refers to it by id and pseudonymous references, not by a
    foreign key.
    """

    Reason = DeletionReason

    recording_id = models.BigIntegerField(unique=True)
    recording_reference = models.CharField(max_length=40)
    subject_reference = models.CharField(max_length=32)
    queue_code = models.SlugField(max_length=50)
    reason = models.CharField(max_length=30, choices=Reason.choices)
    rule = models.CharField(
        max_length=200, help_text="The policy or request that required it, e.g. DSR-2026-000123."
    )
    executed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty when the retention sweep deleted it.",
    )
    sweep_run = models.ForeignKey(
        SweepRun, null=True, blank=True, on_delete=models.PROTECT, related_name="deletions"
    )
    deleted_at = models.DateTimeField()
    storage_ref = models.CharField(
        max_length=255, blank=True, help_text="The blob to delete; kept until storage confirms."
    )
    blob_deleted_at = models.DateTimeField(null=True, blank=True)

    # Tombstones' history is looked up by tombstone (id) and date; the other indexes simple-history
    # would copy serve no query and cost every history row the sweep writes.
    history = HistoricalRecords(no_db_index=["recording_id", "queue_code", "executed_by", "sweep_run"])

    class Meta:
        ordering = ["-deleted_at"]
        indexes = [
            # Only the tombstones whose blob is not yet confirmed deleted: a confirmation takes its
            # row out of the index instead of adding an entry.
            models.Index(
                fields=["id"], condition=Q(blob_deleted_at__isnull=True), name="deletion_blob_pending_idx"
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(reason__in=DeletionReason.values),
                name="deletion_reason_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Deleted {self.recording_reference} ({self.get_reason_display()})"


class HeldErasure(models.Model):
    """An erasure a legal hold deferred (Art. 17(3)(e)), one per recording, kept until it is done.

    Written by the erasure (``dsr.erasure.subject_erase``) for each recording a hold kept, with
    the request's reference (a string: retention may not point at the DSR app) and the holds that
    kept it. A hold placed over it sends it back to "waiting"; the release of the last hold
    covering the recording makes it "due" (``retention.held_erasures``). A due erasure is carried
    out once two DPOs confirmed and approved it, or by beat once ``CUSTOS_HELD_ERASURE_GRACE_DAYS``
    have passed since the release (``dsr.held_erasures``)."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting for the release of its holds"
        DUE = "due", "Due: its holds are released"
        CONFIRMED = "confirmed", "Confirmed by a DPO, awaiting a second DPO's approval"
        APPROVED = "approved", "Approved, being carried out"
        DONE = "done", "Carried out"

    OPEN_STATES = (State.WAITING, State.DUE, State.CONFIRMED, State.APPROVED)

    recording = models.ForeignKey(Recording, on_delete=models.PROTECT, related_name="held_erasures")
    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT, related_name="held_erasures")
    request_reference = models.CharField(
        max_length=20, help_text="The erasure request, e.g. DSR-2026-000123."
    )
    holds = models.ManyToManyField(LegalHold, related_name="deferred_erasures", blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.WAITING)
    deferred_at = models.DateTimeField()
    due_since = models.DateTimeField(
        null=True, blank=True, help_text="When the last hold covering the recording was released."
    )
    released_hold = models.ForeignKey(
        LegalHold, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=200, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "erasure deferred by a legal hold"
        verbose_name_plural = "erasures deferred by a legal hold"
        ordering = ["deferred_at", "pk"]
        indexes = [models.Index(fields=["state", "due_since"], name="helderasure_state_due_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["recording"], condition=~Q(state="done"), name="helderasure_one_open_per_recording"
            ),
            models.CheckConstraint(
                condition=Q(state__in=["waiting", "due", "confirmed", "approved", "done"]),
                name="helderasure_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(state="waiting") | Q(due_since__isnull=False),
                name="helderasure_due_after_release",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["confirmed", "approved"]) | Q(confirmed_by__isnull=False),
                name="helderasure_confirmed_by_set",
            ),
            models.CheckConstraint(
                condition=~Q(state="approved") | Q(approved_by__isnull=False),
                name="helderasure_approved_by_set",
            ),
            models.CheckConstraint(
                condition=~Q(state="done") | Q(executed_at__isnull=False),
                name="helderasure_done_executed",
            ),
        ]

    def __str__(self) -> str:
        return f"Erasure of {self.recording_id} under {self.request_reference} ({self.get_state_display()})"


class SubjectDeletionRecord(models.Model):
    """A subject's tombstone: their name, phone, email and key were erased because nothing of
    theirs was left to keep (Art. 5(1)(e)). Pseudonymous references and counts only."""

    subject_id = models.BigIntegerField(unique=True)
    subject_reference = models.CharField(max_length=32)
    reason = models.CharField(max_length=30, choices=DeletionReason.choices)
    rule = models.CharField(max_length=200)
    sweep_run = models.ForeignKey(
        SweepRun, null=True, blank=True, on_delete=models.PROTECT, related_name="subject_deletions"
    )
    deleted_at = models.DateTimeField()

    history = HistoricalRecords()

    class Meta:
        ordering = ["-deleted_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reason__in=DeletionReason.values), name="subject_deletion_reason_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Subject {self.subject_reference} erased ({self.get_reason_display()})"


class KeepUntilRecomputation(models.Model):
    """A durable recomputation of keep-until (``retention.recompute``): what changed, which
    recordings it reaches, and how far the worker has got. A work table, without history: the
    worker claims it by a conditional update, and each batch commits with its progress, so a
    killed worker's successor (a redelivery, or beat's resume) goes on from ``last_recording_id``."""

    class Trigger(models.TextChoices):
        POLICY_CHANGED = "policy_changed", "Retention policy changed"
        POLICY_DELETED = "policy_deleted", "Retention policy deleted"
        ASSESSMENT_CHANGED = "assessment_changed", "Legitimate-interest assessment changed"
        MANUAL = "manual", "Recomputation asked for"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)

    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    description = models.CharField(max_length=200, help_text="What changed, e.g. the policy and its days.")
    purpose = models.ForeignKey(
        Purpose,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Scope: the recordings stating this purpose.",
    )
    assessment = models.ForeignKey(
        "recordings.LegitimateInterestAssessment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Scope: the recordings held on this assessment.",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    total = models.PositiveIntegerField(null=True, blank=True)
    done = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    last_recording_id = models.BigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "keep-until recomputation"
        indexes = [models.Index(fields=["state", "updated_at"], name="recompute_state_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["queued", "running"], finished_at__isnull=True)
                | Q(state__in=["done", "failed"], finished_at__isnull=False),
                name="recompute_state_matches_finish",
            ),
            models.CheckConstraint(
                condition=Q(state="failed") | Q(failure_reason=""), name="recompute_reason_only_when_failed"
            ),
        ]

    def __str__(self) -> str:
        return f"Recomputation {self.pk}: {self.description}"

    @property
    def progress(self) -> str:
        """One line for the admin: "running, 3,000 of 100,000 recordings"."""
        state = self.get_state_display()
        if self.state == self.State.FAILED:
            return f"Failed: {self.failure_reason}"
        if self.total is None:
            return state
        return f"{state}, {self.done:,} of {self.total:,} recordings ({self.changed:,} changed)"
