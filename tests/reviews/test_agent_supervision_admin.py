"""Who leads whose team, in the admin: the DPO edits, the auditor reads, nobody else sees it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reviews.models import AgentSupervision
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:reviews_agentsupervision_changelist"
ADD = "admin:reviews_agentsupervision_add"


@pytest.fixture
def agent(db):
    return UserFactory(username="agnes.agent")


def test_dpo_names_a_team_lead_with_history(client, dpo, agent, qa_lead_a):
    client.force_login(dpo)

    response = client.post(reverse(ADD), {"agent": agent.pk, "team_lead": qa_lead_a.pk})

    assert response.status_code == 302
    supervision = AgentSupervision.objects.get(agent=agent)
    assert supervision.team_lead == qa_lead_a
    assert supervision.history.get().history_user == dpo
    changelist = client.get(reverse(CHANGELIST))
    assert changelist.status_code == 200
    assert b"agent-export-link" in changelist.content


@pytest.mark.parametrize(
    "lead",
    [
        "agent",  # themselves
        "stranger",  # no right to acknowledge
        "auditor",
    ],
)
def test_a_team_lead_who_cannot_acknowledge_is_refused(request, client, dpo, agent, lead):
    client.force_login(dpo)
    team_lead = request.getfixturevalue(lead)

    response = client.post(reverse(ADD), {"agent": agent.pk, "team_lead": team_lead.pk})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not AgentSupervision.objects.exists()


def test_auditor_reads_but_does_not_edit(client, auditor, agent, qa_lead_a):
    supervision = AgentSupervision.objects.create(agent=agent, team_lead=qa_lead_a)
    client.force_login(auditor)

    changelist = client.get(reverse(CHANGELIST))
    assert changelist.status_code == 200
    assert b"agent-export-link" not in changelist.content
    assert (
        client.get(reverse("admin:reviews_agentsupervision_change", args=[supervision.pk])).status_code == 200
    )
    assert client.get(reverse(ADD)).status_code == 403
    response = client.post(
        reverse("admin:reviews_agentsupervision_change", args=[supervision.pk]),
        {"agent": agent.pk, "team_lead": UserFactory().pk},
    )
    assert response.status_code == 403
    assert AgentSupervision.objects.get().team_lead == qa_lead_a


@pytest.mark.parametrize("persona", ["qa_lead_a", "stranger", "analyst"])
def test_others_do_not_see_it(request, client, persona):
    client.force_login(request.getfixturevalue(persona))

    assert client.get(reverse(CHANGELIST)).status_code == 403
    assert client.get(reverse(ADD)).status_code == 403
