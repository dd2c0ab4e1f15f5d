"""Beat verifies the access log every night; a broken chain alerts the DPO group, a whole one
says nothing."""

from __future__ import annotations

import logging

import pytest
from django.core import mail
from django.db import connection
from django_celery_beat.models import PeriodicTask

from compliance_site.audit.models import AccessEvent
from compliance_site.audit.services import access_event_record
from compliance_site.audit.tasks import verify_access_log
from compliance_site.celery import app
from tests.factories import DataSubjectFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(dpo):
    subject = DataSubjectFactory(full_name="Erika Mustermann", email="erika@example.org")
    return [
        access_event_record(
            action="decrypt",
            object_type="subject",
            object_id=subject.pk,
            object_reference=subject.reference,
            actor=dpo,
            detail={"page": "change"},
        )
        for _ in range(5)
    ]


@pytest.fixture
def dpo_group(roles, dpo):
    """Who the alert reaches: active DPOs with an email; not an inactive one, not one without an
    address, not the auditor."""
    UserFactory(username="dpo.second", email="second@custos.example", groups=[roles["DPO"]])
    UserFactory(username="dpo.left", email="left@custos.example", groups=[roles["DPO"]], is_active=False)
    UserFactory(username="dpo.nomail", email="", groups=[roles["DPO"]])
    UserFactory(username="aud.other", email="auditor@custos.example", groups=[roles["Auditor"]])
    return sorted([dpo.email, "second@custos.example"])


def test_a_whole_chain_alerts_nobody(chain, dpo_group, caplog):
    with caplog.at_level(logging.INFO, logger="compliance_site.audit.verification"):
        result = verify_access_log.apply().get()

    assert result == "intact"
    assert mail.outbox == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # the head's hash leaves the database with the logs, to compare a rewritten chain against
    assert any(chain[-1].hash in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


def test_an_edited_event_alerts_the_dpo_group_naming_the_first_broken_link(chain, dpo_group, caplog):
    # given: someone with database access edits event #3 behind the application's back
    edited = chain[2]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {AccessEvent._meta.db_table} SET actor_label = %s WHERE id = %s", ["mallory", edited.pk]
        )

    # when: beat's nightly task runs
    with caplog.at_level(logging.INFO, logger="compliance_site.audit.verification"):
        result = verify_access_log.apply().get()

    # then: one email to the DPO group, naming event #3 by sequence and id
    assert result.startswith("event #3")
    assert len(mail.outbox) == 1
    alert = mail.outbox[0]
    assert sorted(alert.to) == dpo_group
    assert "#3" in alert.subject
    assert f"event #3 (id {edited.pk})" in alert.body and "edited" in alert.body
    assert "/admin/audit/accessevent/" in alert.body
    for personal in ("Erika", "Mustermann", "erika@example.org"):
        assert personal not in alert.subject + alert.body
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "event #3" in errors[0].getMessage()


def test_a_deleted_event_is_named_too(chain, dpo_group):
    AccessEvent.objects.filter(pk=chain[1].pk).delete()

    verify_access_log.apply().get()

    assert len(mail.outbox) == 1 and "#2" in mail.outbox[0].subject


def test_without_a_dpo_to_mail_the_break_is_still_logged(chain, caplog):
    AccessEvent.objects.filter(pk=chain[4].pk).update(purpose="forged")
    for user in type(chain[0].actor).objects.all():
        user.groups.clear()

    with caplog.at_level(logging.ERROR, logger="compliance_site.audit.verification"):
        verify_access_log.apply().get()

    assert mail.outbox == []
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("event #5" in m for m in messages) and any("No active DPO" in m for m in messages)


def test_beat_runs_the_check_nightly_and_the_orphan_sweep(settings):
    tasks = {t.name: t for t in PeriodicTask.objects.select_related("crontab")}
    app.loader.import_default_modules()

    check = tasks["Access log verification"]
    assert (check.task, check.enabled) == ("recordings.tasks.verify_access_log", True)
    assert (check.crontab.minute, check.crontab.hour, check.crontab.day_of_month) == ("15", "4", "*")
    assert str(check.crontab.timezone) == settings.TIME_ZONE
    sweep = tasks["Orphan object permissions"]
    assert (sweep.task, sweep.enabled) == ("compliance_site.tasks.clean_orphan_object_permissions", True)
    assert (sweep.crontab.minute, sweep.crontab.hour) == ("45", "3")
    assert {check.task, sweep.task} <= set(app.tasks)
