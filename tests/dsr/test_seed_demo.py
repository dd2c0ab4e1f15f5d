"""``seed_demo`` makes a usable demo and a second run changes nothing."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from dsr.models import DataSubjectRequest, RequestType
from recordings.models import Consent, Purpose, Recording, Share
from recordings.selectors import recordings_visible_to
from recordings.sharing.services import share_ground_problem
from retention.models import LegalHold

pytestmark = pytest.mark.django_db


def test_seed_demo_is_complete_and_idempotent():
    # when
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    counts = (Recording.objects.count(), Consent.objects.count(), DataSubjectRequest.objects.count())
    call_command("seed_demo", stdout=io.StringIO())

    # then
    assert (Recording.objects.count(), Consent.objects.count(), DataSubjectRequest.objects.count()) == counts
    assert counts[0] >= 200
    assert Consent.objects.filter(withdrawn_at__isnull=False).exists()
    assert LegalHold.objects.filter(released_at__isnull=True).count() == 1
    assert set(DataSubjectRequest.objects.values_list("request_type", flat=True)) == set(RequestType.values)
    assert set(DataSubjectRequest.objects.values_list("status", flat=True)) == set(
        DataSubjectRequest.Status.values
    )
    for username in ("dpo", "analyst", "qa.billing", "qa.technical", "auditor"):
        assert username in out.getvalue()


def test_demo_qa_leads_see_different_queues():
    call_command("seed_demo", stdout=io.StringIO())
    users = get_user_model().objects

    billing = recordings_visible_to(users.get(username="qa.billing"))
    technical = recordings_visible_to(users.get(username="qa.technical"))

    assert set(billing.values_list("queue__code", flat=True)) == {"billing"}
    assert set(technical.values_list("queue__code", flat=True)) == {"technical-support"}


def test_seed_demo_refuses_the_production_profile(settings):
    # given: a production deployment (issue 14, item 9: the demo's DPO and auditor would get the
    # published password there)
    settings.PRODUCTION = True

    # when / then
    with pytest.raises(CommandError, match="CUSTOS_ENV=production"):
        call_command("seed_demo", stdout=io.StringIO())
    assert not get_user_model().objects.filter(username__in=["dpo", "auditor"]).exists()


def test_consent_based_sharing_works_in_the_demo():
    # given: the demo (issue 14, item 13: its sharing purpose had a code the code never asked for)
    call_command("seed_demo", stdout=io.StringIO())
    sharing = Purpose.objects.get(code=Purpose.SHARING)

    # when
    shareable = [
        r
        for r in Recording.objects.filter(purposes=sharing, status=Recording.Status.ACTIVE)
        if share_ground_problem(recording=r, ground=Share.Ground.CONSENT, ground_note="") is None
    ]

    # then: some calls may be shared on the caller's consent, and every purpose code the code
    # relies on exists in the demo
    assert shareable
    assert {Purpose.QUALITY_ASSURANCE, Purpose.SHARING} <= set(Purpose.objects.values_list("code", flat=True))
