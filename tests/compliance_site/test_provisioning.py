"""Roles and beat's schedule are provisioned by the project, idempotently."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django_celery_beat.models import PeriodicTask

from compliance_site.celery import app
from compliance_site.provisioning import provision
from compliance_site.roles import ROLE_PERMISSIONS

pytestmark = pytest.mark.django_db


def test_migrate_provisions_every_role_with_its_permissions():
    for role, perms in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert granted == set(perms)


def test_nobody_but_superusers_may_delete():
    for role in ROLE_PERMISSIONS:
        assert not Group.objects.get(name=role).permissions.filter(codename__startswith="delete_").exists()


def test_periodic_tasks_exist_and_point_at_registered_tasks():
    tasks = {t.name: t for t in PeriodicTask.objects.select_related("crontab")}

    assert tasks["Deadline reminders"].task == "dsr.tasks.send_deadline_reminders"
    assert (tasks["Deadline reminders"].crontab.minute, tasks["Deadline reminders"].crontab.hour) == (
        "0",
        "*",
    )
    assert tasks["Retention sweep"].task == "retention.tasks.run_retention_sweep"
    app.loader.import_default_modules()
    for task in tasks.values():
        if task.name != "celery.backend_cleanup":
            assert task.task in app.tasks


def test_provisioning_twice_changes_nothing_and_keeps_an_operators_pause():
    # given: an operator paused the sweep during an incident
    PeriodicTask.objects.filter(name="Retention sweep").update(enabled=False)
    before = list(PeriodicTask.objects.order_by("pk").values_list("pk", "name", "crontab_id"))

    # when
    provision()
    provision()

    # then
    assert list(PeriodicTask.objects.order_by("pk").values_list("pk", "name", "crontab_id")) == before
    assert PeriodicTask.objects.get(name="Retention sweep").enabled is False
    assert Group.objects.filter(name__in=ROLE_PERMISSIONS).count() == len(ROLE_PERMISSIONS)


def test_changed_schedule_setting_moves_the_task(settings):
    settings.CUSTOS_RETENTION_SWEEP_CRONTAB = "15 3 * * *"

    provision()

    crontab = PeriodicTask.objects.get(name="Retention sweep").crontab
    assert (crontab.minute, crontab.hour, str(crontab.timezone)) == ("15", "3", settings.TIME_ZONE)
