"""The migration that makes the database refuse an approval without a preparer brings old rows in
line instead of failing: open ones go back a step (their approval voided, a queued erasure
failed), closed ones keep their approver, marked as approved by one DPO alone."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from dsr.models import DataSubjectRequest, RequestJob
from tests.factories import UserFactory

BEFORE = [("dsr", "0012_dated_deadlines_reminder_outbox")]
AFTER = [("dsr", "0013_ready_to_send_four_eyes_deliveries")]


@pytest.mark.django_db(transaction=True)
def test_rows_the_new_constraints_refuse_are_brought_in_line_with_history():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Request, Job = old.get_model("dsr", "DataSubjectRequest"), old.get_model("dsr", "RequestJob")
    now = timezone.now()
    try:
        # given: on the old schema, what the demo and the old select allowed
        dpo, dpo2 = UserFactory(username="m.dpo"), UserFactory(username="m.dpo2")
        common = {
            "channel": "email",
            "received_at": now - datetime.timedelta(days=3),
            "due_at": now + datetime.timedelta(days=27),
            "identity_method": "document",
            "identity_verified_by_id": dpo.pk,
            "identity_verified_at": now,
        }
        waiting = Request.objects.create(
            reference="DSR-2026-900001", request_type="erasure", status="awaiting_approval", **common
        )
        access_waiting = Request.objects.create(
            reference="DSR-2026-900002",
            request_type="access",
            status="awaiting_approval",
            prepared_by_id=dpo.pk,
            **common,
        )
        executing = Request.objects.create(
            reference="DSR-2026-900003",
            request_type="erasure",
            status="executing",
            approved_by_id=dpo2.pk,
            approved_at=now,
            **common,
        )
        job = Job.objects.create(request=executing, kind="erasure", state="queued", requested_by_id=dpo2.pk)
        closed = Request.objects.create(
            reference="DSR-2026-900004",
            request_type="erasure",
            status="completed",
            approved_by_id=dpo2.pk,
            approved_at=now,
            closed_at=now,
            **common,
        )
    finally:
        # when
        MigrationExecutor(connection).migrate(AFTER)

    try:
        # then: the open ones are back in progress, with nobody's approval
        for pk in (waiting.pk, access_waiting.pk, executing.pk):
            dsr = DataSubjectRequest.objects.get(pk=pk)
            assert (dsr.status, dsr.prepared_by_id, dsr.approved_by_id) == ("in_progress", None, None)
            latest = dsr.history.first()
            assert latest.history_change_reason.startswith("Four eyes enforced by migration")
        assert RequestJob.objects.get(pk=job.pk).state == "failed"
        # and the closed one keeps its approver, marked for what it was
        dsr = DataSubjectRequest.objects.get(pk=closed.pk)
        assert (dsr.status, dsr.approved_by_id, dsr.approved_without_preparer) == ("completed", dpo2.pk, True)
    finally:
        latest = MigrationExecutor(connection)
        latest.migrate(latest.loader.graph.leaf_nodes())
