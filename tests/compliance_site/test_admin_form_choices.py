"""Every admin form that names another object offers, and accepts, only objects the user may see.

Issue 14, item 5: an analyst added a note to a request not theirs through the note's add page
(``request=<id>``). The walk below opens the add form, and the change form of an object the
persona may change, of every registered model admin, as each persona, and checks each choice
field against the related model admin's own queryset for that persona.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.forms import ModelChoiceField
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from dsr.models import RequestNote
from dsr.services import request_create
from dsr.workflow import request_assign, request_match
from tests.factories import DataSubjectFactory, LegalHoldFactory, RecordingFactory

pytestmark = pytest.mark.django_db

PERSONAS = ("analyst", "qa_lead_a", "auditor", "stranger", "dpo")


@pytest.fixture
def world(dpo, analyst, queue_a, queue_b):
    """Objects of every kind a form may name, some of them outside each persona's reach."""
    mine = request_create(request_type="access", channel="email", received_at=timezone.now())
    theirs = request_create(request_type="erasure", channel="email", received_at=timezone.now())
    own_subject, other_subject = DataSubjectFactory(), DataSubjectFactory()
    request_match(dsr=mine, subject=own_subject, actor=dpo)
    request_match(dsr=theirs, subject=other_subject, actor=dpo)
    request_assign(dsr=mine, assignee=analyst, actor=dpo)
    RecordingFactory(subject=own_subject, queue=queue_a)
    RecordingFactory(subject=other_subject, queue=queue_b)
    LegalHoldFactory()
    return {"mine": mine, "theirs": theirs}


def _forms_of(model_admin, http_request):
    """The add form and one change form (of the first object the user may change), unbound."""
    if model_admin.has_add_permission(http_request):
        yield "add", model_admin.get_form(http_request, None, change=False)()
    for obj in model_admin.get_queryset(http_request)[:1]:
        if model_admin.has_change_permission(http_request, obj):
            form_class = model_admin.get_form(http_request, obj, change=True)
            yield "change", form_class(instance=obj)


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_choice_field_is_limited_to_what_the_persona_may_see(request, persona, world):
    user = request.getfixturevalue(persona)
    http_request = RequestFactory().get("/admin/")
    http_request.user = user
    checked = 0
    for model, model_admin in admin.site._registry.items():
        for kind, form in _forms_of(model_admin, http_request):
            for name, field in form.fields.items():
                if not isinstance(field, ModelChoiceField):
                    continue
                related_admin = admin.site._registry.get(field.queryset.model)
                if related_admin is None:
                    continue
                offered = set(field.queryset.values_list("pk", flat=True))
                visible = set(related_admin.get_queryset(http_request).values_list("pk", flat=True))
                assert offered <= visible, (
                    f"{persona}: {model._meta.label} {kind} form field {name!r} offers "
                    f"{sorted(offered - visible)}, which {persona} may not see"
                )
                checked += 1
    if persona in ("analyst", "dpo"):
        assert checked, "the walk found no choice field to check: the test checks nothing"


def test_an_analyst_cannot_add_a_note_to_a_request_not_theirs(client, analyst, world):
    # given
    client.force_login(analyst)

    # when
    response = client.post(
        reverse("admin:dsr_requestnote_add"), {"request": world["theirs"].pk, "body": "hello"}
    )

    # then: the form refuses the id as it would an id that does not exist
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode() or "errornote" in response.content.decode()
    assert not RequestNote.objects.filter(request=world["theirs"]).exists()


def test_an_analyst_adds_a_note_to_their_own_request(client, analyst, world):
    client.force_login(analyst)

    response = client.post(
        reverse("admin:dsr_requestnote_add"), {"request": world["mine"].pk, "body": "called back"}
    )

    assert response.status_code == 302
    note = RequestNote.objects.get(request=world["mine"])
    assert note.author == analyst
