"""The scorecards' admin (reviews.admin.scorecards): every persona on every page and action, the
draft edited through inlines, the published version read only, hostile form input as form errors."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from compliance_site.roles import QA_ADMINISTRATOR
from reviews.models import AnswerType, Scorecard, ScorecardQuestion, ScorecardSection, ScorecardVersion
from reviews.scorecards import scorecard_create, scorecard_version_publish
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

EDITORS = ("dpo", "qa_admin")
READERS = ("qa_lead_a", "qa_lead_b", "auditor")
PERSONAS = (*EDITORS, *READERS, "stranger")


@pytest.fixture
def qa_admin(roles):
    return UserFactory(username="quinn.qa-admin", groups=[Group.objects.get(name=QA_ADMINISTRATOR)])


@pytest.fixture
def people(dpo, qa_admin, qa_lead_a, qa_lead_b, auditor, stranger):
    return {
        "dpo": dpo,
        "qa_admin": qa_admin,
        "qa_lead_a": qa_lead_a,
        "qa_lead_b": qa_lead_b,
        "auditor": auditor,
        "stranger": stranger,
    }


@pytest.fixture
def cards(qa_admin, queue_a):
    """A scorecard with a published v1 and a draft v2, and another with only its draft v1."""
    support = scorecard_create(name="Support calls", queues=[queue_a], actor=qa_admin)
    v1 = support.versions.get()
    section = ScorecardSection.objects.create(version=v1, title="Opening")
    ScorecardQuestion.objects.create(
        version=v1, section=section, key="greeting", text="Greets", answer_type=AnswerType.YES_NO
    )
    scorecard_version_publish(version=v1, actor=qa_admin)
    v2 = ScorecardVersion.objects.create(scorecard=support, number=2)
    section2 = ScorecardSection.objects.create(version=v2, title="Opening")
    question2 = ScorecardQuestion.objects.create(
        version=v2, section=section2, key="greeting", text="Greets", answer_type=AnswerType.YES_NO
    )
    fresh = scorecard_create(name="Sales calls", actor=qa_admin)
    return {
        "support": support,
        "published": v1,
        "draft": v2,
        "section": section2,
        "question": question2,
        "fresh": fresh,
        "fresh_draft": fresh.versions.get(),
    }


def url(name: str, *args) -> str:
    return reverse(f"admin:reviews_{name}", args=args)


def version_post(version: ScorecardVersion, **overrides) -> dict[str, str]:
    """The version page's form as the browser posts it: the version's fields and both inlines."""
    sections = list(version.sections.all())
    questions = list(version.questions.all())
    data = {
        "scoring_rule": version.scoring_rule,
        "pass_mark": "" if version.pass_mark is None else str(version.pass_mark),
        "sections-TOTAL_FORMS": str(len(sections)),
        "sections-INITIAL_FORMS": str(len(sections)),
        "sections-MIN_NUM_FORMS": "0",
        "sections-MAX_NUM_FORMS": "1000",
        "questions-TOTAL_FORMS": str(len(questions)),
        "questions-INITIAL_FORMS": str(len(questions)),
        "questions-MIN_NUM_FORMS": "0",
        "questions-MAX_NUM_FORMS": "1000",
    }
    for i, s in enumerate(sections):
        data |= {
            f"sections-{i}-id": str(s.pk),
            f"sections-{i}-version": str(version.pk),
            f"sections-{i}-position": str(s.position),
            f"sections-{i}-title": s.title,
            f"sections-{i}-weight": str(s.weight),
        }
    for i, q in enumerate(questions):
        data |= question_fields(i, version, q)
    data |= overrides
    return data


def question_fields(i: int, version: ScorecardVersion, q: ScorecardQuestion | None = None, **values) -> dict:
    fields = {
        "id": str(q.pk) if q else "",
        "version": str(version.pk),
        "section": str(q.section_id) if q else "",
        "position": str(q.position) if q else "0",
        "key": q.key if q else "",
        "text": q.text if q else "",
        "guidance": q.guidance if q else "",
        "answer_type": q.answer_type if q else "",
        "weight": str(q.weight) if q else "1",
        "scale_min": "" if not q or q.scale_min is None else str(q.scale_min),
        "scale_max": "" if not q or q.scale_max is None else str(q.scale_max),
        "choices": json.dumps(q.choices if q else []),
    }
    if q and q.allow_na:
        fields["allow_na"] = "on"
    if q and q.auto_fail:
        fields["auto_fail"] = "on"
    fields |= values
    return {f"questions-{i}-{name}": value for name, value in fields.items() if value is not None}


# --- who may open what ------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_page_answers_each_persona_as_its_role_says(client, people, cards, persona):
    client.force_login(people[persona])
    pages = {
        "scorecard list": url("scorecard_changelist"),
        "scorecard page": url("scorecard_change", cards["support"].pk),
        "scorecard history": url("scorecard_history", cards["support"].pk),
        "version list": url("scorecardversion_changelist"),
        "draft page": url("scorecardversion_change", cards["draft"].pk),
        "published page": url("scorecardversion_change", cards["published"].pk),
        "version history": url("scorecardversion_history", cards["published"].pk),
    }

    codes = {name: client.get(page).status_code for name, page in pages.items()}

    expected = 403 if persona == "stranger" else 200
    assert codes == dict.fromkeys(pages, expected)


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_editors_add_scorecards(client, people, queue_a, persona):
    client.force_login(people[persona])

    page = client.get(url("scorecard_add"))
    created = client.post(
        url("scorecard_add"), {"name": f"By {persona}", "description": "", "queues": [queue_a.pk]}
    )

    if persona in EDITORS:
        assert page.status_code == 200
        scorecard = Scorecard.objects.get(name=f"By {persona}")
        draft = scorecard.versions.get()
        assert created.status_code == 302 and created["Location"] == url("scorecardversion_change", draft.pk)
        assert list(scorecard.queues.all()) == [queue_a]
        assert scorecard.created_by == people[persona]
    else:
        assert (page.status_code, created.status_code) == (403, 403)
        assert not Scorecard.objects.exists()


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_editors_change_a_scorecard_and_its_queues(client, people, cards, queue_b, persona):
    client.force_login(people[persona])
    support = cards["support"]

    response = client.post(
        url("scorecard_change", support.pk),
        {
            "name": "Support calls (EU)",
            "description": "Inbound",
            "queues": [queue_b.pk],
            "versions-TOTAL_FORMS": "2",
            "versions-INITIAL_FORMS": "2",
            "versions-MIN_NUM_FORMS": "0",
            "versions-MAX_NUM_FORMS": "1000",
            "versions-0-id": str(cards["draft"].pk),
            "versions-0-scorecard": str(support.pk),
            "versions-1-id": str(cards["published"].pk),
            "versions-1-scorecard": str(support.pk),
        },
    )

    support.refresh_from_db()
    if persona in EDITORS:
        assert response.status_code == 302
        assert support.name == "Support calls (EU)"
        assert [q.pk for q in support.queues.all()] == [queue_b.pk]
        assert support.history.first().history_user == people[persona]
    else:
        assert response.status_code == 403
        assert support.name == "Support calls"


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_editors_edit_a_draft(client, people, cards, persona):
    client.force_login(people[persona])
    draft = cards["draft"]

    response = client.post(
        url("scorecardversion_change", draft.pk),
        version_post(draft, **{"pass_mark": "75", "questions-0-text": "Greets by name"}),
    )

    draft.refresh_from_db()
    if persona in EDITORS:
        assert response.status_code == 302, response.context and response.context["errors"]
        assert draft.pass_mark == Decimal(75)
        assert draft.questions.get().text == "Greets by name"
    else:
        assert response.status_code == 403
        assert draft.pass_mark is None


@pytest.mark.parametrize("persona", PERSONAS)
def test_a_published_version_is_read_only_for_everyone(client, people, cards, persona):
    client.force_login(people[persona])
    published = cards["published"]

    page = client.get(url("scorecardversion_change", published.pk))
    response = client.post(
        url("scorecardversion_change", published.pk), version_post(published, pass_mark="10")
    )

    assert response.status_code == 403
    published.refresh_from_db()
    assert published.pass_mark is None
    if persona != "stranger":
        html = page.content.decode()
        assert 'name="questions-0-text"' not in html and "Greets" in html
        assert "Publish this version" not in html


@pytest.mark.parametrize("persona", PERSONAS)
def test_publish_action_by_persona(client, people, cards, persona):
    client.force_login(people[persona])
    draft, published = cards["draft"], cards["published"]

    page = client.get(url("scorecardversion_publish", draft.pk))
    response = client.post(url("scorecardversion_publish", draft.pk))

    draft.refresh_from_db()
    published.refresh_from_db()
    if persona in EDITORS:
        assert page.status_code == 200 and "Publish this version" in page.content.decode()
        assert response.status_code == 302
        assert (draft.status, published.status) == ("published", "retired")
        assert draft.published_by == people[persona]
    else:
        assert (page.status_code, response.status_code) == (403, 403)
        assert (draft.status, published.status) == ("draft", "published")


@pytest.mark.parametrize("persona", PERSONAS)
def test_new_version_action_by_persona(client, people, cards, persona):
    client.force_login(people[persona])
    published = cards["published"]
    cards["draft"].delete()

    page = client.get(url("scorecardversion_new_version", published.pk))
    response = client.post(url("scorecardversion_new_version", published.pk))

    versions = ScorecardVersion.objects.filter(scorecard=cards["support"])
    if persona in EDITORS:
        assert page.status_code == 200
        new = versions.get(status="draft")
        assert response.status_code == 302 and response["Location"] == url("scorecardversion_change", new.pk)
        assert [q.key for q in new.questions.all()] == ["greeting"]
    else:
        assert (page.status_code, response.status_code) == (403, 403)
        assert not versions.filter(status="draft").exists()


def test_the_version_page_offers_the_actions_that_apply(client, qa_admin, qa_lead_a, cards):
    client.force_login(qa_admin)
    draft_page = client.get(url("scorecardversion_change", cards["draft"].pk)).content.decode()
    published_page = client.get(url("scorecardversion_change", cards["published"].pk)).content.decode()

    assert url("scorecardversion_publish", cards["draft"].pk) in draft_page
    # A draft exists: no second one can be started.
    assert "Start a new version" not in draft_page + published_page

    client.force_login(qa_lead_a)
    assert (
        "Publish this version"
        not in client.get(url("scorecardversion_change", cards["draft"].pk)).content.decode()
    )


def test_publish_page_lists_what_stops_it(client, qa_admin, cards):
    client.force_login(qa_admin)
    empty = cards["fresh_draft"]

    page = client.get(url("scorecardversion_publish", empty.pk))
    refused = client.post(url("scorecardversion_publish", empty.pk))

    assert "at least one scored question" in page.content.decode()
    assert 'id="version-action-confirm"' not in page.content.decode()
    assert refused.status_code == 200
    empty.refresh_from_db()
    assert empty.status == "draft"


def test_publishing_a_published_version_says_so(client, qa_admin, cards):
    client.force_login(qa_admin)

    response = client.post(url("scorecardversion_publish", cards["published"].pk), follow=True)

    assert "is published, not a draft" in response.content.decode()


def test_a_second_draft_is_refused_on_the_page(client, qa_admin, cards):
    client.force_login(qa_admin)

    response = client.post(url("scorecardversion_new_version", cards["published"].pk))

    assert response.status_code == 200
    assert "Version 2 is already a draft" in response.content.decode()


@pytest.mark.parametrize("view", ["scorecardversion_publish", "scorecardversion_new_version"])
def test_actions_answer_404_for_a_missing_version_and_405_for_other_methods(client, qa_admin, cards, view):
    client.force_login(qa_admin)

    assert client.get(url(view, 999_999)).status_code == 404
    assert client.put(url(view, cards["draft"].pk)).status_code == 405


def test_nobody_adds_a_version_by_hand_or_deletes_one(client, qa_admin, dpo, cards):
    for user in (qa_admin, dpo):
        client.force_login(user)
        assert client.get(reverse("admin:reviews_scorecardversion_add")).status_code == 403
        assert client.get(url("scorecardversion_delete", cards["draft"].pk)).status_code == 403
        assert client.get(url("scorecard_delete", cards["support"].pk)).status_code == 403


def test_the_scorecard_list_shows_queues_and_versions(client, qa_admin, cards):
    client.force_login(qa_admin)

    html = client.get(url("scorecard_changelist")).content.decode()

    assert "Queue A" in html and "v1" in html and "v2" in html


# --- the draft's inlines ----------------------------------------------------------------------------


def test_a_question_is_added_in_a_section_of_this_version_only(client, qa_admin, cards):
    client.force_login(qa_admin)
    draft, other_section = cards["draft"], cards["fresh_draft"]
    theirs = ScorecardSection.objects.create(version=other_section, title="Theirs")
    post = version_post(draft)
    post["questions-TOTAL_FORMS"] = "2"

    outside = client.post(
        url("scorecardversion_change", draft.pk),
        post
        | question_fields(1, draft, key="tone", text="Tone", answer_type="yes_no", section=str(theirs.pk)),
    )
    inside = client.post(
        url("scorecardversion_change", draft.pk),
        post
        | question_fields(
            1,
            draft,
            key="tone",
            text="Tone",
            answer_type="scale",
            section=str(cards["section"].pk),
            scale_min="1",
            scale_max="5",
        ),
    )

    assert outside.status_code == 200
    assert "Select a valid choice" in str(outside.context["inline_admin_formsets"][1].formset.errors)
    assert inside.status_code == 302
    assert draft.questions.get(key="tone").scale_max == 5


HOSTILE = [
    ({"choices": "[{"}, "Enter a valid JSON"),
    ({"choices": "[" * 3000 + "]" * 3000}, "At most 5000 characters"),
    ({"choices": "[" * 2400}, "Enter a valid JSON"),
    (
        {
            "answer_type": "choice",
            "choices": '[{"label": "A", "points": "two"}, {"label": "B", "points": 1}]',
        },
        "must be a number",
    ),
    ({"answer_type": "choice", "choices": '[{"label": "A", "points": 1}]'}, "at least two options"),
    ({"answer_type": "choice", "choices": '{"label": "A"}'}, "must be a list"),
    (
        {
            "answer_type": "choice",
            "choices": '[{"label": "A", "points": 1e400}, {"label": "B", "points": 1}]',
        },
        "finite",
    ),
    (
        {"choices": '[{"label": "A", "points": 1}, {"label": "B", "points": 0}]'},
        "Only a choice question has options",
    ),
    ({"answer_type": "scale", "scale_min": "5", "scale_max": "5"}, "must be above the lowest"),
    ({"answer_type": "scale", "scale_min": "7", "scale_max": "2"}, "must be above the lowest"),
    ({"answer_type": "scale", "scale_min": "1"}, "lowest and highest values"),
    ({"answer_type": "scale", "scale_min": "1", "scale_max": "99999"}, "less than or equal to"),
    ({"scale_min": "1", "scale_max": "5"}, "Only a scale question"),
    (
        {"answer_type": "scale", "scale_min": "1", "scale_max": "5", "auto_fail": "on"},
        "Only a yes/no question can fail",
    ),
    ({"answer_type": "text", "auto_fail": "on"}, "Only a yes/no question can fail"),
    ({"weight": "-1"}, "greater than or equal to 0"),
    ({"weight": "NaN"}, "Enter a number"),
    ({"weight": "1e9"}, "no more than"),
    ({"answer_type": "bogus"}, "Select a valid choice"),
    ({"key": "has spaces"}, "Enter a valid"),
    ({"key": ""}, "This field is required"),
    ({"position": "-1"}, "greater than or equal to 0"),
]


@pytest.mark.parametrize(("values", "message"), HOSTILE)
def test_hostile_question_input_is_a_form_error(client, qa_admin, cards, values, message):
    client.force_login(qa_admin)
    draft, question = cards["draft"], cards["question"]
    post = version_post(draft) | question_fields(0, draft, question, **values)

    response = client.post(url("scorecardversion_change", draft.pk), post)

    assert response.status_code == 200
    assert message in str(response.context["inline_admin_formsets"][1].formset.errors)
    question.refresh_from_db()
    assert (question.answer_type, question.choices, question.weight) == ("yes_no", [], Decimal(1))


def test_a_duplicate_key_is_a_form_error(client, qa_admin, cards):
    client.force_login(qa_admin)
    draft = cards["draft"]
    post = version_post(draft, **{"questions-TOTAL_FORMS": "2"})

    response = client.post(
        url("scorecardversion_change", draft.pk),
        post
        | question_fields(
            1, draft, key="greeting", text="Again", answer_type="yes_no", section=str(cards["section"].pk)
        ),
    )

    assert response.status_code == 200
    assert draft.questions.count() == 1


@pytest.mark.parametrize(
    ("weight", "message"), [("0", "greater than or equal to 0.01"), ("abc", "Enter a number")]
)
def test_hostile_section_weight_is_a_form_error(client, qa_admin, cards, weight, message):
    client.force_login(qa_admin)
    draft = cards["draft"]

    response = client.post(
        url("scorecardversion_change", draft.pk), version_post(draft, **{"sections-0-weight": weight})
    )

    assert response.status_code == 200
    assert message in str(response.context["inline_admin_formsets"][0].formset.errors)


def test_a_section_with_questions_is_not_deleted_with_them_unseen(client, qa_admin, cards):
    client.force_login(qa_admin)
    draft = cards["draft"]

    response = client.post(
        url("scorecardversion_change", draft.pk), version_post(draft, **{"sections-0-DELETE": "on"})
    )

    assert response.status_code == 200
    assert "still has questions" in response.content.decode()
    assert draft.sections.count() == 1


def test_a_question_deleted_from_a_draft_goes(client, qa_admin, cards):
    client.force_login(qa_admin)
    draft = cards["draft"]

    response = client.post(
        url("scorecardversion_change", draft.pk), version_post(draft, **{"questions-0-DELETE": "on"})
    )

    assert response.status_code == 302
    assert not draft.questions.exists()


@pytest.mark.parametrize("pass_mark", ["101", "-1", "abc"])
def test_hostile_pass_mark_is_a_form_error(client, qa_admin, cards, pass_mark):
    client.force_login(qa_admin)
    draft = cards["draft"]

    response = client.post(url("scorecardversion_change", draft.pk), version_post(draft, pass_mark=pass_mark))

    assert response.status_code == 200
    draft.refresh_from_db()
    assert draft.pass_mark is None


def test_a_duplicate_scorecard_name_is_a_form_error(client, qa_admin, cards):
    client.force_login(qa_admin)

    response = client.post(url("scorecard_add"), {"name": "Support calls", "description": ""})

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
