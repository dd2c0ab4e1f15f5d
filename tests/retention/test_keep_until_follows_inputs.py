"""Keep-until follows its inputs (issue 16 items 3, 7 and 9): a policy, a recording's purposes, a
consent, an objection or an assessment that changes moves the keep-until of the recordings it
reaches; the sweep then deletes them naming the real cause and rule."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from dsr.services import request_create
from dsr.workflow import request_complete, request_identity_verify
from recordings.models import Consent, LawfulBasis, LegitimateInterestAssessment, Objection, Recording
from recordings.selectors import recordings_visible_to
from recordings.services import consent_withdraw, objection_decide
from retention.models import DeletionRecord, KeepUntilRecomputation
from retention.recompute import recomputations_resume
from retention.selectors import recordings_awaiting_disposition
from retention.services import recording_keep_until_recompute, retention_sweep
from tests.factories import PurposeFactory, RecordingFactory, RetentionPolicyFactory

pytestmark = pytest.mark.django_db
Reason = DeletionRecord.Reason
DAY = datetime.timedelta(days=1)


def _call(days_ago: int, **kwargs) -> Recording:
    """A call of ``days_ago`` days, its keep-until computed as ingest computes it."""
    recording = RecordingFactory(started_at=timezone.now() - days_ago * DAY, **kwargs)
    return recording_keep_until_recompute(recording=recording)


def _tombstone(recording: Recording) -> DeletionRecord:
    return DeletionRecord.objects.get(recording_id=recording.pk)


def _policy(django_capture_on_commit_callbacks, **fields):
    """A policy set earlier: its own recomputation has run."""
    with django_capture_on_commit_callbacks(execute=True):
        return RetentionPolicyFactory(purpose=PurposeFactory(), **fields)


def _policy_saved(policy, django_capture_on_commit_callbacks, **fields):
    """The DPO's change, committed; the queued recomputation runs (eagerly, as on a worker)."""
    with django_capture_on_commit_callbacks(execute=True):
        for name, value in fields.items():
            setattr(policy, name, value)
        policy.save()


def test_a_policy_shortened_from_180_to_30_days_makes_old_calls_due_and_the_sweep_names_the_policy(
    jobs_eager, django_capture_on_commit_callbacks
):
    # given: quality assurance kept 180 days; a call of 100 days ago and one of 10 days ago
    policy = _policy(django_capture_on_commit_callbacks, keep_days=180)
    old, young = _call(100), _call(10)
    assert old.keep_until > timezone.now()

    # when: the DPO shortens the policy to 30 days, and the nightly sweep runs
    _policy_saved(policy, django_capture_on_commit_callbacks, keep_days=30)
    job = KeepUntilRecomputation.objects.filter(state="done").latest("pk")
    retention_sweep(now=timezone.now())

    # then: the old call is deleted under the policy, the young one kept until day 30
    assert (job.total, job.done, job.changed) == (2, 2, 2)
    tombstone = _tombstone(old)
    assert tombstone.reason == Reason.RETENTION_EXPIRED
    assert tombstone.rule.startswith("Policy quality_assurance: 30 days (changed ")
    young.refresh_from_db()
    assert young.status == Recording.Status.ACTIVE
    assert young.keep_until == young.started_at + 30 * DAY
    assert young.history.first().keep_until == young.keep_until


def test_a_disposition_review_policy_still_holds_the_calls_it_makes_due_for_review(
    jobs_eager, django_capture_on_commit_callbacks
):
    # given: a 180-day policy that asks for the DPO's review, and a call of 100 days ago
    policy = _policy(django_capture_on_commit_callbacks, keep_days=180, disposition_review=True)
    call = _call(100)

    # when: shortened to 30 days, and the sweep runs
    _policy_saved(policy, django_capture_on_commit_callbacks, keep_days=30)
    retention_sweep(now=timezone.now())

    # then: the call is past retention but waits for the review, not deleted
    call.refresh_from_db()
    assert call.status == Recording.Status.ACTIVE
    assert call.keep_until < timezone.now()
    assert list(recordings_awaiting_disposition(timezone.now())) == [call]


def test_the_policy_form_says_what_a_shortening_does_and_wants_a_confirmation(client, dpo):
    # given: a 180-day policy, a call of 100 days ago (due at 30 days) and one of 10 (later)
    policy = RetentionPolicyFactory(purpose=PurposeFactory(), keep_days=180, disposition_review=True)
    _call(100), _call(10)
    url = reverse("admin:retention_retentionpolicy_change", args=[policy.pk])
    data = {"purpose": policy.purpose_id, "keep_days": 30, "disposition_review": "on", "legal_reference": ""}
    client.force_login(dpo)

    # when: saved without the confirmation
    refused = client.post(url, data)

    # then: nothing saved; the page says how many become due now and later
    assert refused.status_code == 200
    text = refused.content.decode()
    assert "This change makes 1 recording(s) due now" in text and "1 later" in text
    assert "1 of them wait for the DPO&#x27;s disposition review first" in text
    policy.refresh_from_db()
    assert policy.keep_days == 180

    # when: saved with it
    saved = client.post(url, {**data, "confirm_due_now": "on"})

    # then: saved, and the recomputation queued in the DPO's name and shown on the policy's page
    assert saved.status_code == 302
    policy.refresh_from_db()
    assert policy.keep_days == 30
    job = KeepUntilRecomputation.objects.get(purpose=policy.purpose)
    assert (job.state, job.requested_by) == ("queued", dpo)
    assert "Policy quality_assurance changed: 30 days: Queued" in client.get(url).content.decode()


def test_a_withdrawn_assessment_makes_its_calls_due_now_and_the_tombstone_names_it(
    jobs_eager, django_capture_on_commit_callbacks, dpo
):
    # given: a call held on legitimate interests for quality assurance, its assessment approved
    purpose = PurposeFactory()
    assessment = LegitimateInterestAssessment.objects.create(
        title="QA", balancing_summary="Balanced.", approved_by=dpo, approved_at=timezone.now()
    )
    assessment.purposes.add(purpose)
    call = _call(
        5,
        lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS,
        legitimate_interest_assessment=assessment,
        purposes=[purpose],
    )
    assert call.keep_until > timezone.now()

    # when: the DPO withdraws the approval, and the sweep runs
    with django_capture_on_commit_callbacks(execute=True):
        assessment.approved_by = assessment.approved_at = None
        assessment.save()
    retention_sweep(now=timezone.now())

    # then: no ground is left: deleted as such (not as an expired retention), naming the assessment
    tombstone = _tombstone(call)
    assert tombstone.reason == Reason.GROUND_ENDED
    assert tombstone.rule.startswith(f"Assessment {assessment.pk} not approved for any stated purpose")


def test_a_consent_withdrawal_hides_the_call_at_once_and_deletes_it_as_consent_withdrawn(qa_lead_a, queue_a):
    # given: a consented call of the QA lead's queue
    call = _call(3, queue=queue_a)
    assert list(recordings_visible_to(qa_lead_a)) == [call]
    consent = Consent.objects.get(recording=call)

    # when: the caller withdraws, and the sweep runs
    consent_withdraw(consent=consent, via=Consent.Channel.PHONE)
    call.refresh_from_db()
    seen_by_qa = list(recordings_visible_to(qa_lead_a))
    retention_sweep(now=timezone.now() + datetime.timedelta(seconds=1))

    # then: due at once, gone from QA, deleted with the withdrawal as its cause and rule
    assert call.keep_until <= timezone.now() and seen_by_qa == []
    tombstone = _tombstone(call)
    assert tombstone.reason == Reason.CONSENT_WITHDRAWN
    assert tombstone.rule.startswith(f"Consent {consent.pk} withdrawn {timezone.localtime():%Y-%m-%d}")


def test_a_withdrawal_for_one_purpose_keeps_the_call_for_the_purposes_that_remain():
    # given: a call consented for quality assurance (30 days) and training (365 days)
    qa, training = PurposeFactory(), PurposeFactory(code="training")
    RetentionPolicyFactory(purpose=qa, keep_days=30)
    RetentionPolicyFactory(purpose=training, keep_days=365)
    call = _call(3, purposes=[qa, training])
    assert call.keep_until == call.started_at + 365 * DAY

    # when: the caller withdraws the training consent
    consent_withdraw(consent=Consent.objects.get(recording=call, purpose=training), via="phone")

    # then: kept for quality assurance only, 30 days
    call.refresh_from_db()
    assert call.keep_until == call.started_at + 30 * DAY
    assert call.keep_until_rule.startswith("Policy quality_assurance: 30 days")


def test_an_upheld_objection_deletes_as_objection_upheld(dpo):
    # given: a call held on legitimate interests, and the caller's objection to that purpose
    purpose = PurposeFactory()
    assessment = LegitimateInterestAssessment.objects.create(
        title="QA", balancing_summary="Balanced.", approved_by=dpo, approved_at=timezone.now()
    )
    assessment.purposes.add(purpose)
    call = _call(5, lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS, legitimate_interest_assessment=assessment)
    objection = Objection.objects.create(subject=call.subject, purpose=purpose, received_at=timezone.now())

    # when: the DPO upholds it, and the sweep runs
    objection_decide(objection=objection, decision=Objection.Decision.UPHELD, actor=dpo, reason="")
    retention_sweep(now=timezone.now() + datetime.timedelta(seconds=1))

    # then
    tombstone = _tombstone(call)
    assert tombstone.reason == Reason.OBJECTION_UPHELD
    assert tombstone.rule.startswith(f"Objection {objection.pk} upheld ")


def _recording_form(client, call: Recording) -> tuple[str, dict]:
    """The recording's change page as the DPO's browser would post it back unchanged."""
    url = reverse("admin:recordings_recording_change", args=[call.pk])
    page = client.get(url)
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name)
        widget = field.widget
        if hasattr(widget, "decompress"):
            for i, part in enumerate(widget.decompress(value)):
                data[f"{name}_{i}"] = part
        elif value is not None:
            data[name] = value
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management.initial.get(name, 0)
        for index, inline_form in enumerate(inline.formset.forms):
            data[inline_form.add_prefix("id")] = inline_form.instance.pk
            data[f"{inline.formset.prefix}-{index}-recording"] = call.pk
    return url, data


def test_a_purpose_removed_from_a_call_in_the_admin_recomputes_its_keep_until(client, dpo):
    # given: a call stated for quality assurance (30 days) and training (365 days)
    qa, training = PurposeFactory(), PurposeFactory(code="training")
    RetentionPolicyFactory(purpose=qa, keep_days=30)
    RetentionPolicyFactory(purpose=training, keep_days=365)
    call = _call(3, purposes=[qa, training], lawful_basis=LawfulBasis.CONTRACT)
    assert call.keep_until == call.started_at + 365 * DAY
    client.force_login(dpo)
    url, data = _recording_form(client, call)

    # when: the DPO takes training off the call
    response = client.post(url, {**data, "purposes": [qa.pk]})

    # then: kept 30 days, for quality assurance
    assert response.status_code == 302, response.content.decode()[:2000]
    call.refresh_from_db()
    assert call.keep_until == call.started_at + 30 * DAY


def test_a_call_left_without_any_purpose_is_deleted_as_its_ground_ended(client, dpo):
    # given: a call on a contract, stated for quality assurance only, kept 30 days
    qa = PurposeFactory()
    RetentionPolicyFactory(purpose=qa, keep_days=30)
    call = _call(3, purposes=[qa], lawful_basis=LawfulBasis.CONTRACT)
    client.force_login(dpo)
    url, data = _recording_form(client, call)

    # when: the DPO removes its purpose, and the sweep runs
    response = client.post(url, {**data, "purposes": []})
    retention_sweep(now=timezone.now() + datetime.timedelta(seconds=1))

    # then: nothing may keep it: deleted as "lawful ground ended", not as an expired retention
    assert response.status_code == 302, response.content.decode()[:2000]
    tombstone = _tombstone(call)
    assert tombstone.reason == Reason.GROUND_ENDED
    assert tombstone.get_reason_display().startswith("Lawful ground ended")
    assert tombstone.rule.startswith("No purpose stated for the call")


def test_a_consent_withdrawn_through_a_data_subject_request_names_the_request_in_the_tombstone(dpo):
    # given: a consented call, and the caller's consent-withdrawal request by letter, verified
    call = _call(3)
    consent = Consent.objects.get(recording=call)
    dsr = request_identity_verify(
        dsr=request_create(
            request_type="consent_withdrawal",
            channel="letter",
            received_at=timezone.now() - DAY,
            subject=call.subject,
        ),
        method="document",
        note="Signed letter.",
        actor=dpo,
    )

    # when: the DPO completes the request, and the sweep runs
    request_complete(dsr=dsr, actor=dpo)
    retention_sweep(now=timezone.now() + datetime.timedelta(seconds=1))

    # then: the consent keeps the request it was withdrawn under; the tombstone names it
    consent.refresh_from_db()
    assert (consent.withdrawn_via, consent.withdrawn_under) == ("letter", dsr.reference)
    tombstone = _tombstone(call)
    assert tombstone.reason == Reason.CONSENT_WITHDRAWN
    withdrawn = f"{timezone.localtime(consent.withdrawn_at):%Y-%m-%d}"
    assert tombstone.rule.startswith(f"Consent {consent.pk} withdrawn {withdrawn} ({dsr.reference})")


def test_beat_sends_again_a_recomputation_whose_message_was_lost():
    # given: a policy change whose recomputation message never reached a worker
    RetentionPolicyFactory(purpose=PurposeFactory(), keep_days=30)
    job = KeepUntilRecomputation.objects.get()

    # when / then: beat sends it again once it has sat queued ten minutes, not before
    assert recomputations_resume(now=timezone.now()) == []
    assert recomputations_resume(now=timezone.now() + datetime.timedelta(minutes=11)) == [job.pk]


@pytest.mark.parametrize(
    ("persona", "list_status", "change_status"),
    [
        ("anonymous", 302, 302),
        ("stranger", 403, 403),
        ("analyst", 403, 403),
        ("qa_lead_a", 403, 403),
        ("auditor", 200, 200),
        ("dpo", 200, 200),
    ],
)
def test_who_sees_the_recomputations_and_the_policy_page(
    client, request, persona, list_status, change_status
):
    # given: a policy whose change queued a recomputation
    policy = RetentionPolicyFactory(purpose=PurposeFactory(), keep_days=30)
    job = KeepUntilRecomputation.objects.get()
    if persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))

    # when
    listing = client.get(reverse("admin:retention_keepuntilrecomputation_changelist"))
    page = client.get(reverse("admin:retention_retentionpolicy_change", args=[policy.pk]))
    client.post(
        reverse("admin:retention_retentionpolicy_change", args=[policy.pk]),
        {"purpose": policy.purpose_id, "keep_days": 7, "confirm_due_now": "on"},
    )

    # then: the DPO and the auditor see the progress; only the DPO changes the policy
    assert (listing.status_code, page.status_code) == (list_status, change_status)
    if list_status == 200:
        assert "Policy quality_assurance set: 30 days" in listing.content.decode()
        assert "Queued" in page.content.decode()
    policy.refresh_from_db()
    assert policy.keep_days == (7 if persona == "dpo" else 30)
    # and: nobody deletes a recomputation, the DPO neither
    client.post(reverse("admin:retention_keepuntilrecomputation_delete", args=[job.pk]), {"post": "yes"})
    assert KeepUntilRecomputation.objects.filter(pk=job.pk).exists()


@pytest.mark.parametrize(
    "keep_days", ["0", "-30", "abc", "1e3", "99999999999999999999", "\x00", ""], ids=repr
)
def test_the_policy_form_refuses_hostile_periods_without_a_500_and_changes_nothing(client, dpo, keep_days):
    """Given a 180-day policy with a call under it, when the DPO posts a hostile period (with or
    without the confirmation), then the form answers with an error, the policy keeps 180 days and
    no recomputation is queued."""
    policy = RetentionPolicyFactory(purpose=PurposeFactory(), keep_days=180)
    _call(100)
    url = reverse("admin:retention_retentionpolicy_change", args=[policy.pk])
    client.force_login(dpo)
    queued = KeepUntilRecomputation.objects.count()

    for extra in ({}, {"confirm_due_now": "on"}):
        response = client.post(url, {"purpose": policy.purpose_id, "keep_days": keep_days, **extra})

        assert response.status_code in (200, 400)
        policy.refresh_from_db()
        assert policy.keep_days == 180
        assert KeepUntilRecomputation.objects.count() == queued
