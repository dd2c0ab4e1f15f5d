"""Disposition review before deletion, and the dry run that says why each recording is kept."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from recordings.models import Recording
from retention.explain import retention_verdict
from retention.services import disposition_approve, retention_sweep
from tests.factories import LegalHoldFactory, PurposeFactory, RecordingFactory, RetentionPolicyFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def expired(**kwargs) -> Recording:
    return RecordingFactory(keep_until=NOW - datetime.timedelta(days=1), **kwargs)


def test_a_reviewed_purpose_waits_for_the_dpo_then_goes(dpo):
    # given: a training call past retention, whose policy asks for a review
    training = PurposeFactory(code="training")
    RetentionPolicyFactory(purpose=training, keep_days=30, disposition_review=True)
    recording = expired(purposes=[training], lawful_basis="contract")

    # when: a sweep runs before the review
    retention_sweep(now=NOW)

    # then: kept, and the reason says so
    recording.refresh_from_db()
    assert recording.status == Recording.Status.ACTIVE
    assert "waiting for the DPO's disposition review" in retention_verdict(recording, NOW).reason

    # when: the DPO approves and the next sweep runs
    disposition_approve(recording=recording, actor=dpo)
    retention_sweep(now=NOW)

    # then
    recording.refresh_from_db()
    assert recording.status == Recording.Status.ERASED


def test_the_dpo_approves_in_the_admin_list_of_recordings_awaiting_review(client, dpo):
    training = PurposeFactory(code="training")
    RetentionPolicyFactory(purpose=training, keep_days=30, disposition_review=True)
    waiting = expired(purposes=[training], lawful_basis="contract")
    expired(lawful_basis="contract")  # no review needed: not on the list
    client.force_login(dpo)
    url = reverse("admin:retention_pendingdisposition_changelist")

    listed = client.get(url).context["cl"].result_list
    response = client.post(url, {"action": "approve_deletion", "_selected_action": [waiting.pk]})

    assert [r.pk for r in listed] == [waiting.pk]
    assert response.status_code == 302
    assert list(client.get(url).context["cl"].result_list) == []
    assert waiting.disposition_approval.approved_by == dpo


def test_reasons_for_each_kind_of_survivor(dpo):
    held = expired()
    LegalHoldFactory(recording=held, case_reference="CASE-77")
    kept = RecordingFactory(keep_until=NOW + datetime.timedelta(days=40))
    gone = expired()

    assert retention_verdict(held, NOW).reason.startswith("Held by case CASE-77")
    assert retention_verdict(kept, NOW).reason.startswith(
        f"Kept until {timezone.localtime(kept.keep_until):%Y-%m-%d} for quality assurance (consent"
    )
    assert retention_verdict(gone, NOW).deleted_by_sweep is True


def test_preview_lists_what_would_go_now_and_later_and_changes_nothing():
    soon = RecordingFactory(keep_until=NOW + datetime.timedelta(days=5))
    expired_now = expired()
    later = (timezone.localtime(NOW) + datetime.timedelta(days=10)).date().isoformat()

    now_out, later_out = StringIO(), StringIO()
    call_command("retention_preview", stdout=now_out)
    call_command("retention_preview", "--at", later, "--all", stdout=later_out)

    assert f"DELETE  {expired_now.reference}" in now_out.getvalue()
    assert soon.reference not in now_out.getvalue()
    assert f"DELETE  {soon.reference}" in later_out.getvalue()
    assert "2 would be deleted, 0 kept." in later_out.getvalue()
    assert Recording.objects.filter(status=Recording.Status.ACTIVE).count() == 2


def test_preview_refuses_a_malformed_date():
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("retention_preview", "--at", "next tuesday", stdout=StringIO())


def test_the_recording_page_shows_the_dpo_why_it_is_kept(client, dpo):
    recording = RecordingFactory(keep_until=NOW + datetime.timedelta(days=40))
    client.force_login(dpo)

    page = client.get(reverse("admin:recordings_recording_change", args=[recording.pk])).content.decode()

    assert "Kept until" in page


@pytest.mark.parametrize(
    ("moment", "deleted"),
    [
        (datetime.timedelta(seconds=-1), False),
        (datetime.timedelta(0), False),  # kept *until* its keep-until, that moment included
        (datetime.timedelta(seconds=1), True),
    ],
)
def test_the_explanation_and_the_sweep_agree_at_the_boundary(moment, deleted):
    # given: a recording whose keep-until is exactly the sweep's moment, or a second either side
    # (issue 15: the explanation said "deleted" where the sweep kept it)
    recording = RecordingFactory(keep_until=NOW, lawful_basis="contract")
    at = NOW + moment

    # when
    verdict = retention_verdict(recording, at)
    retention_sweep(now=at)

    # then
    recording.refresh_from_db()
    assert verdict.deleted_by_sweep is deleted
    assert (recording.status == Recording.Status.ERASED) is deleted


def test_a_purpose_keeps_its_policy_days_or_the_default_everywhere(settings):
    # given: one purpose with a policy and one without (issue 15: this rule was written three times)
    from retention.selectors import keep_days_for, retention_policies_for

    settings.RETENTION_DEFAULT_DAYS = 45
    with_policy, without = PurposeFactory(code="dispute"), PurposeFactory(code="training")
    RetentionPolicyFactory(purpose=with_policy, keep_days=365)
    policies = retention_policies_for([with_policy.pk, without.pk])

    # then
    assert keep_days_for(with_policy, policies) == 365
    assert keep_days_for(without.pk, policies) == 45
