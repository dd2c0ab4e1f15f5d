"""Who leads which agent's team: the one who acknowledges or disputes the agent's evaluations."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet

from compliance_site.model_update import history_save
from reviews.models import AgentSupervision

ACKNOWLEDGE = ("reviews", "acknowledge_evaluation")


def team_lead_candidates() -> QuerySet:
    """Active staff who may acknowledge evaluations: by their groups, their own permissions, or as
    superusers."""
    app_label, codename = ACKNOWLEDGE
    grants = Q(
        groups__permissions__codename=codename, groups__permissions__content_type__app_label=app_label
    ) | Q(user_permissions__codename=codename, user_permissions__content_type__app_label=app_label)
    users = get_user_model().objects.filter(is_active=True, is_staff=True)
    return users.filter(pk__in=users.filter(grants | Q(is_superuser=True)).values("pk")).order_by("username")


@transaction.atomic
def agent_supervision_set(*, supervision: AgentSupervision, agent, team_lead, actor) -> AgentSupervision:
    """Name ``team_lead`` as the lead of ``agent`` (a new row, or a change of lead), with history."""
    if agent is None or team_lead is None:
        raise ValidationError("Choose the agent and their team lead.")
    if agent.pk == team_lead.pk:
        raise ValidationError(
            {"team_lead": "An agent cannot lead themselves: someone else acknowledges their evaluations."}
        )
    if not team_lead_candidates().filter(pk=team_lead.pk).exists():
        raise ValidationError(
            {"team_lead": "The team lead must be active staff who may acknowledge evaluations."}
        )
    other = (
        AgentSupervision.objects.select_for_update().filter(agent=agent).exclude(pk=supervision.pk).first()
    )
    if other is not None:
        raise ValidationError({"agent": "This agent already has a team lead; change that row instead."})
    supervision.agent, supervision.team_lead = agent, team_lead
    return history_save(supervision, actor=actor)
