"""Evaluations of recordings, their answers and the comments pinned to points in the call.

An evaluation is personal data of the agent it scores and of the caller it refers to: it has its
own retention (``keep_until``), and when its recording is erased or expires it keeps its score but
loses the link, the comments and the free-text answers, which may quote the caller (``detached_at``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from recordings.models import Queue, Recording
from recordings.models.constraints import choices_check
from reviews.models.calibration import CalibrationSession
from reviews.models.scorecards import ScorecardQuestion, ScorecardVersion


class EvaluationStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    DISPUTED = "disputed", "Disputed"


class AgentSupervision(models.Model):
    """Who leads an agent's team: the one who acknowledges or disputes the agent's evaluations."""

    agent = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="supervision"
    )
    team_lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="supervised"
    )

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(agent=models.F("team_lead")), name="agentsupervision_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"Team lead of user {self.agent_id}"


class Evaluation(models.Model):
    """One evaluator's scoring of one recording against one scorecard version.

    ``queue`` and ``agent`` are copied from the recording when the evaluation starts: reports
    group by them, and they outlive the link to the recording. ``score`` is always computed on the
    server from the answers and the version (``reviews.scoring``).
    """

    Status = EvaluationStatus

    recording = models.ForeignKey(
        Recording, null=True, blank=True, on_delete=models.SET_NULL, related_name="evaluations"
    )
    scorecard_version = models.ForeignKey(
        ScorecardVersion, on_delete=models.PROTECT, related_name="evaluations"
    )
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="+")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="evaluations_received",
    )
    evaluator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="evaluations_written"
    )
    calibration = models.ForeignKey(
        CalibrationSession, null=True, blank=True, on_delete=models.PROTECT, related_name="evaluations"
    )
    status = models.CharField(max_length=12, choices=EvaluationStatus.choices, default=EvaluationStatus.DRAFT)
    score = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True, editable=False)
    auto_failed = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    disputed_at = models.DateTimeField(null=True, blank=True)
    dispute_reason = models.TextField(blank=True)
    keep_until = models.DateTimeField(null=True, blank=True, editable=False)
    detached_at = models.DateTimeField(null=True, blank=True, editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("view_all_evaluations", "Can view every evaluation"),
            ("calibrate", "Can take part in calibration sessions"),
            ("acknowledge_evaluation", "Can acknowledge or dispute the evaluations of agents they lead"),
        ]
        indexes = [
            # The list's order (``ordering`` and the changelist's tie-break on the id): a page is
            # an index walk that stops after its rows, not a sort of every evaluation.
            models.Index(fields=["-created_at", "-id"], name="evaluation_created"),
            models.Index(fields=["evaluator", "-created_at"], name="evaluation_evaluator_created"),
            models.Index(fields=["queue", "submitted_at"], name="evaluation_queue_submitted"),
            models.Index(fields=["agent", "submitted_at"], name="evaluation_agent_submitted"),
            models.Index(fields=["scorecard_version", "submitted_at"], name="evaluation_version_submitted"),
            models.Index(fields=["keep_until"], name="evaluation_keep_until"),
        ]
        constraints = [
            choices_check("status", EvaluationStatus, "evaluation_status_valid"),
            # Outside calibration, one evaluation per recording and evaluator (re-scoring edits it).
            models.UniqueConstraint(
                fields=["recording", "evaluator"],
                condition=Q(calibration__isnull=True, recording__isnull=False),
                name="evaluation_one_per_recording_evaluator",
            ),
            models.UniqueConstraint(
                fields=["calibration", "evaluator"],
                condition=Q(calibration__isnull=False),
                name="evaluation_one_per_calibration_evaluator",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(submitted_at__isnull=False, score__isnull=False),
                name="evaluation_submitted_has_score",
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=0, score__lte=100),
                name="evaluation_score_0_100",
            ),
            models.CheckConstraint(
                condition=~Q(status="disputed") | ~Q(dispute_reason=""),
                name="evaluation_dispute_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"Evaluation #{self.pk}"


class Answer(models.Model):
    """An answer to one question. ``points_*`` are the server's scoring of it (None: not scored,
    a text question or N/A). ``text`` (a text answer, or a note on any answer) may quote the caller:
    it is not kept in the history and is emptied when the evaluation is detached."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(ScorecardQuestion, on_delete=models.PROTECT, related_name="+")
    # "yes" / "no" / "na", a scale value, or a choice's index.
    value = models.CharField(max_length=20, blank=True)
    text = models.TextField(blank=True)
    points_earned = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    points_possible = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)

    history = HistoricalRecords(excluded_fields=["text"])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "question"], name="answer_one_per_question"),
        ]

    def __str__(self) -> str:
        return f"Answer #{self.pk}"


class TimelineComment(models.Model):
    """A comment pinned to a point of the call (milliseconds from its start). No history: a
    comment may quote the caller, and goes when the recording does."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    position_ms = models.PositiveIntegerField()
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["evaluation", "position_ms", "pk"]

    def __str__(self) -> str:
        return f"Comment #{self.pk}"


class EvaluationTombstone(models.Model):
    """What is left of an evaluation its retention deleted: the numbers reports need, without the
    agent, the evaluator, the call or anything said in it."""

    class Cause(models.TextChoices):
        EXPIRED = "expired", "Retention of evaluations ran out"
        RECORDING_GONE = "recording_gone", "Its recording was erased or expired (policy: delete)"

    evaluation_id = models.BigIntegerField(unique=True)
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="+")
    scorecard_version = models.ForeignKey(ScorecardVersion, on_delete=models.PROTECT, related_name="+")
    score = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    auto_failed = models.BooleanField(default=False)
    submitted_at = models.DateTimeField(null=True, blank=True)
    cause = models.CharField(max_length=20, choices=Cause.choices)
    deleted_at = models.DateTimeField()

    class Meta:
        ordering = ["-deleted_at"]

    def __str__(self) -> str:
        return f"Deleted evaluation #{self.evaluation_id}"
