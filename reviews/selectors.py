"""Who may see and evaluate what: the rules every page, report and task of the reviews asks."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from recordings.models import Purpose, Recording
from recordings.selectors import lawful_for_purpose, recordings_granted_ids, recordings_visible_to
from reviews.models import AgentSupervision, CalibrationSession, Evaluation


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
    not yet revealed, a participant reads only their own evaluation (blind scoring).

    Each of the three ways in requires the recording to serve quality assurance now (seeing it
    requires that too, ``recordings_visible_to``), so the rule is asked once per candidate row, a
    probe by the recording's primary key; the ways in are the lead's grants as id lists
    (``recordings_granted_ids``), the evaluator and the led agents, never a subquery over every
    visible recording (docs/PERFORMANCE.md, QA reviews)."""
    if not user.is_active or not user.has_perm("reviews.view_evaluation"):
        return Evaluation.objects.none()
    if user.has_perm("reviews.view_all_evaluations"):
        return Evaluation.objects.all()
    usable = Exists(recordings_usable_for_quality_now().filter(pk=OuterRef("recording_id")))
    led = Q(agent_id__in=AgentSupervision.objects.filter(team_lead=user).values("agent_id"))
    if user.has_perm("recordings.view_all_recordings"):
        # Sees every recording, usable or not (``recordings_visible_to``).
        reachable = Q(recording__isnull=False) | (usable & (Q(evaluator=user) | led))
    else:
        reachable = usable & (recordings_granted_ids(user, via="recording__") | Q(evaluator=user) | led)
    # Blind scoring, as ids of the sessions not yet revealed (few): no join to the sessions for
    # every row of the list and its count.
    unrevealed = CalibrationSession.objects.filter(revealed_at__isnull=True).values("pk")
    blind = Q(calibration__isnull=True) | Q(evaluator=user) | ~Q(calibration__in=unrevealed)
    return Evaluation.objects.filter(reachable, blind)


def evaluation_visible_to(user, evaluation: Evaluation | int) -> bool:
    pk = evaluation.pk if isinstance(evaluation, Evaluation) else evaluation
    return evaluations_visible_to(user).filter(pk=pk).exists()
