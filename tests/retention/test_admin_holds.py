"""The DPO places and releases legal holds in the admin, attributed and with history."""

from __future__ import annotations

import pytest
from django.urls import reverse

from retention.models import LegalHold
from tests.factories import RecordingFactory

pytestmark = pytest.mark.django_db


def test_dpo_places_and_releases_a_hold(client, dpo):
    # given
    recording = RecordingFactory()
    client.force_login(dpo)

    # when: placed
    response = client.post(
        reverse("admin:retention_legalhold_add"),
        {"scope": "recording", "recording": recording.pk, "case_reference": "CASE-77", "reason": "Claim."},
    )

    # then
    assert response.status_code == 302
    hold = LegalHold.objects.get()
    assert (hold.placed_by, hold.released_at) == (dpo, None)

    # when: released with a reason
    response = client.post(
        reverse("admin:retention_legalhold_change", args=[hold.pk]), {"release_reason": "Settled."}
    )

    # then
    assert response.status_code == 302
    hold.refresh_from_db()
    assert hold.released_by == dpo
    assert hold.release_reason == "Settled."
    assert hold.history.count() == 2


def test_hold_whose_scope_and_target_disagree_is_refused(client, dpo):
    recording = RecordingFactory()
    client.force_login(dpo)

    response = client.post(
        reverse("admin:retention_legalhold_add"),
        {"scope": "subject", "recording": recording.pk, "case_reference": "CASE-78", "reason": "Claim."},
    )

    assert response.status_code == 200
    assert LegalHold.objects.count() == 0


def test_qa_lead_cannot_place_holds(client, qa_lead_a):
    client.force_login(qa_lead_a)

    assert client.get(reverse("admin:retention_legalhold_add")).status_code == 403
