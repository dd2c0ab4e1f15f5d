"""An agent's right of access (Art. 15) to their QA evaluations: every evaluation of theirs, as JSON
(complete) and CSV (one line per evaluation, formula-safe), for the DPO to send.

Evaluators, team leads and comment authors appear by role, not by name: they are other people,
whose rights the copy must not adversely affect (Art. 15(4)); the DPO can name them when the
agent asks and the balance allows. Comments and free-text answers are exported while the
evaluation is attached to its call; a detached one has none left.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.roles import AUDITOR, DPO, QA_ADMINISTRATOR, QA_LEAD, is_dpo
from reviews.csv_cells import csv_safe
from reviews.models import Answer, Evaluation, TimelineComment

# The roles an evaluator may hold, the most specific first: the label the export gives them.
_ROLE_ORDER = (QA_LEAD, DPO, QA_ADMINISTRATOR, AUDITOR)

CSV_COLUMNS = [
    "evaluation",
    "status",
    "scorecard",
    "scorecard_version",
    "queue",
    "recording",
    "calibration",
    "evaluator_role",
    "created_at",
    "submitted_at",
    "score",
    "auto_failed",
    "acknowledged_at",
    "acknowledged_by_role",
    "disputed_at",
    "dispute_reason",
    "detached_at",
    "keep_until",
    "answers",
    "comments",
]


@dataclass(frozen=True)
class AgentExport:
    agent_id: int
    evaluations: int
    json_bytes: bytes
    csv_bytes: bytes

    @staticmethod
    def basename_for(agent_id: int) -> str:
        # The agent's id, not their username: a file name is no place for a name, nor for its characters.
        return f"agent-{agent_id}-evaluations"

    @property
    def basename(self) -> str:
        return self.basename_for(self.agent_id)

    def zip_bytes(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{self.basename}.json", self.json_bytes)
            archive.writestr(f"{self.basename}.csv", self.csv_bytes)
        return buffer.getvalue()


def _role(user, roles: dict[int, str]) -> str | None:
    if user is None:
        return None
    return roles.get(user.pk, "staff")


def _roles_of(users: set) -> dict[int, str]:
    """Each user's role label, from their groups (prefetched)."""
    labels = {}
    for user in users:
        names = {group.name for group in user.groups.all()}
        labels[user.pk] = next((role for role in _ROLE_ORDER if role in names), "staff")
    return labels


def _when(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _number(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def _position(ms: int) -> str:
    minutes, seconds = divmod(ms // 1000, 60)
    return f"{minutes:02d}:{seconds:02d}"


def agent_evaluations(agent) -> list[Evaluation]:
    """Every evaluation whose agent is ``agent``, whatever its state, with what the export shows."""
    return list(
        Evaluation.objects.filter(agent=agent)
        .select_related("scorecard_version__scorecard", "queue", "recording", "evaluator", "acknowledged_by")
        .prefetch_related(
            "evaluator__groups",
            "acknowledged_by__groups",
            Prefetch("answers", queryset=Answer.objects.select_related("question__section").order_by("pk")),
            Prefetch(
                "comments",
                queryset=TimelineComment.objects.select_related("author").order_by("position_ms", "pk"),
            ),
            "comments__author__groups",
        )
        .order_by("created_at", "pk")
    )


def _evaluation_data(evaluation: Evaluation, roles: dict[int, str]) -> dict[str, Any]:
    version = evaluation.scorecard_version
    return {
        "evaluation": evaluation.pk,
        "status": evaluation.status,
        "scorecard": version.scorecard.name,
        "scorecard_version": version.number,
        "queue": evaluation.queue.code,
        "recording": evaluation.recording.reference if evaluation.recording is not None else None,
        "calibration": evaluation.calibration_id,
        "evaluator_role": _role(evaluation.evaluator, roles),
        "created_at": _when(evaluation.created_at),
        "submitted_at": _when(evaluation.submitted_at),
        "score": _number(evaluation.score),
        "auto_failed": evaluation.auto_failed,
        "acknowledged_at": _when(evaluation.acknowledged_at),
        "acknowledged_by_role": _role(evaluation.acknowledged_by, roles),
        "disputed_at": _when(evaluation.disputed_at),
        "dispute_reason": evaluation.dispute_reason,
        "detached_at": _when(evaluation.detached_at),
        "keep_until": _when(evaluation.keep_until),
        "answers": [
            {
                "section": answer.question.section.title,
                "question_key": answer.question.key,
                "question": answer.question.text,
                "value": answer.value,
                "text": answer.text,
                "points_earned": _number(answer.points_earned),
                "points_possible": _number(answer.points_possible),
            }
            for answer in evaluation.answers.all()
        ],
        "comments": [
            {
                "position": _position(comment.position_ms),
                "position_ms": comment.position_ms,
                "body": comment.body,
                "author_role": _role(comment.author, roles),
                "created_at": _when(comment.created_at),
            }
            for comment in evaluation.comments.all()
        ],
    }


def _csv(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        line = {**row, "answers": len(row["answers"]), "comments": len(row["comments"])}
        writer.writerow([csv_safe("" if line[column] is None else line[column]) for column in CSV_COLUMNS])
    # A byte-order mark: spreadsheets then read the file as UTF-8, names with umlauts included.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


@transaction.atomic
def agent_evaluations_export(*, agent, actor, via: str, client_ip: str | None = None) -> AgentExport:
    """Build the agent's copy and record the export in the access log (``via``: the admin or the
    command). Only a DPO exports: it is the answer to a data-subject request."""
    if not is_dpo(actor):
        raise PermissionDenied("Only a DPO exports an agent's evaluations.")
    evaluations = agent_evaluations(agent)
    people = {e.evaluator for e in evaluations} | {
        e.acknowledged_by for e in evaluations if e.acknowledged_by
    }
    people |= {comment.author for e in evaluations for comment in e.comments.all()}
    roles = _roles_of(people)
    rows = [_evaluation_data(evaluation, roles) for evaluation in evaluations]
    document = {
        "agent": {"id": agent.pk, "username": agent.get_username()},
        "exported_at": timezone.now().isoformat(),
        "evaluations": rows,
        "about": (
            "Every QA evaluation of this agent held when exported. Evaluators, team leads and comment "
            "authors are named by role (Art. 15(4)). An evaluation whose call was erased or expired "
            "keeps its score and answers, not its call, comments or free text (detached_at)."
        ),
    }
    access_event_record(
        action=AccessAction.EXPORT,
        object_type="evaluation",
        actor=actor,
        detail={"agent": agent.pk, "evaluations": len(rows), "via": via},
        client_ip=client_ip,
    )
    return AgentExport(
        agent_id=agent.pk,
        evaluations=len(rows),
        json_bytes=json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8"),
        csv_bytes=_csv(rows),
    )
