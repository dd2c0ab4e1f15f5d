"""Scorecards (evaluation forms) and their versions, sections and questions.

A scorecard is edited as a draft version; publishing freezes it (``reviews.scorecards``): an
evaluation always names the exact version it was scored against, so a later change makes a new
version and never rewrites an old score's meaning.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from recordings.models import Queue
from recordings.models.constraints import choices_check


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


class ScoringRule(models.TextChoices):
    # Every scored question's points times its weight, over the most it could earn.
    WEIGHTED_POINTS = "weighted_points", "Weighted points (every question counts by its weight)"
    # Each section's percentage, then the sections averaged by their weights.
    WEIGHTED_SECTIONS = "weighted_sections", "Weighted sections (each section counts by its weight)"


class AnswerType(models.TextChoices):
    YES_NO = "yes_no", "Yes / No"
    SCALE = "scale", "Scale"
    CHOICE = "choice", "Choice"
    TEXT = "text", "Text (not scored)"


class Scorecard(models.Model):
    """An evaluation form, by name; what it asks lives in its versions."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    queues = models.ManyToManyField(
        Queue,
        related_name="scorecards",
        blank=True,
        help_text="The queues whose calls are evaluated with this scorecard's published version.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(m2m_fields=[queues])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ScorecardVersion(models.Model):
    """One version of a scorecard: a draft while it is edited, immutable once published."""

    Status = VersionStatus

    scorecard = models.ForeignKey(Scorecard, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    scoring_rule = models.CharField(
        max_length=20, choices=ScoringRule.choices, default=ScoringRule.WEIGHTED_POINTS
    )
    pass_mark = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="The score (0-100) at or above which an evaluation passes; empty: no pass mark.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["scorecard", "-number"]
        permissions = [("publish_scorecardversion", "Can publish a scorecard version")]
        constraints = [
            models.UniqueConstraint(fields=["scorecard", "number"], name="scorecardversion_number_unique"),
            # One draft at a time: a second would fork the scorecard's next version.
            models.UniqueConstraint(
                fields=["scorecard"], condition=Q(status="draft"), name="scorecardversion_one_draft"
            ),
            models.CheckConstraint(
                condition=Q(status="draft", published_at__isnull=True)
                | (~Q(status="draft") & Q(published_at__isnull=False)),
                name="scorecardversion_published_at_matches_status",
            ),
            choices_check("status", VersionStatus, "scorecardversion_status_valid"),
            choices_check("scoring_rule", ScoringRule, "scorecardversion_scoring_rule_valid"),
            models.CheckConstraint(
                condition=Q(pass_mark__isnull=True) | Q(pass_mark__gte=0, pass_mark__lte=100),
                name="scorecardversion_pass_mark_0_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scorecard.name} v{self.number}"

    @property
    def is_draft(self) -> bool:
        return self.status == VersionStatus.DRAFT


class ScorecardSection(models.Model):
    version = models.ForeignKey(ScorecardVersion, on_delete=models.CASCADE, related_name="sections")
    position = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=200)
    weight = models.DecimalField(max_digits=6, decimal_places=2, default=1)

    class Meta:
        ordering = ["version", "position", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(weight__gt=0), name="scorecardsection_weight_positive"),
        ]

    def __str__(self) -> str:
        return self.title


class ScorecardQuestion(models.Model):
    """A question of a version. ``key`` names it across versions (reports compare a question's
    answers from one version to the next); ``version`` repeats the section's so that the key is
    unique per version in the database."""

    version = models.ForeignKey(ScorecardVersion, on_delete=models.CASCADE, related_name="questions")
    section = models.ForeignKey(ScorecardSection, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField(default=0)
    key = models.SlugField(max_length=50)
    text = models.CharField(max_length=500)
    guidance = models.TextField(blank=True, help_text="What the evaluator listens for.")
    answer_type = models.CharField(max_length=10, choices=AnswerType.choices)
    weight = models.DecimalField(max_digits=6, decimal_places=2, default=1)
    allow_na = models.BooleanField(
        default=False,
        verbose_name="allow N/A",
        help_text="An N/A answer leaves the question out of the score.",
    )
    scale_min = models.SmallIntegerField(null=True, blank=True)
    scale_max = models.SmallIntegerField(null=True, blank=True)
    # [{"label": "Excellent", "points": 3}, ...]: a choice question's options, in order.
    choices = models.JSONField(default=list, blank=True)
    auto_fail = models.BooleanField(
        default=False,
        help_text="A Yes/No question whose No fails the whole evaluation (score 0), whatever the rest.",
    )

    class Meta:
        ordering = ["version", "section__position", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="scorecardquestion_key_unique"),
            models.CheckConstraint(condition=Q(weight__gte=0), name="scorecardquestion_weight_not_negative"),
            choices_check("answer_type", AnswerType, "scorecardquestion_answer_type_valid"),
            models.CheckConstraint(
                condition=Q(auto_fail=False) | Q(answer_type="yes_no"),
                name="scorecardquestion_auto_fail_is_yes_no",
            ),
            models.CheckConstraint(
                condition=~Q(answer_type="scale")
                | Q(scale_min__isnull=False, scale_max__isnull=False, scale_max__gt=F("scale_min")),
                name="scorecardquestion_scale_bounds",
            ),
        ]

    def __str__(self) -> str:
        return self.text
