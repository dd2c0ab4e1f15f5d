"""Calibration: who may be in a session, blind scoring until the last submit, the spread per
question and overall, the agreed score, and every persona on every page."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, connections
from django.urls import reverse

from compliance_site.audit.models import AccessEvent
from recordings.models import Consent, Recording
from recordings.services import consent_withdraw
from reviews.calibration import calibration_agree, calibration_create
from reviews.models import CalibrationSession, Evaluation, EvaluationStatus, Scorecard, ScorecardVersion
from reviews.selectors import evaluations_visible_to
from tests.factories import RecordingFactory, UserFactory
from tests.reviews.calreports_data import evaluation_submit, published_version, qa_lead, questions


@pytest.fixture
def version(queue_a, queue_b):
    return published_version(queue_a, queue_b)


@pytest.fixture
def agent(db):
    return UserFactory(username="agent.smith", first_name="Agent", last_name="Smith")


@pytest.fixture
def recording(queue_a, agent):
    return RecordingFactory(queue=queue_a, agent=agent)


@pytest.fixture
def lead_a2(roles, queue_a):
    return qa_lead("qa.a2", roles, queue_a)


@pytest.fixture
def lead_a3(roles, queue_a):
    return qa_lead("qa.a3", roles, queue_a)


@pytest.fixture
def session(recording, version, qa_lead_a, lead_a2, lead_a3):
    return calibration_create(
        recording=recording,
        scorecard_version=version,
        participants=[qa_lead_a, lead_a2, lead_a3],
        actor=qa_lead_a,
    )


def _own(session, user) -> Evaluation:
    return Evaluation.objects.get(calibration=session, evaluator=user)


def _page(session) -> str:
    return reverse("admin:reviews_calibrationsession_change", args=[session.pk])


# --- Creating a session ---------------------------------------------------------------------------


def test_a_session_gives_each_participant_a_draft_evaluation(session, recording, version, agent):
    evaluations = Evaluation.objects.filter(calibration=session)
    assert sorted(e.evaluator.username for e in evaluations) == ["qa.a", "qa.a2", "qa.a3"]
    for evaluation in evaluations:
        assert evaluation.status == EvaluationStatus.DRAFT
        assert (evaluation.recording, evaluation.scorecard_version) == (recording, version)
        assert (evaluation.queue_id, evaluation.agent) == (recording.queue_id, agent)
    assert session.revealed_at is None
    assert set(session.participants.values_list("username", flat=True)) == {"qa.a", "qa.a2", "qa.a3"}


def test_refused_unless_every_participant_may_evaluate_the_recording(
    recording, version, qa_lead_a, qa_lead_b
):
    with pytest.raises(ValidationError) as refused:
        calibration_create(
            recording=recording,
            scorecard_version=version,
            participants=[qa_lead_a, qa_lead_b],
            actor=qa_lead_a,
        )
    assert refused.value.message_dict["participants"] == ["May not evaluate this recording now: qa.b."]
    assert not CalibrationSession.objects.exists() and not Evaluation.objects.exists()


@pytest.mark.parametrize("state", ["restricted", "consent_withdrawn"])
def test_refused_on_a_recording_that_may_not_serve_quality_assurance(
    state, recording, version, qa_lead_a, lead_a2, dpo
):
    # given: the call is restricted, or its caller withdrew the QA consent
    if state == "restricted":
        Recording.objects.filter(pk=recording.pk).update(status=Recording.Status.RESTRICTED)
    else:
        consent_withdraw(consent=Consent.objects.get(recording=recording), via=Consent.Channel.WEB)
    # when / then: neither a QA lead nor the DPO may set a calibration on it
    for creator in (qa_lead_a, dpo):
        with pytest.raises(ValidationError) as refused:
            calibration_create(
                recording=recording,
                scorecard_version=version,
                participants=[qa_lead_a, lead_a2],
                actor=creator,
            )
        assert "recording" in refused.value.message_dict
    assert not CalibrationSession.objects.exists()


def test_the_creator_must_be_allowed_to_evaluate_the_recording_too(
    recording, version, qa_lead_a, lead_a2, roles, queue_b
):
    lead_b_with_calibrate = qa_lead("qa.b2", roles, queue_b)
    with pytest.raises(ValidationError) as refused:
        calibration_create(
            recording=recording,
            scorecard_version=version,
            participants=[qa_lead_a, lead_a2],
            actor=lead_b_with_calibrate,
        )
    assert refused.value.message_dict["recording"] == ["No recording you may evaluate has this reference."]


def test_the_dpo_creates_a_session_without_taking_part(recording, version, qa_lead_a, lead_a2, dpo):
    session = calibration_create(
        recording=recording, scorecard_version=version, participants=[qa_lead_a, lead_a2], actor=dpo
    )
    assert session.created_by == dpo and session.participants.count() == 2


def test_refusals_of_the_form_of_a_session(
    recording, version, qa_lead_a, lead_a2, stranger, auditor, queue_a
):
    def refused(**overrides) -> dict:
        kwargs = {"recording": recording, "scorecard_version": version, "participants": [qa_lead_a, lead_a2]}
        with pytest.raises(ValidationError) as caught:
            calibration_create(actor=qa_lead_a, **(kwargs | overrides))
        return caught.value.message_dict

    assert "participants" in refused(participants=[qa_lead_a])
    assert "participants" in refused(participants=[qa_lead_a, qa_lead_a])
    assert refused(participants=[qa_lead_a, stranger])["participants"] == [
        "Not allowed to take part in calibrations: charlie.stranger."
    ]
    draft_card = Scorecard.objects.create(name="Draft one")
    draft_card.queues.set([queue_a])
    draft = ScorecardVersion.objects.create(scorecard=draft_card, number=1)
    assert "scorecard_version" in refused(scorecard_version=draft)
    elsewhere = published_version(name="Other queues")
    assert refused(scorecard_version=elsewhere)["scorecard_version"] == [
        "This scorecard is not assigned to the recording's queue."
    ]
    with pytest.raises(PermissionDenied):
        calibration_create(
            recording=recording, scorecard_version=version, participants=[qa_lead_a, lead_a2], actor=auditor
        )
    assert not CalibrationSession.objects.exists()


# --- Blind scoring and the reveal -----------------------------------------------------------------


def test_blind_until_the_last_participant_submits(client, session, qa_lead_a, lead_a2, lead_a3):
    # given: qa.a submitted a score nobody else has
    evaluation_submit(_own(session, qa_lead_a), score="87.50")
    session.refresh_from_db()
    assert session.revealed_at is None
    # then: the others read only their own evaluation, on the page and through the selector
    client.force_login(lead_a2)
    page = client.get(_page(session)).content.decode()
    assert "87.50" not in page and "Blind scoring" in page
    assert "calibration-comparison" not in page
    assert list(evaluations_visible_to(lead_a2).filter(calibration=session)) == [_own(session, lead_a2)]
    # and qa.a reads their own, not the others' drafts
    assert list(evaluations_visible_to(qa_lead_a).filter(calibration=session)) == [_own(session, qa_lead_a)]
    client.force_login(qa_lead_a)
    assert "87.50" in client.get(_page(session)).content.decode()

    # when: the two others submit
    evaluation_submit(_own(session, lead_a2), score="50.00")
    session.refresh_from_db()
    assert session.revealed_at is None
    evaluation_submit(_own(session, lead_a3), score="75.00")

    # then: revealed, and every participant reads every answer
    session.refresh_from_db()
    assert session.revealed_at is not None
    client.force_login(lead_a2)
    page = client.get(_page(session)).content.decode()
    assert all(score in page for score in ("87.50", "50.00", "75.00"))
    assert evaluations_visible_to(lead_a2).filter(calibration=session).count() == 3


def test_a_second_submit_signal_does_not_move_the_reveal(session, qa_lead_a, lead_a2, lead_a3):
    for lead in (qa_lead_a, lead_a2, lead_a3):
        evaluation_submit(_own(session, lead), score="60.00")
    session.refresh_from_db()
    revealed = session.revealed_at
    evaluation_submit(_own(session, qa_lead_a), score="70.00")  # a rescore sends it again
    session.refresh_from_db()
    assert session.revealed_at == revealed


def test_the_spread_against_hand_computed_values(client, session, qa_lead_a, lead_a2, lead_a3):
    q = questions(session.scorecard_version)
    # given: three participants' answers (points earned, possible)
    evaluation_submit(
        _own(session, qa_lead_a),
        score="87.50",
        answers={
            q["greeting"]: ("yes", "1", "1"),
            q["empathy"]: ("4", "3", "4"),
            q["resolution"]: ("2", "2", "2"),
        },
    )
    evaluation_submit(
        _own(session, lead_a2),
        score="50.00",
        answers={
            q["greeting"]: ("no", "0", "1"),
            q["empathy"]: ("5", "4", "4"),
            q["resolution"]: ("1", "1", "2"),
        },
    )
    evaluation_submit(
        _own(session, lead_a3),
        score="75.00",
        answers={
            q["greeting"]: ("na", None, None),
            q["empathy"]: ("3", "2", "4"),
            q["resolution"]: ("2", "2", "2"),
        },
    )
    client.force_login(qa_lead_a)
    response = client.get(_page(session))
    comparison = response.context["comparison"]
    rows = {row.question.key: row for row in comparison.questions}

    # then: greeting 100 / 0 / N/A -> min 0, max 100, population std. dev. 50
    greeting = rows["greeting"]
    assert [c.label for c in greeting.cells] == ["Yes", "No", "N/A"]
    assert (greeting.spread.minimum, greeting.spread.maximum, greeting.spread.stdev) == (
        Decimal("0.00"), Decimal("100.00"), Decimal("50.00"),
    )  # fmt: skip
    # empathy 75 / 100 / 50: mean 75, sqrt((0 + 625 + 625) / 3) = 20.41
    empathy = rows["empathy"].spread
    assert (empathy.minimum, empathy.maximum, empathy.mean, empathy.stdev) == (
        Decimal("50.00"), Decimal("100.00"), Decimal("75.00"), Decimal("20.41"),
    )  # fmt: skip
    # resolution 100 / 50 / 100: mean 83.33, sqrt((277.78 + 1111.11 + 277.78) / 3) = 23.57
    resolution = rows["resolution"]
    assert [c.label for c in resolution.cells] == ["Resolved", "Partly", "Resolved"]
    assert (resolution.spread.mean, resolution.spread.stdev) == (Decimal("83.33"), Decimal("23.57"))
    # unanswered questions: nothing to spread
    assert rows["notice"].spread.count == 0 and rows["notice"].spread.stdev is None
    # overall: 87.5 / 50 / 75 -> mean 70.83, sqrt((277.78 + 434.03 + 17.36) / 3) = 15.59
    overall = comparison.overall
    assert (overall.minimum, overall.maximum, overall.mean, overall.stdev) == (
        Decimal("50.00"), Decimal("87.50"), Decimal("70.83"), Decimal("15.59"),
    )  # fmt: skip
    page = response.content.decode()
    assert "standard deviation 15.59" in page and "20.41" in page


@pytest.mark.django_db(transaction=True)
def test_two_last_submits_at_once_reveal_the_session(roles, queue_a, queue_b, agent):
    if connection.vendor != "postgresql":
        pytest.skip("the row lock is PostgreSQL's (SQLite writes one at a time)")
    # given: a session of two, neither submitted
    version = published_version(queue_a)
    lead_1, lead_2 = qa_lead("qa.r1", roles, queue_a), qa_lead("qa.r2", roles, queue_a)
    session = calibration_create(
        recording=RecordingFactory(queue=queue_a, agent=agent),
        scorecard_version=version,
        participants=[lead_1, lead_2],
        actor=lead_1,
    )
    barrier, errors = threading.Barrier(2), []

    def submit(lead) -> None:
        try:
            evaluation = _own(session, lead)
            barrier.wait(timeout=10)
            evaluation_submit(evaluation, score="60.00")
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    # when: both submit at the same moment, each in its own transaction
    threads = [threading.Thread(target=submit, args=(lead,)) for lead in (lead_1, lead_2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then: whichever committed last revealed it
    assert errors == []
    session.refresh_from_db()
    assert session.revealed_at is not None


# --- The agreed score -------------------------------------------------------------------------------


def _revealed(session, *leads):
    for lead in leads:
        evaluation_submit(_own(session, lead), score="80.00")
    session.refresh_from_db()
    return session


def test_the_agreed_score_waits_for_the_reveal(session, qa_lead_a):
    with pytest.raises(ValidationError):
        calibration_agree(session=session, actor=qa_lead_a, agreed_score=Decimal("80"), note="")
    session.refresh_from_db()
    assert session.agreed_score is None


def test_the_creator_or_the_dpo_records_the_agreed_score(client, session, qa_lead_a, lead_a2, lead_a3, dpo):
    _revealed(session, qa_lead_a, lead_a2, lead_a3)
    # a participant who did not create the session may not
    client.force_login(lead_a2)
    assert client.post(_page(session), {"agreed_score": "70", "note": "No."}).status_code == 403
    with pytest.raises(PermissionDenied):
        calibration_agree(session=session, actor=lead_a2, agreed_score=Decimal("70"))
    # the creator may; a hostile score is a form error, nothing saved
    client.force_login(qa_lead_a)
    response = client.post(_page(session), {"agreed_score": "101", "note": ""})
    assert response.status_code == 200 and response.context["agree_form"].errors
    response = client.post(_page(session), {"agreed_score": "NaN", "note": ""})
    assert response.status_code == 200 and response.context["agree_form"].errors
    session.refresh_from_db()
    assert session.agreed_score is None
    response = client.post(_page(session), {"agreed_score": "77.50", "note": "Empathy: 4 means warm."})
    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.agreed_score, session.agreed_by, session.note) == (
        Decimal("77.50"), qa_lead_a, "Empathy: 4 means warm.",
    )  # fmt: skip
    # and the DPO may correct it
    calibration_agree(session=session, actor=dpo, agreed_score=Decimal("78"), note="Reviewed.")
    session.refresh_from_db()
    assert (session.agreed_score, session.agreed_by) == (Decimal("78.00"), dpo)
    assert session.history.filter(agreed_score=Decimal("77.50")).exists()


# --- Personas on every page ---------------------------------------------------------------------------


CHANGELIST = "admin:reviews_calibrationsession_changelist"
ADD = "admin:reviews_calibrationsession_add"


@pytest.mark.parametrize(
    ("persona", "listed", "detail", "add"),
    [
        ("dpo", True, 200, 200),
        ("auditor", True, 200, 403),
        ("qa_lead_a", True, 200, 200),  # a participant, and the creator
        ("qa_lead_b", False, 404, 200),  # a QA lead of another queue
        ("stranger", None, 403, 403),  # staff without a role
        ("analyst", None, 403, 403),
    ],
)
def test_personas_on_the_calibration_pages(request, client, session, persona, listed, detail, add):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    changelist = client.get(reverse(CHANGELIST))
    if listed is None:
        assert changelist.status_code == 403
    else:
        assert changelist.status_code == 200
        assert (str(session) in changelist.content.decode()) is listed
    assert client.get(_page(session)).status_code == detail
    assert client.get(reverse(ADD)).status_code == add


def test_hostile_ids_and_methods_are_clear_refusals(client, session, qa_lead_a):
    client.force_login(qa_lead_a)
    base = reverse(CHANGELIST)
    for path in (f"{base}abc/change/", f"{base}1e5/change/", f"{base}99999999999999999999/change/"):
        assert client.get(path).status_code == 404
    assert client.put(_page(session)).status_code == 405
    assert client.post(_page(session), {"agreed_score": "50"}).status_code == 403  # not revealed yet


def test_creating_through_the_page(client, recording, version, qa_lead_a, lead_a2, qa_lead_b):
    client.force_login(qa_lead_a)
    form = {"recording": recording.reference.lower(), "scorecard_version": version.pk}
    # a participant who may not evaluate the call: refused on the form, nothing made
    response = client.post(reverse(ADD), form | {"participants": [qa_lead_a.pk, qa_lead_b.pk]})
    assert response.status_code == 200
    assert "May not evaluate this recording now: qa.b." in response.content.decode()
    # an unknown reference and a hostile participant id: form errors
    response = client.post(reverse(ADD), form | {"recording": "REC-NOPE", "participants": ["x", "9" * 30]})
    assert response.status_code == 200 and not CalibrationSession.objects.exists()
    # then a valid one
    response = client.post(reverse(ADD), form | {"participants": [qa_lead_a.pk, lead_a2.pk]})
    assert response.status_code == 302
    assert CalibrationSession.objects.get().participants.count() == 2


def test_every_page_shown_is_an_access_event(client, session, qa_lead_a):
    client.force_login(qa_lead_a)
    client.get(reverse(CHANGELIST))
    client.get(_page(session))
    events = AccessEvent.objects.filter(object_type="calibration", actor=qa_lead_a).order_by("sequence")
    assert [(e.action, e.object_id) for e in events] == [("list", None), ("view", session.pk)]
    assert events[1].detail["evaluations"] == [_own(session, qa_lead_a).pk]


def test_a_restriction_after_the_reveal_hides_the_comparison_from_qa_leads(
    client, session, recording, qa_lead_a, lead_a2, lead_a3, dpo
):
    _revealed(session, qa_lead_a, lead_a2, lead_a3)
    Recording.objects.filter(pk=recording.pk).update(status=Recording.Status.RESTRICTED)
    client.force_login(lead_a2)
    response = client.get(_page(session))
    assert response.context["comparison"] is None and "calibration-hidden" in response.content.decode()
    client.force_login(dpo)
    assert client.get(_page(session)).context["comparison"] is not None


def test_submitting_through_the_evaluations_service_reveals(session, qa_lead_a, lead_a2, lead_a3):
    from reviews.services import evaluation_answers_save
    from reviews.services import evaluation_submit as service_submit

    q = questions(session.scorecard_version)
    answers = {
        q["greeting"].pk: ("yes", ""),
        q["empathy"].pk: ("5", ""),
        q["resolution"].pk: ("2", ""),
        q["notice"].pk: ("yes", ""),
        q["notes"].pk: ("", "Fine call."),
    }
    for lead in (qa_lead_a, lead_a2, lead_a3):
        evaluation = _own(session, lead)
        evaluation_answers_save(evaluation=evaluation, answers=answers, actor=lead)
        service_submit(evaluation=evaluation, actor=lead)
    session.refresh_from_db()
    assert session.revealed_at is not None
    comparison_scores = {e.score for e in Evaluation.objects.filter(calibration=session)}
    assert comparison_scores == {Decimal("100.00")}
