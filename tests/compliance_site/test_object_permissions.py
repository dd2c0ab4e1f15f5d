"""Object permissions die with their object: a new object that reuses a deleted one's id starts
with no grants (django-guardian's known pitfall, compliance_site.object_permissions)."""

from __future__ import annotations

import datetime

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.utils import timezone
from guardian.admin import GuardedModelAdmin
from guardian.core import ObjectPermissionChecker
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import assign_perm
from guardian.utils import get_user_obj_perms_model

from compliance_site.object_permissions import models_with_direct_grants
from compliance_site.tasks import clean_orphan_object_permissions
from dsr.models import DataSubjectRequest, DataSubjectRequestUserObjectPermission
from dsr.selectors import requests_visible_to
from dsr.services import request_create
from dsr.workflow import request_assign
from recordings.models import DataSubject, Purpose, Queue, Recording
from recordings.selectors import queues_visible_to
from tests.factories import PurposeFactory, QueueFactory

pytestmark = pytest.mark.django_db


def _fresh(user):
    """The user again, without guardian's and Django's permission caches."""
    return get_user_model().objects.get(pk=user.pk)


def _reinsert(obj) -> None:
    """Insert ``obj`` again under its old id, as a restore or a reset sequence would."""
    obj._state.adding = True
    obj.save(force_insert=True)


def test_a_new_request_reusing_a_deleted_ones_id_has_none_of_its_grants(dpo, analyst):
    # given: a request assigned to the analyst, who may then see and work it
    request = request_create(request_type="access", channel="email", received_at=timezone.now())
    request_assign(dsr=request, assignee=analyst, actor=dpo)
    assert _fresh(analyst).has_perm("dsr.change_datasubjectrequest", request)
    assert DataSubjectRequestUserObjectPermission.objects.filter(content_object=request).count() == 2
    old_pk = request.pk

    # when: the request is deleted and another one takes its id
    DataSubjectRequest.objects.filter(pk=old_pk).delete()
    request.pk, request.assignee = old_pk, None
    _reinsert(request)

    # then
    reborn = DataSubjectRequest.objects.get(pk=old_pk)
    analyst = _fresh(analyst)
    assert not analyst.has_perm("dsr.view_datasubjectrequest", reborn)
    assert not analyst.has_perm("dsr.change_datasubjectrequest", reborn)
    assert ObjectPermissionChecker(analyst).get_perms(reborn) == []
    assert not requests_visible_to(analyst).filter(pk=old_pk).exists()


def test_a_new_queue_reusing_a_deleted_ones_id_has_none_of_its_grants(roles):
    from tests.factories import UserFactory

    queue = QueueFactory(code="old-queue")
    qa_lead = UserFactory(username="qa.old", groups=[roles["QA lead"]])
    assign_perm("recordings.review_queue", qa_lead, queue)
    assert queues_visible_to(qa_lead).filter(pk=queue.pk).exists()

    Queue.objects.filter(pk=queue.pk).delete()
    _reinsert(queue)

    assert not _fresh(qa_lead).has_perm("recordings.review_queue", queue)
    assert not queues_visible_to(_fresh(qa_lead)).filter(pk=queue.pk).exists()


def test_every_model_granted_on_has_direct_tables_and_the_generic_ones_stay_empty(dpo, analyst, qa_lead_a):
    # the grants the product makes: queue reviews, request assignment (request and subject)
    from tests.factories import DataSubjectFactory

    request = request_create(
        request_type="access", channel="email", received_at=timezone.now(), subject=DataSubjectFactory()
    )
    request_assign(dsr=request, assignee=analyst, actor=dpo)

    assert {DataSubject, Queue, Recording, DataSubjectRequest} <= models_with_direct_grants()
    for model in (DataSubject, Queue, Recording, DataSubjectRequest):
        assert get_user_obj_perms_model(model) is not UserObjectPermission
    assert UserObjectPermission.objects.count() == 0
    assert GroupObjectPermission.objects.count() == 0


def test_the_nightly_sweep_removes_generic_grants_of_deleted_objects(dpo):
    # given: a grant in guardian's generic table (a model without direct tables), then its
    # object deleted: the grant stays behind, pointing at a free id
    purpose = PurposeFactory(code="training", name="Training")
    kept = PurposeFactory(code="sharing", name="Sharing")
    assign_perm("recordings.change_purpose", dpo, purpose)
    assign_perm("recordings.change_purpose", dpo, kept)
    Purpose.objects.filter(pk=purpose.pk).delete()
    assert UserObjectPermission.objects.filter(object_pk=str(purpose.pk)).exists()

    # when: beat's task runs
    removed = clean_orphan_object_permissions.apply().get()

    # then: the orphan is gone, the live grant stays, and a purpose reusing the id has no grant
    assert removed == 1
    _reinsert(purpose)
    assert not ObjectPermissionChecker(_fresh(dpo)).has_perm("change_purpose", purpose)
    assert ObjectPermissionChecker(_fresh(dpo)).has_perm("change_purpose", kept)


def test_the_system_check_refuses_guardians_admin_on_a_model_without_direct_tables(monkeypatch):
    assert [e for e in run_checks() if e.id == "custos.E010"] == []

    monkeypatch.setitem(admin.site._registry, Purpose, GuardedModelAdmin(Purpose, admin.site))

    errors = [e for e in run_checks() if e.id == "custos.E010"]
    assert len(errors) == 1 and "recordings.Purpose" in errors[0].msg


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_live_request_grants_and_drops_orphans(roles):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from tests.factories import UserFactory

    before, after = [("dsr", "0005_recipient_notifications")], [("dsr", "0006_request_grant_tables")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    try:
        # given: on the old schema, a generic grant on a live request and one on a deleted request
        # (the request as the old schema had it; the other tables did not change)
        Request = old_apps.get_model("dsr", "DataSubjectRequest")
        from django.contrib.auth.models import Permission
        from django.contrib.contenttypes.models import ContentType

        now = timezone.now()
        live = Request.objects.create(
            reference="DSR-2026-900001",
            request_type="access",
            channel="email",
            received_at=now,
            due_at=now + datetime.timedelta(days=30),
        )
        content_type = ContentType.objects.get(app_label="dsr", model="datasubjectrequest")
        view = Permission.objects.get(content_type=content_type, codename="view_datasubjectrequest")
        user = UserFactory(username="ana.old")
        # bulk_create: guardian's save() would look the (missing) object up
        UserObjectPermission.objects.bulk_create(
            UserObjectPermission(user_id=user.pk, permission=view, content_type=content_type, object_pk=pk)
            for pk in (str(live.pk), "999999")
        )
    finally:
        # when
        MigrationExecutor(connection).migrate(after)

    try:
        # then (later migrations leave these tables alone)
        assert list(
            DataSubjectRequestUserObjectPermission.objects.values_list("user_id", "content_object_id")
        ) == [(user.pk, live.pk)]
        assert not UserObjectPermission.objects.exists()
    finally:
        # Back to the latest schema, so the tests after this one see every migration applied.
        latest = MigrationExecutor(connection)
        latest.migrate(latest.loader.graph.leaf_nodes())
    assert _fresh(user).has_perm("dsr.view_datasubjectrequest", DataSubjectRequest.objects.get(pk=live.pk))
