"""Agents are data subjects too: the DPO exports every evaluation of an agent (Art. 15), by
command or in the admin; nobody else may, and every export is in the access log."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessAction, AccessEvent
from compliance_site.roles import QA_LEAD
from reviews.agent_export import agent_evaluations_export
from reviews.csv_cells import csv_safe
from reviews.models import Evaluation
from reviews.retention import evaluations_on_recordings_gone
from tests.factories import RecordingFactory, UserFactory
from tests.reviews.agentdata_helpers import CALLER_QUOTE, evaluation_of

pytestmark = pytest.mark.django_db

EXPORT_URL = "admin:reviews_agentsupervision_export"


@pytest.fixture
def agent(db):
    return UserFactory(username="agnes.agent")


@pytest.fixture
def agents_evaluations(agent, qa_lead_a, queue_a):
    """Two evaluations of the agent (one of them detached), one of another agent."""
    attached = evaluation_of(RecordingFactory(queue=queue_a), agent=agent, evaluator=qa_lead_a, score="90.00")
    detached = evaluation_of(RecordingFactory(queue=queue_a), agent=agent, score="40.00")
    evaluations_on_recordings_gone(recording_ids=[detached.recording_id], now=timezone.now())
    others = evaluation_of(RecordingFactory(queue=queue_a), agent=UserFactory(username="otto.other"))
    return attached, detached, others


def _exported(export) -> tuple[dict, list[dict]]:
    document = json.loads(export.json_bytes)
    rows = list(csv.DictReader(io.StringIO(export.csv_bytes.decode("utf-8-sig"))))
    return document, rows


def test_the_export_holds_exactly_the_agent_s_evaluations(dpo, agent, agents_evaluations, qa_lead_a):
    attached, detached, _others = agents_evaluations

    document, rows = _exported(agent_evaluations_export(agent=agent, actor=dpo, via="test"))

    assert document["agent"] == {"id": agent.pk, "username": "agnes.agent"}
    by_id = {item["evaluation"]: item for item in document["evaluations"]}
    assert set(by_id) == {attached.pk, detached.pk}
    assert {int(row["evaluation"]) for row in rows} == {attached.pk, detached.pk}
    # while attached: the call, the comments and the free text
    assert by_id[attached.pk]["recording"] == attached.recording.reference
    assert by_id[attached.pk]["score"] == "90.00"
    assert [c["body"] for c in by_id[attached.pk]["comments"]] == [CALLER_QUOTE]
    assert by_id[attached.pk]["comments"][0]["position"] == "01:23"
    assert CALLER_QUOTE in {a["text"] for a in by_id[attached.pk]["answers"]}
    # detached: the score and answers, nothing of the call
    assert (by_id[detached.pk]["recording"], by_id[detached.pk]["comments"]) == (None, [])
    assert {a["text"] for a in by_id[detached.pk]["answers"]} == {""}
    assert by_id[detached.pk]["score"] == "40.00"
    # evaluators by role, never by name
    assert by_id[attached.pk]["evaluator_role"] == QA_LEAD
    assert by_id[attached.pk]["comments"][0]["author_role"] == QA_LEAD
    assert qa_lead_a.username not in export_text(dpo, agent)
    assert "otto.other" not in export_text(dpo, agent)


def export_text(dpo, agent) -> str:
    export = agent_evaluations_export(agent=agent, actor=dpo, via="test")
    return export.json_bytes.decode() + export.csv_bytes.decode("utf-8-sig")


def test_every_export_is_an_access_event(dpo, agent, agents_evaluations):
    agent_evaluations_export(agent=agent, actor=dpo, via="test", client_ip="192.0.2.7")

    event = AccessEvent.objects.get(action=AccessAction.EXPORT, object_type="evaluation")
    assert event.actor == dpo
    assert event.detail == {"agent": agent.pk, "evaluations": 2, "via": "test"}


@pytest.mark.parametrize("cell", ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tx"])
def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(cell):
    assert csv_safe(cell) == "'" + cell
    assert csv_safe("fine") == "fine"
    assert csv_safe(3) == 3


def test_a_dispute_reason_starting_like_a_formula_is_text_in_the_csv(dpo, agent, queue_a):
    evaluation = evaluation_of(RecordingFactory(queue=queue_a), agent=agent)
    Evaluation.objects.filter(pk=evaluation.pk).update(
        status=Evaluation.Status.DISPUTED, disputed_at=timezone.now(), dispute_reason="=cmd|' /C calc'!A0"
    )

    _, rows = _exported(agent_evaluations_export(agent=agent, actor=dpo, via="test"))

    assert rows[0]["dispute_reason"] == "'=cmd|' /C calc'!A0"


def test_the_command_writes_json_and_csv_for_a_dpo(dpo, agent, agents_evaluations, tmp_path):
    call_command("export_agent_evaluations", agent="agnes.agent", out=tmp_path, by=dpo.username)

    document = json.loads((tmp_path / f"agent-{agent.pk}-evaluations.json").read_text())
    assert len(document["evaluations"]) == 2
    assert (tmp_path / f"agent-{agent.pk}-evaluations.csv").stat().st_mode & 0o777 == 0o600
    assert AccessEvent.objects.filter(action=AccessAction.EXPORT).count() == 1

    # a second export into the same folder never overwrites the copy already made
    with pytest.raises(CommandError, match="exist"):
        call_command("export_agent_evaluations", agent="agnes.agent", out=tmp_path, by=dpo.username)
    assert AccessEvent.objects.filter(action=AccessAction.EXPORT).count() == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"agent": "nobody", "by": "dana.dpo"}, "no user 'nobody'"),
        ({"agent": "agnes.agent", "by": "aud.auditor"}, "Only a DPO"),
        ({"agent": "agnes.agent", "by": "qa.a"}, "Only a DPO"),
    ],
)
def test_the_command_refuses_clearly(dpo, auditor, qa_lead_a, agent, tmp_path, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("export_agent_evaluations", out=tmp_path, **options)
    assert not list(tmp_path.iterdir())
    assert not AccessEvent.objects.filter(action=AccessAction.EXPORT).exists()


def test_the_command_refuses_a_missing_folder(dpo, agent, tmp_path):
    with pytest.raises(CommandError, match="not a folder"):
        call_command("export_agent_evaluations", agent="agnes.agent", out=tmp_path / "nope", by=dpo.username)


def test_dpo_downloads_the_export_from_the_admin(client, dpo, agent, agents_evaluations):
    client.force_login(dpo)

    page = client.get(reverse(EXPORT_URL))
    response = client.post(reverse(EXPORT_URL), {"agent": "agnes.agent"})

    assert page.status_code == 200
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "no-store" in response["Cache-Control"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = sorted(archive.namelist())
        document = json.loads(archive.read(f"agent-{agent.pk}-evaluations.json"))
    assert names == [f"agent-{agent.pk}-evaluations.csv", f"agent-{agent.pk}-evaluations.json"]
    assert len(document["evaluations"]) == 2
    event = AccessEvent.objects.get(action=AccessAction.EXPORT)
    assert (event.actor, event.detail["via"]) == (dpo, "admin")


@pytest.mark.parametrize("hostile", ["nobody", "x" * 500, "'; DROP TABLE reviews_evaluation; --", ""])
def test_hostile_input_is_a_form_error(client, dpo, agent, hostile):
    client.force_login(dpo)

    response = client.post(reverse(EXPORT_URL), {"agent": hostile})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert response.context["form"].errors["agent"]
    assert not AccessEvent.objects.filter(action=AccessAction.EXPORT).exists()


@pytest.mark.parametrize("persona", ["qa_lead_a", "qa_lead_b", "auditor", "stranger", "analyst"])
def test_nobody_but_the_dpo_exports(request, client, agent, agents_evaluations, persona):
    client.force_login(request.getfixturevalue(persona))

    assert client.get(reverse(EXPORT_URL)).status_code == 403
    assert client.post(reverse(EXPORT_URL), {"agent": "agnes.agent"}).status_code == 403
    assert not AccessEvent.objects.filter(action=AccessAction.EXPORT).exists()


def test_anonymous_is_sent_to_the_login(client):
    response = client.get(reverse(EXPORT_URL))

    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_other_methods_are_refused(client, dpo):
    client.force_login(dpo)

    assert client.put(reverse(EXPORT_URL)).status_code == 405
