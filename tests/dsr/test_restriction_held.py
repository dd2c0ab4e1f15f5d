"""Issue 16 gap 1: a restriction (Art. 18) is held until a DPO lifts it, and reaches later calls.

Written from the subject's and the DPO's side: a restricted call is stored only (never swept,
listed for the DPO with its reason), lifting is a DPO's step with a reason, a notice letter and
history, after which retention resumes; a call that arrives while the restriction is in force is
stored restricted.
"""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessEvent
from dsr.models import DataSubjectRequest, ResponseLetter
from dsr.restriction import request_restriction_lift
from dsr.rights import RightInput
from dsr.services import request_create
from dsr.workflow import request_assign, request_complete, request_identity_verify
from recordings.models import Recording, SubjectRestriction
from recordings.selectors import recordings_visible_to
from recordings.vault.keys import recording_key
from retention.explain import retention_verdict
from retention.models import DeletionRecord
from retention.services import retention_sweep
from tests.factories import DataSubjectFactory, RecordingFactory, RetentionPolicyFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()
GROUND = "legal_claims"


def restricted_by_request(subject, dpo, *, language: str = "en") -> DataSubjectRequest:
    """The subject's restriction request, received yesterday, verified and completed by the DPO."""
    request = request_create(
        request_type="restriction",
        channel="letter",
        received_at=NOW - datetime.timedelta(days=1),
        subject=subject,
    )
    request.language = language
    request.save(update_fields=["language"])
    request_identity_verify(dsr=request, method="document", note="ID card seen.", actor=dpo)
    return request_complete(dsr=request, actor=dpo, given=RightInput(restriction_ground=GROUND))


def past_retention(subject, queue) -> Recording:
    """A call of 200 days ago whose 90-day retention has ended."""
    started = NOW - datetime.timedelta(days=200)
    return RecordingFactory(
        subject=subject,
        queue=queue,
        started_at=started,
        keep_until=started + datetime.timedelta(days=90),
    )


def test_the_sweep_keeps_a_restricted_call_past_retention_and_the_dpo_sees_why(client, dpo, queue_a):
    """Given a caller who asked for restriction to keep their call for a legal claim, and the
    call's retention has ended; when the nightly sweep runs; then the call is still there,
    readable, counted as held back, and the DPO's list of restricted recordings past retention
    names the request and the ground; the recording's retention explanation says the same."""
    # given
    subject = DataSubjectFactory()
    call = past_retention(subject, queue_a)
    request = restricted_by_request(subject, dpo)

    # when
    run = retention_sweep(now=NOW)

    # then: kept whole
    call.refresh_from_db()
    assert call.status == Recording.Status.RESTRICTED
    assert recording_key(call)
    assert not DeletionRecord.objects.exists()
    assert (run.deleted, run.held_back) == (0, 1)
    # and listed for the DPO with the reason
    client.force_login(dpo)
    page = client.get(reverse("admin:retention_restrictedpastretention_changelist"))
    assert [r.pk for r in page.context["cl"].result_list] == [call.pk]
    assert f"restricted under {request.reference} (Needed by the subject for legal claims" in (
        page.content.decode()
    )
    verdict = retention_verdict(call, NOW)
    assert not verdict.deleted_by_sweep
    assert verdict.reason.startswith(f"Restricted: restricted under {request.reference}")


def test_a_call_restricted_by_an_erasure_a_hold_deferred_is_listed_with_that_reason(client, dpo, queue_a):
    """Given a call restricted without a restriction request (an erasure met a legal hold, since
    released); when the DPO opens the list; then it is there, "erasure deferred by a legal hold",
    and the sweep still does not delete it."""
    call = past_retention(DataSubjectFactory(), queue_a)
    Recording.objects.filter(pk=call.pk).update(status=Recording.Status.RESTRICTED)

    retention_sweep(now=NOW)
    client.force_login(dpo)
    page = client.get(reverse("admin:retention_restrictedpastretention_changelist")).content.decode()

    call.refresh_from_db()
    assert call.status == Recording.Status.RESTRICTED
    assert call.reference in page and "erasure deferred by a legal hold" in page


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ("Art. 18(3) GDPR", "the claim was settled")),
        ("de", ("Art. 18 Abs. 3", "the claim was settled")),
    ],
)
def test_lifting_informs_the_subject_records_it_and_retention_resumes(dpo, queue_a, language, words):
    """Given a restricted call past retention whose keep-until is stale (computed under a longer
    policy); when the DPO lifts the restriction with a reason; then the subject's notice letter
    (Art. 18(3), the request's language) is written, the restriction record is dated, signed and
    reasoned in its history, the access log has the lift, the call is active with its keep-until
    recomputed from today's policy, and the next sweep deletes it."""
    # given
    subject = DataSubjectFactory()
    RetentionPolicyFactory(keep_days=90)  # quality assurance
    call = past_retention(subject, queue_a)
    request = restricted_by_request(subject, dpo, language=language)
    Recording.objects.filter(pk=call.pk).update(keep_until=NOW + datetime.timedelta(days=900))

    # when: no reason is refused, then the DPO gives one
    with pytest.raises(ValidationError):
        request_restriction_lift(dsr=request, actor=dpo, reason="  ")
    restriction = request_restriction_lift(dsr=request, actor=dpo, reason="the claim was settled")

    # then: the letter, in the request's language
    letter = request.letters.get(kind=ResponseLetter.Kind.RESTRICTION_LIFTED)
    assert letter.language == language
    assert all(word in letter.body for word in words)
    # and the record, with history
    assert (restriction.lifted_by, restriction.lift_reason) == (dpo, "the claim was settled")
    assert restriction.lifted_at is not None
    lifted = restriction.history.filter(lifted_at__isnull=False).get()
    assert lifted.history_user == dpo
    event = AccessEvent.objects.get(action="restriction_lifted")
    assert (event.actor, event.object_id, event.detail["request"]) == (dpo, subject.pk, request.reference)
    # and the call back under retention, computed again
    call.refresh_from_db()
    assert call.status == Recording.Status.ACTIVE
    assert call.keep_until == call.started_at + datetime.timedelta(days=90)
    assert retention_verdict(call, NOW).deleted_by_sweep
    retention_sweep(now=NOW)
    call.refresh_from_db()
    assert call.status == Recording.Status.ERASED
    assert DeletionRecord.objects.get(recording_id=call.pk).reason == "retention_expired"


def test_only_a_dpo_lifts_and_only_a_completed_restriction(
    dpo, analyst, auditor, qa_lead_a, stranger, queue_a
):
    """Given a restriction request not yet completed, then completed; when anyone but a DPO tries
    to lift it, or a DPO tries before completion; then it is refused and stays in force."""
    subject = DataSubjectFactory()
    RecordingFactory(subject=subject, queue=queue_a)
    open_request = request_create(
        request_type="restriction",
        channel="letter",
        received_at=NOW - datetime.timedelta(days=1),
        subject=subject,
    )
    with pytest.raises(ValidationError, match="completed"):
        request_restriction_lift(dsr=open_request, actor=dpo, reason="too early")

    request = restricted_by_request(subject, dpo)
    for someone in (analyst, auditor, qa_lead_a, stranger):
        with pytest.raises(ValidationError, match="Only a DPO"):
            request_restriction_lift(dsr=request, actor=someone, reason="I say so")

    assert SubjectRestriction.objects.get(subject=subject).in_force
    assert not request.letters.filter(kind=ResponseLetter.Kind.RESTRICTION_LIFTED).exists()


def test_lifting_leaves_restricted_what_an_erasure_under_hold_restricted(dpo, queue_a):
    """Given a call restricted by an erasure a legal hold deferred, and another call restricted by
    a restriction request; when the DPO lifts the restriction; then only the latter is active
    again: the deferred erasure still waits for the hold."""
    subject = DataSubjectFactory()
    deferred = RecordingFactory(subject=subject, queue=queue_a, status=Recording.Status.RESTRICTED)
    restricted = RecordingFactory(subject=subject, queue=queue_a)
    request = restricted_by_request(subject, dpo)

    request_restriction_lift(dsr=request, actor=dpo, reason="accuracy verified")

    deferred.refresh_from_db()
    restricted.refresh_from_db()
    assert (deferred.status, restricted.status) == (Recording.Status.RESTRICTED, Recording.Status.ACTIVE)


def test_a_new_call_of_a_restricted_caller_arrives_restricted_and_qa_never_sees_it(dpo, queue_a, qa_lead_a):
    """Given a caller whose processing is restricted; when they call again and the call is
    ingested; then it is stored restricted, under the restriction (so lifting gives it back), and
    the QA lead of its queue does not see it; after the lift, they do."""
    from recordings.intake.services import recording_ingest
    from tests.factories import AUDIO
    from tests.recordings.ingest_factories import call_metadata, reference_rows

    reference_rows()
    subject = DataSubjectFactory(phone="+49 30 1234567")
    request = restricted_by_request(subject, dpo)
    metadata = _validated(call_metadata(subject={"phone": "+49 30 1234567"}, queue=queue_a.code))

    call = recording_ingest(audio=io.BytesIO(AUDIO), metadata=metadata)

    assert call.subject_id == subject.pk
    assert call.status == Recording.Status.RESTRICTED
    assert call in SubjectRestriction.objects.get(subject=subject).recordings.all()
    assert call not in recordings_visible_to(qa_lead_a)
    ingest = AccessEvent.objects.get(action="ingest", object_id=call.pk)
    assert ingest.detail["restricted_under"] == request.reference

    request_restriction_lift(dsr=request, actor=dpo, reason="accuracy verified")
    assert call in recordings_visible_to(qa_lead_a)


def _validated(metadata: dict) -> dict:
    from recordings.intake.serializers import RecordingMetadataSerializer

    serializer = RecordingMetadataSerializer(data=metadata)
    assert serializer.is_valid(), serializer.errors
    return serializer.validated_data


# --- the lift step in the admin, tried by every persona ------------------------------------------


@pytest.fixture
def restricted_request(dpo, queue_a):
    subject = DataSubjectFactory()
    RecordingFactory(subject=subject, queue=queue_a)
    return restricted_by_request(subject, dpo)


@pytest.mark.parametrize(
    ("persona", "get_status", "post_status"),
    [
        ("anonymous", 302, 302),  # to the login page
        ("stranger", 404, 404),  # staff without a group sees no request
        ("analyst", 404, 404),  # not assigned to this request
        ("qa_lead_a", 404, 404),
        ("auditor", 403, 403),  # sees the request, changes nothing
        ("dpo", 200, 302),
    ],
)
def test_the_lift_step_by_persona(request, client, restricted_request, persona, get_status, post_status):
    """Given a completed restriction request; when each persona opens and posts the lift step;
    then only the DPO lifts it, nobody gets a 500, and nobody else learns of the request."""
    url = reverse("admin:dsr_datasubjectrequest_step", args=[restricted_request.pk, "lift"])
    if persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))

    got = client.get(url)
    posted = client.post(url, {"reason": "accuracy verified"})

    assert (got.status_code, posted.status_code) == (get_status, post_status)
    restriction = SubjectRestriction.objects.get(subject=restricted_request.subject)
    assert restriction.in_force is (persona != "dpo")
    if persona == "dpo":
        assert "Art. 18(3)" in got.content.decode()


def test_an_assigned_analyst_sees_the_request_but_cannot_lift(client, dpo, analyst, queue_a):
    """Given a restriction request worked by an analyst, completed by the DPO; when the analyst
    opens the request and posts the lift step; then no lift button, a 403, and it stays in force."""
    subject = DataSubjectFactory()
    RecordingFactory(subject=subject, queue=queue_a)
    request = request_create(
        request_type="restriction",
        channel="letter",
        received_at=NOW - datetime.timedelta(days=1),
        subject=subject,
    )
    request_assign(dsr=request, assignee=analyst, actor=dpo)
    request_identity_verify(dsr=request, method="document", note="ID card seen.", actor=dpo)
    request_complete(dsr=request, actor=dpo, given=RightInput(restriction_ground=GROUND))
    client.force_login(analyst)

    page = client.get(reverse("admin:dsr_datasubjectrequest_change", args=[request.pk])).content.decode()
    posted = client.post(
        reverse("admin:dsr_datasubjectrequest_step", args=[request.pk, "lift"]), {"reason": "x"}
    )

    assert "Lift the restriction" not in page
    assert posted.status_code == 403
    assert SubjectRestriction.objects.get(subject=subject).in_force


def test_the_dpo_finds_the_lift_on_the_completed_request_and_lifts_it(client, dpo, restricted_request):
    """Given a completed restriction request; when the DPO opens it; then the lift is offered,
    an empty reason is refused on the form, and a reason lifts it."""
    client.force_login(dpo)
    page = client.get(
        reverse("admin:dsr_datasubjectrequest_change", args=[restricted_request.pk])
    ).content.decode()
    url = reverse("admin:dsr_datasubjectrequest_step", args=[restricted_request.pk, "lift"])

    refused = client.post(url, {"reason": ""})
    still_in_force = SubjectRestriction.objects.get().in_force
    lifted = client.post(url, {"reason": "accuracy verified"})

    assert "Lift the restriction (Art. 18(3))" in page
    assert refused.status_code == 200 and still_in_force
    assert lifted.status_code == 302 and not SubjectRestriction.objects.get().in_force


@pytest.mark.parametrize(
    ("persona", "status", "sees"),
    [
        ("anonymous", 302, False),
        ("stranger", 403, False),
        ("analyst", 403, False),
        ("qa_lead_a", 403, False),
        ("auditor", 200, True),
        ("dpo", 200, True),
    ],
)
def test_the_restricted_list_by_persona(request, client, dpo, queue_a, persona, status, sees):
    """The list of restricted recordings past retention: the DPO and the auditor read it (the
    auditor without any action), nobody else opens it."""
    subject = DataSubjectFactory()
    call = past_retention(subject, queue_a)
    restricted_by_request(subject, dpo)
    if persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))

    response = client.get(reverse("admin:retention_restrictedpastretention_changelist"))

    assert response.status_code == status
    assert (call.reference in response.content.decode()) is sees
    if persona == "auditor":
        assert not response.context["cl"].model_admin.get_actions(response.wsgi_request)


def test_a_rule_of_a_higher_app_keeps_its_recordings_restricted_through_a_lift(dpo, queue_a):
    """Given a higher app that answers ``restriction_lifting`` for a call it still needs
    restricted (as an erasure waiting for a hold's release will); when the DPO lifts the
    restriction; then that call stays restricted, the others are active, and the event says so."""
    from recordings.restrictions import restriction_lifting

    subject = DataSubjectFactory()
    waiting, free = (
        RecordingFactory(subject=subject, queue=queue_a),
        RecordingFactory(subject=subject, queue=queue_a),
    )
    request = restricted_by_request(subject, dpo)

    def still_needed(sender, *, restriction, **kwargs):
        return [waiting.pk]

    restriction_lifting.connect(still_needed, dispatch_uid="test-still-needed")
    try:
        request_restriction_lift(dsr=request, actor=dpo, reason="accuracy verified")
    finally:
        restriction_lifting.disconnect(dispatch_uid="test-still-needed")

    waiting.refresh_from_db()
    free.refresh_from_db()
    assert (waiting.status, free.status) == (Recording.Status.RESTRICTED, Recording.Status.ACTIVE)
    assert AccessEvent.objects.get(action="restriction_lifted").detail["kept_restricted"] == [waiting.pk]


@pytest.mark.parametrize(
    "reason",
    ["\x00", "a\x00b", "x" * 100_000, "<script>alert(1)</script>", "  \n\t "],
    ids=["nul", "nul-inside", "huge", "markup", "blank"],
)
def test_the_lift_step_answers_hostile_reasons_without_a_500(client, dpo, restricted_request, reason):
    """Given a DPO on a completed restriction, when the lift is posted with a hostile reason,
    then the answer is a form error or a redirect (never a 500) and markup is never shown raw."""
    client.force_login(dpo)
    url = reverse("admin:dsr_datasubjectrequest_step", args=[restricted_request.pk, "lift"])

    response = client.post(url, {"reason": reason})

    assert response.status_code in (200, 302, 400)
    assert b"<script>alert(1)</script>" not in response.content
