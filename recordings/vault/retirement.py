"""Destruction of retired master-key versions: what makes an erasure reach old backups.

A version is retired from the first check that finds no wrapped key (subject key or staff
authenticator key) under it and it is not current. Once it has been retired for
``CUSTOS_BACKUP_RETENTION_DAYS`` (the longest of the backups' and the WAL archive's retention),
every backup that still holds keys wrapped under it has expired, and it is destroyed: removed
from the local keyring file, or scheduled for deletion in KMS. From then on a wrapped key in a
dead row, a WAL segment or a backup of that time is unreadable with anything Custos holds.

Each destruction is a row (``MasterKeyVersionRetirement``) and an access event with the version
id and the time; never key material.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compliance_site.audit.models import AccessAction, AuditKey
from compliance_site.audit.services import access_event_record
from compliance_site.keys import KeyVersion, get_provider
from compliance_site.models import Authenticator
from recordings.models import MasterKeyVersionRetirement, SubjectKey

logger = logging.getLogger(__name__)


def backup_retention() -> datetime.timedelta:
    return datetime.timedelta(days=settings.CUSTOS_BACKUP_RETENTION_DAYS)


def master_key_version_in_use(version: str) -> bool:
    return (
        SubjectKey.objects.filter(master_version=version).exists()
        or Authenticator.objects.filter(key_version=version).exists()
        # The access log's HMAC keys: destroying their version would leave the log unverifiable.
        or AuditKey.objects.filter(master_version=version).exists()
    )


def master_key_versions_retire(*, now: datetime.datetime | None = None) -> list[str]:
    """Record newly unused versions as retired, destroy those retired long enough; returns the
    versions destroyed by this run."""
    now = now or timezone.now()
    provider = get_provider()
    destroyed = []
    for version in provider.versions():
        if version.current:
            continue
        if version.destroyed_at is not None:
            _destruction_record(version, now=now)  # destroyed by hand, or a run died after it
            continue
        if master_key_version_in_use(version.version):
            continue  # a rotation is not finished: keys under it are still live
        retirement, _ = MasterKeyVersionRetirement.objects.get_or_create(
            version=version.version, defaults={"retired_at": now}
        )
        if now - retirement.retired_at < backup_retention():
            continue
        provider.destroy_version(version.version)
        _destruction_record(version, now=now)
        destroyed.append(version.version)
    return destroyed


@transaction.atomic
def _destruction_record(version: KeyVersion, *, now: datetime.datetime) -> None:
    retirement, _ = MasterKeyVersionRetirement.objects.select_for_update().get_or_create(
        version=version.version, defaults={"retired_at": now}
    )
    if retirement.destroyed_at is not None:
        return
    retirement.destroyed_at = now
    retirement.save(update_fields=["destroyed_at"])
    access_event_record(
        action=AccessAction.KEY_DESTROYED,
        object_type="master_key_version",
        detail={
            "version": version.version,
            "retired_at": retirement.retired_at.isoformat(),
            "backup_retention_days": settings.CUSTOS_BACKUP_RETENTION_DAYS,
        },
    )
    logger.info("Master-key version %s destroyed (retired %s)", version.version, retirement.retired_at)
