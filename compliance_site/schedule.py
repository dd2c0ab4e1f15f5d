"""Beat's periodic tasks, as rows of django-celery-beat's DatabaseScheduler."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: str
    crontab_setting: str
    description: str


PERIODIC_JOBS = [
    PeriodicJob(
        name="Deadline reminders",
        task="dsr.tasks.send_deadline_reminders",
        crontab_setting="CUSTOS_REMINDER_CRONTAB",
        description="Emails assignees before DSR deadlines and escalates overdue requests.",
    ),
    PeriodicJob(
        name="Deadline reminder retries",
        task="dsr.tasks.retry_deadline_reminders",
        crontab_setting="CUSTOS_REMINDER_RETRY_CRONTAB",
        description="Retries, with backoff, the reminders whose email failed, until sent or given up.",
    ),
    PeriodicJob(
        name="Response letters by email",
        task="dsr.tasks.deliver_responses",
        crontab_setting="CUSTOS_RESPONSE_DELIVERY_CRONTAB",
        description="Emails response letters to subjects, retries with backoff, alerts DPOs if given up.",
    ),
    PeriodicJob(
        name="Expired access packages",
        task="dsr.tasks.purge_expired_packages",
        crontab_setting="CUSTOS_PACKAGE_PURGE_CRONTAB",
        description="Deletes access and portability packages whose download window has closed.",
    ),
    PeriodicJob(
        name="Retention sweep",
        task="retention.tasks.run_retention_sweep",
        crontab_setting="CUSTOS_RETENTION_SWEEP_CRONTAB",
        description="Deletes recordings whose retention ran out and that no legal hold covers.",
    ),
    PeriodicJob(
        name="Evaluation retention sweep",
        task="reviews.tasks.sweep_expired_evaluations",
        crontab_setting="CUSTOS_EVALUATION_SWEEP_CRONTAB",
        description=(
            "Deletes QA evaluations older than CUSTOS_EVALUATION_RETENTION_DAYS, leaving tombstones with "
            "their numbers."
        ),
    ),
    PeriodicJob(
        name="Playback access events",
        task="recordings.tasks.seal_idle_playbacks",
        crontab_setting="CUSTOS_PLAYBACK_SEAL_CRONTAB",
        description="Writes one access event per finished playback, with the byte ranges played.",
    ),
    PeriodicJob(
        name="Muted renditions",
        task="recordings.tasks.finish_muted_renditions",
        crontab_setting="CUSTOS_RENDITIONS_CRONTAB",
        description="Renders the muted renditions left pending, and deletes those whose segments changed.",
    ),
    PeriodicJob(
        name="Redactions at rest",
        task="recordings.tasks.finish_redactions_at_rest",
        crontab_setting="CUSTOS_REDACTIONS_AT_REST_CRONTAB",
        description=(
            "Finishes the redactions at rest left undone, removes the unredacted versions whose window "
            "ended, and asks for the ones never requested."
        ),
    ),
    PeriodicJob(
        name="Access log verification",
        task="recordings.tasks.verify_access_log",
        crontab_setting="CUSTOS_AUDIT_VERIFY_CRONTAB",
        description="Verifies the access log's hash chain and alerts the DPO group when it is broken.",
    ),
    PeriodicJob(
        name="Access log digests",
        task="compliance_site.audit.tasks.write_audit_digests",
        crontab_setting="CUSTOS_AUDIT_DIGEST_CRONTAB",
        description="Writes the signed digest of each period of the access log outside the database.",
    ),
    PeriodicJob(
        name="Login log pruning",
        task="compliance_site.tasks.prune_login_logs",
        crontab_setting="CUSTOS_LOGIN_LOG_PRUNE_CRONTAB",
        description="Deletes login and login-failure logs older than CUSTOS_LOGIN_LOG_DAYS.",
    ),
    PeriodicJob(
        name="Orphan object permissions",
        task="compliance_site.tasks.clean_orphan_object_permissions",
        crontab_setting="CUSTOS_ORPHAN_PERMISSIONS_CRONTAB",
        description="Removes guardian object permissions whose object was deleted.",
    ),
    PeriodicJob(
        name="Expired sessions and enrolments",
        task="compliance_site.tasks.purge_stale_login_state",
        crontab_setting="CUSTOS_LOGIN_STATE_PURGE_CRONTAB",
        description="Deletes expired staff sessions and authenticator enrolments never confirmed.",
    ),
    PeriodicJob(
        name="Upload spool",
        task="compliance_site.tasks.clean_upload_spool",
        crontab_setting="CUSTOS_SPOOL_CLEAN_CRONTAB",
        description="Deletes uploads left in the spool by processes that died (e.g. killed mid-upload).",
    ),
    PeriodicJob(
        name="Orphan package blobs",
        task="dsr.tasks.delete_orphan_package_blobs",
        crontab_setting="CUSTOS_PACKAGE_ORPHAN_CRONTAB",
        description="Deletes package archives whose build died before its package row was committed.",
    ),
    PeriodicJob(
        name="Stalled request jobs",
        task="dsr.tasks.resume_request_jobs",
        crontab_setting="CUSTOS_REQUEST_JOB_RESUME_CRONTAB",
        description="Sends again package builds and erasures whose message was lost or whose worker died.",
    ),
    PeriodicJob(
        name="Erasures resuming after a hold",
        task="dsr.tasks.finish_held_erasures",
        crontab_setting="CUSTOS_HELD_ERASURE_CRONTAB",
        description="Carries out erasures deferred by a released hold once the grace period has passed.",
    ),
    PeriodicJob(
        name="Stalled keep-until recomputations",
        task="retention.tasks.resume_keep_until_recomputations",
        crontab_setting="CUSTOS_RECOMPUTE_RESUME_CRONTAB",
        description="Sends again keep-until recomputations whose message was lost or whose worker died.",
    ),
    PeriodicJob(
        name="Master-key rotation and retirement",
        task="recordings.tasks.rotate_master_key",
        crontab_setting="CUSTOS_MASTER_KEY_ROTATION_CRONTAB",
        description=(
            "Rotates the master key when due (CUSTOS_MASTER_KEY_ROTATION_DAYS), re-wraps every key, "
            "destroys versions retired longer than CUSTOS_BACKUP_RETENTION_DAYS."
        ),
    ),
]


def crontab_fields(expression: str) -> dict[str, str]:
    """'m h dom mon dow' as CrontabSchedule's field values."""
    parts = expression.split()
    if len(parts) != 5:
        raise ValueError(f"{expression!r} is not a five-field crontab expression.")
    minute, hour, day_of_month, month_of_year, day_of_week = parts
    return {
        "minute": minute,
        "hour": hour,
        "day_of_month": day_of_month,
        "month_of_year": month_of_year,
        "day_of_week": day_of_week,
    }


def provision_periodic_tasks() -> list[str]:
    """Create or update beat's periodic tasks; returns the names touched.

    An operator's choice to disable a task is kept: only a new task is created enabled.
    """
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    touched = []
    for job in PERIODIC_JOBS:
        schedule, _ = CrontabSchedule.objects.get_or_create(
            **crontab_fields(getattr(settings, job.crontab_setting)), timezone=settings.TIME_ZONE
        )
        task, created = PeriodicTask.objects.get_or_create(
            name=job.name,
            defaults={"task": job.task, "crontab": schedule, "description": job.description},
        )
        if not created and (task.task, task.crontab_id, task.interval_id) != (job.task, schedule.pk, None):
            task.task, task.crontab, task.interval = job.task, schedule, None
            task.description = job.description
            task.save()
        touched.append(job.name)
    return touched
