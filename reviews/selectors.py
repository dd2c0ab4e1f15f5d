"""Who may see and evaluate what: the rules every page, report and task of the reviews asks."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from recordings.models import Purpose, Recording
from recordings.selectors import lawful_for_purpose, recordings_visible_to
from reviews.models import Evaluation


def recordings_usable_for_quality_now() -> QuerySet[Recording]:
    """Recordings that may serve quality assurance at this moment: active (neither restricted nor
    erased), within their retention, and lawful for the purpose (consent not withdrawn, no
    objection upheld). An evaluation of any other recording is hidden from QA leads."""
    quality_assurance = Purpose.objects.filter(code=Purpose.QUALITY_ASSURANCE).first()
    if quality_assurance is None:
        return Recording.objects.none()
    now = timezone.now()
    return Recording.objects.filter(
        Q(keep_until__isnull=True) | Q(keep_until__gt=now),
        lawful_for_purpose(quality_assurance),
        status=Recording.Status.ACTIVE,
    )


def recordings_evaluable_by(user) -> QuerySet[Recording]:
    """Recordings this user may evaluate now: ones they may see, that may serve quality assurance
    now (the DPO sees every recording, but evaluates only those), and the user evaluates at all."""
    if not user.is_active or not user.has_perm("reviews.add_evaluation"):
        return Recording.objects.none()
    return recordings_visible_to(user).filter(pk__in=recordings_usable_for_quality_now().values("pk"))


def evaluations_visible_to(user) -> QuerySet[Evaluation]:
    """Evaluations this user may read.

    The DPO and the auditor (``view_all_evaluations``) read all. A QA lead reads the evaluations of
    recordings they may see, their own, and those of the agents they lead, but only while the
    recording may still serve quality assurance: a restriction, an erasure, an expiry or a
    withdrawn consent hides them at once (reports keep their numbers, anonymised). In a calibration
    not yet revealed, a participant reads only their own evaluation (blind scoring)."""
    if not user.is_active or not user.has_perm("reviews.view_evaluation"):
        return Evaluation.objects.none()
    if user.has_perm("reviews.view_all_evaluations"):
        return Evaluation.objects.all()
    usable = recordings_usable_for_quality_now()
    visible = recordings_visible_to(user)
    reachable = (
        Q(recording__in=visible.values("pk"))
        | Q(evaluator=user, recording__in=usable.values("pk"))
        | Q(agent__supervision__team_lead=user, recording__in=usable.values("pk"))
    )
    unrevealed_other = Q(calibration__isnull=False, calibration__revealed_at__isnull=True) & ~Q(
        evaluator=user
    )
    return Evaluation.objects.filter(reachable).exclude(unrevealed_other)


def evaluation_visible_to(user, evaluation: Evaluation | int) -> bool:
    pk = evaluation.pk if isinstance(evaluation, Evaluation) else evaluation
    return evaluations_visible_to(user).filter(pk=pk).exists()
