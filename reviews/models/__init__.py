"""The QA reviews' tables: scorecards and their versions, evaluations, calibration."""

from reviews.models.calibration import CalibrationSession
from reviews.models.evaluations import (
    AgentSupervision,
    Answer,
    Evaluation,
    EvaluationStatus,
    EvaluationTombstone,
    TimelineComment,
)
from reviews.models.scorecards import (
    AnswerType,
    Scorecard,
    ScorecardQuestion,
    ScorecardSection,
    ScorecardVersion,
    ScoringRule,
    VersionStatus,
)

__all__ = [
    "AgentSupervision",
    "Answer",
    "AnswerType",
    "CalibrationSession",
    "Evaluation",
    "EvaluationStatus",
    "EvaluationTombstone",
    "Scorecard",
    "ScorecardQuestion",
    "ScorecardSection",
    "ScorecardVersion",
    "ScoringRule",
    "TimelineComment",
    "VersionStatus",
]
