"""The auditor reads history and the access log, and can change nothing.

Every model registered in the admin is tried with an object of its own: add, change and delete
(GET and POST), every admin action, every custom admin page (each workflow step, guardian's
permission pages, the password form, the recording's pages) and each history version (POST), and
every API endpoint. Each is refused (403, or 404 where the object is out of reach, or guardian's
redirect to the index), no action is offered at all, and afterwards not one row of any table has
changed. The same auditor reads each object's history, each version and the access log.

A new model registered without an object in ``world`` fails the test, so none goes untried.
"""

from __future__ import annotations

import datetime
import itertools

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from compliance_site.audit.models import AccessEvent, AuditChainHead
from compliance_site.audit.services import access_event_record
from compliance_site.model_update import history_save
from compliance_site.roles import DPO
from compliance_site.services import integration_token_issue
from dsr.admin_actions import STEPS
from dsr.models import DeadlineReminder, RecipientNotification, RequestNote, ResponseLetter
from dsr.services import request_create
from dsr.workflow import request_assign
from recordings.models import (
    LegitimateInterestAssessment,
    Objection,
    Recipient,
    Recording,
    RecordingUserObjectPermission,
)
from recordings.restrictions import restriction_place
from recordings.sharing.services import share_create
from retention.models import DeletionRecord, HeldErasure, RetentionPolicy, SubjectDeletionRecord, SweepRun
from reviews.models import CalibrationSession, TimelineComment
from reviews.scorecards import scorecard_create
from tests.factories import LegalHoldFactory, PurposeFactory, RecordingFactory
from tests.reviews.factories import agent_with_team_lead, evaluation_make, scorecard_published

pytestmark = pytest.mark.django_db

STANDARD_VIEWS = ("changelist", "add", "change", "delete", "history", "simple_history")
# Reading writes these (the access log and its head), and a login writes its record.
WRITTEN_BY_READING = {AccessEvent, AuditChainHead}
READ_ONLY_SKIPPED_APPS = {"sessions", "axes"}


@pytest.fixture
def world(dpo, analyst, qa_lead_a, queue_a, roles):
    """One object of every model the admin shows."""
    from django_celery_beat.models import ClockedSchedule, IntervalSchedule, SolarSchedule

    now = timezone.now()
    review = PurposeFactory(code="training", name="Training")
    RetentionPolicy.objects.create(purpose=review, keep_days=30, disposition_review=True)
    recording = RecordingFactory(queue=queue_a)
    awaiting = RecordingFactory(queue=queue_a, purposes=[review])
    # past its retention, waiting for the DPO's disposition review
    Recording.objects.filter(pk=awaiting.pk).update(keep_until=now - datetime.timedelta(days=1))
    recipient = Recipient.objects.create(name="QA vendor", role="third_party", country="DE")
    recipient.purposes.add(recording.purposes.first())
    share_create(
        recording=recording,
        recipient=recipient,
        ground="legal_claim",
        ground_note="Claim 2026-17.",
        expires_at=now + datetime.timedelta(days=3),
        actor=dpo,
    )
    RecordingUserObjectPermission.objects.create(
        user=qa_lead_a,
        permission=Permission.objects.get(codename="review_recording"),
        content_object=recording,
        reason="Escalation 77.",
        expires_at=now + datetime.timedelta(days=3),
    )
    LegitimateInterestAssessment.objects.create(title="QA on complaints", balancing_summary="Balanced.")
    Objection.objects.create(subject=recording.subject, purpose=recording.purposes.first(), received_at=now)
    LegalHoldFactory(recording=recording, placed_by=dpo)
    # a restriction in force (Art. 18) over a call past its retention
    restricted = RecordingFactory(queue=queue_a)
    Recording.objects.filter(pk=restricted.pk).update(keep_until=now - datetime.timedelta(days=1))
    restriction_place(
        subject=restricted.subject, request_reference="DSR-2026-000999", ground="legal_claims", actor=dpo
    )
    sweep = SweepRun.objects.create(started_at=now, finished_at=now, status="finished")
    DeletionRecord.objects.create(
        recording_id=10**9,
        recording_reference="REC-GONE",
        subject_reference="DS-GONE",
        queue_code="queue-a",
        reason="retention_expired",
        rule="Policy quality_assurance",
        sweep_run=sweep,
        deleted_at=now,
    )
    SubjectDeletionRecord.objects.create(
        subject_id=10**9,
        subject_reference="DS-GONE",
        reason="subject_storage_limit",
        rule="Art. 5(1)(e)",
        sweep_run=sweep,
        deleted_at=now,
    )
    HeldErasure.objects.create(
        recording=awaiting,
        subject=awaiting.subject,
        request_reference="DSR-2026-000009",
        state="due",
        deferred_at=now,
        due_since=now,
    )
    request = request_create(
        request_type="access", channel="email", received_at=now, subject=recording.subject
    )
    request_assign(dsr=request, assignee=analyst, actor=dpo)
    RequestNote.objects.create(request=request, body="Called back.", author=dpo)
    DeadlineReminder.objects.create(request=request, kind="7-days-before", due_date=now.date())
    RecipientNotification.objects.create(request=request, recipient=recipient)
    IntervalSchedule.objects.create(every=1, period="days")
    ClockedSchedule.objects.create(clocked_time=now)
    SolarSchedule.objects.create(event="sunrise", latitude="52.52", longitude="13.40")
    access_event_record(action="view", object_type="recording", object_id=recording.pk, actor=dpo)
    # a scorecard and its first draft version; another's published version, evaluated
    scorecard_create(name="Support calls", queues=[queue_a], actor=dpo)
    version = scorecard_published(queue_a)
    evaluation = evaluation_make(recording=recording, evaluator=qa_lead_a, version=version)
    calibration = history_save(
        CalibrationSession(recording=recording, scorecard_version=version, created_by=dpo), actor=dpo
    )
    calibration.participants.set([qa_lead_a, dpo])
    TimelineComment.objects.create(evaluation=evaluation, author=qa_lead_a, position_ms=0, body="Opening.")
    agent_with_team_lead()
    if apps.is_installed("axes"):
        # a wrong password: django-axes' attempt and failure records
        Client().post(reverse("admin:login"), {"username": analyst.username, "password": "wrong"})
    return {"recording": recording, "request": request}


def _snapshot() -> dict[str, list]:
    """Every row of every table but those reading itself writes."""
    rows = {}
    for model in apps.get_models(include_auto_created=True):
        if model in WRITTEN_BY_READING or model._meta.app_label in READ_ONLY_SKIPPED_APPS:
            continue
        values = model._base_manager.order_by("pk").values_list()
        rows[model._meta.label] = [
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in values
        ]
    return rows


def _an_object(model, model_admin, request):
    """An object the auditor can reach (its admin's queryset), else any."""
    return model_admin.get_queryset(request).order_by("pk").first() or model._default_manager.first()


def _custom_urls(model_admin) -> list[URLPattern]:
    info = model_admin.opts.app_label, model_admin.opts.model_name
    standard = {"{}_{}_{}".format(*info, view) for view in STANDARD_VIEWS}
    return [p for p in model_admin.get_urls() if p.name and p.name not in standard]


def _kwarg_values(name: str, obj, auditor) -> list:
    if name in ("object_id", "object_pk", "id"):
        return [obj.pk]
    if name == "user_id":
        return [auditor.pk]
    if name == "group_id":
        return [Group.objects.get(name=DPO).pk]
    if name == "step_name":
        return list(STEPS)
    if name == "letter_id":
        return [letter.pk for letter in getattr(obj, "letters", ResponseLetter.objects.none()).all()] or [0]
    if name == "fmt":
        return ["html", "pdf"]
    if name == "recording_id":
        return [obj.recording_id]
    if name == "comment_id":
        return list(obj.comments.values_list("pk", flat=True))
    if name == "segment_id":
        return list(obj.sensitive_segments.values_list("pk", flat=True)) or [0]
    raise AssertionError(f"A custom admin URL takes {name!r}: teach this test which value to give it.")


def _refused(response) -> bool:
    return response.status_code in (403, 404, 405) or (
        response.status_code == 302 and response["Location"] == reverse("admin:index")
    )


def test_the_auditor_changes_nothing_through_the_admin(client, auditor, world):
    # given: the auditor signed in, and a snapshot of every table
    client.force_login(auditor)
    request = RequestFactory().get("/admin/")
    request.user = auditor
    before = _snapshot()
    holes, untried = [], []

    # when: every model's add, change, delete, actions, history versions and custom pages
    for model, model_admin in admin.site._registry.items():
        info = model._meta.app_label, model._meta.model_name
        obj = _an_object(model, model_admin, request)
        if obj is None:
            untried.append(model._meta.label)
            continue
        offered = list(model_admin.get_actions(request))
        if offered:
            holes.append(f"{model._meta.label}: actions offered {offered}")
        attempts = [("POST", reverse("admin:{}_{}_add".format(*info)), {})]
        attempts += [
            (method, reverse(f"admin:{info[0]}_{info[1]}_{view}", args=[obj.pk]), {"post": "yes"})
            for method, view in (("POST", "change"), ("GET", "delete"), ("POST", "delete"))
        ]
        for action in ("delete_selected", *(model_admin.actions or ())):
            name = action if isinstance(action, str) else action.__name__
            attempts.append(
                (
                    "ACTION",
                    reverse("admin:{}_{}_changelist".format(*info)),
                    {"action": name, "_selected_action": [obj.pk], "index": 0, "post": "yes"},
                )
            )
        if hasattr(model, "history") and hasattr(model_admin, "history_form_view"):
            version = model.history.filter(id=obj.pk).order_by("-history_id").first()
            if version is not None:
                url = reverse("admin:{}_{}_simple_history".format(*info), args=[obj.pk, version.history_id])
                attempts.append(("POST", url, {}))
        for pattern in _custom_urls(model_admin):
            names = list(pattern.pattern.regex.groupindex)
            for values in itertools.product(*(_kwarg_values(n, obj, auditor) for n in names)):
                url = reverse(f"admin:{pattern.name}", kwargs=dict(zip(names, values, strict=True)))
                attempts.append(("POST", url, {}))
        for method, url, data in attempts:
            response = client.get(url) if method == "GET" else client.post(url, data)
            if method == "ACTION":
                continue  # refused or not, the snapshot below says whether it ran
            if not _refused(response):
                holes.append(f"{method} {url}: {response.status_code}")

    # then
    assert untried == [], "give these models an object in the world fixture"
    assert holes == []
    assert _snapshot() == before


def _non_admin_urls(resolver=None, prefix: str = "") -> list[tuple[str, URLPattern]]:
    resolver = resolver or get_resolver()
    found = []
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith("admin/"):
                continue
            found += _non_admin_urls(entry, route)
        elif entry.name:
            found.append((route, entry))
    return found


def _fill(route: str, world) -> str:
    recording = world["recording"]
    return "/" + route.replace("<int:pk>", str(recording.pk)).replace("<str:token>", "not-a-token")


def test_the_auditor_changes_nothing_through_any_other_endpoint(client, auditor, world):
    token = integration_token_issue(user=auditor)
    client.force_login(auditor)
    routes = [_fill(route, world) for route, _ in _non_admin_urls() if route]
    assert "/api/v1/recordings/" in routes and "/api/v1/requests/" in routes
    before = _snapshot()
    answers = {}

    for url in routes:
        by_session = client.post(url, {}).status_code
        by_token = client.post(url, {}, HTTP_AUTHORIZATION=f"Token {token}").status_code
        answers[url] = (by_session, by_token)

    # 401/403: not allowed; 404: out of reach; 405: the endpoint only reads; 400: a share
    # link's page posted without a link (it opens nothing for anyone)
    refused = {401, 403, 404, 405}
    allowed = {url: refused | {400} if url == "/shares/open" else refused for url in answers}
    assert {url: a for url, a in answers.items() if not set(a) <= allowed[url]} == {}
    assert _snapshot() == before


def test_the_auditor_reads_every_history_and_the_access_log(client, auditor, world):
    client.force_login(auditor)
    request = RequestFactory().get("/admin/")
    request.user = auditor
    read = []

    for model, model_admin in admin.site._registry.items():
        if not (hasattr(model, "history") and hasattr(model_admin, "history_form_view")):
            continue
        if not model_admin.has_view_permission(request):
            continue
        obj = _an_object(model, model_admin, request)
        info = model._meta.app_label, model._meta.model_name
        version = model.history.filter(id=obj.pk).order_by("-history_id").first()
        history = client.get(reverse("admin:{}_{}_history".format(*info), args=[obj.pk]))
        page = client.get(
            reverse("admin:{}_{}_simple_history".format(*info), args=[obj.pk, version.history_id])
        )
        assert (history.status_code, page.status_code) == (200, 200), model._meta.label
        read.append(model._meta.label)

    assert {"recordings.DataSubject", "recordings.Recording", "dsr.DataSubjectRequest"} <= set(read)
    assert {"recordings.Consent", "retention.LegalHold", "recordings.RecordingUserObjectPermission"} <= set(
        read
    )
    event = AccessEvent.objects.order_by("sequence").first()
    log = client.get(reverse("admin:audit_accessevent_changelist"))
    one = client.get(reverse("admin:audit_accessevent_change", args=[event.pk]))
    assert (log.status_code, one.status_code) == (200, 200)
    assert event.hash in one.content.decode()
    assert 'name="_save"' not in one.content.decode()  # read-only


def test_nobody_writes_the_access_log_in_the_admin(client, admin_user, world):
    # given: even a superuser
    client.force_login(admin_user)
    event = AccessEvent.objects.order_by("sequence").first()
    before = list(AccessEvent.objects.order_by("sequence").values_list("sequence", "hash"))

    answers = [
        client.post(reverse("admin:audit_accessevent_add"), {}).status_code,
        client.post(reverse("admin:audit_accessevent_change", args=[event.pk]), {"detail": "{}"}).status_code,
        client.post(reverse("admin:audit_accessevent_delete", args=[event.pk]), {"post": "yes"}).status_code,
        client.post(
            reverse("admin:audit_accessevent_changelist"),
            {"action": "delete_selected", "_selected_action": [event.pk], "index": 0, "post": "yes"},
        ).status_code,
    ]

    assert answers[:3] == [403, 403, 403]
    assert (
        list(
            AccessEvent.objects.filter(sequence__lte=len(before))
            .order_by("sequence")
            .values_list("sequence", "hash")
        )
        == before
    )
