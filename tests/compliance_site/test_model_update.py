"""``model_update`` writes only the named fields, with a history row by its actor and reason."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance_site.model_update import model_update
from dsr.services import request_create

pytestmark = pytest.mark.django_db


def test_model_update_saves_the_named_fields_with_author_and_reason(dpo):
    # given
    request = request_create(request_type="access", channel="email", received_at=timezone.now())

    # when
    with CaptureQueriesContext(connection) as queries:
        model_update(request, actor=dpo, reason="the subject wrote again", language="de")

    # then: one UPDATE of that column alone, and the history row says who and why
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1 and '"language"' in updates[0] and '"channel"' not in updates[0]
    latest = request.history.first()
    assert (latest.language, latest.history_user, latest.history_change_reason) == (
        "de",
        dpo,
        "the subject wrote again",
    )


def test_model_update_without_an_authenticated_actor_names_nobody(analyst):
    request = request_create(request_type="access", channel="email", received_at=timezone.now())

    model_update(request, actor=None, language="de")

    assert request.history.first().history_user is None
