"""A package build that dies between writing its blob and committing its row leaves an orphan
blob; beat's task deletes it once it is older than any build takes, and never a package's own."""

from __future__ import annotations

import datetime
import textwrap

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from compliance_site.schedule import PERIODIC_JOBS
from dsr.models import DataPackage
from dsr.packages import PACKAGES_PREFIX, package_build, package_orphans_delete
from dsr.services import request_create
from dsr.tasks import delete_orphan_package_blobs
from recordings.vault.storage import recordings_storage
from tests import django_subprocess
from tests.factories import DataSubjectFactory, RecordingFactory

# A process that builds the package of request argv[1] as argv[2], and stops (sleeps) right after
# the archive is in the storage, before its row is written: the test kills it there.
_BUILDER = textwrap.dedent(
    """
    import sys, time
    import django
    django.setup()
    from django.contrib.auth import get_user_model
    from dsr import packages
    from dsr.models import DataSubjectRequest

    store = packages._store

    def store_then_wait(archive, **kwargs):
        stored = store(archive, **kwargs)
        print(stored.name, flush=True)
        time.sleep(600)
        return stored

    packages._store = store_then_wait
    request = DataSubjectRequest.objects.get(pk=int(sys.argv[1]))
    packages.package_build(dsr=request, actor=get_user_model().objects.get(pk=int(sys.argv[2])))
    """
)


def _package_blobs() -> set[str]:
    storage, found, folders = recordings_storage(), set(), [PACKAGES_PREFIX]
    while folders:
        folder = folders.pop()
        try:
            children, files = storage.listdir(folder)
        except FileNotFoundError:
            continue
        found |= {f"{folder}/{name}" for name in files}
        folders += [f"{folder}/{child}" for child in children]
    return found


def _access_request(subject):
    return request_create(request_type="access", channel="email", received_at=timezone.now(), subject=subject)


def _later(minutes: int) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(minutes=minutes)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="another process cannot share the in-memory SQLite test database",
)
def test_a_build_killed_between_its_blob_and_its_row_leaves_an_orphan_the_beat_task_deletes(dpo, tmp_path):
    # given: a subject with a call, an access request, and a package of theirs built before
    subject = DataSubjectFactory()
    RecordingFactory(subject=subject, audio=b"RIFF" + bytes(300_000))
    built = package_build(dsr=_access_request(subject), actor=dpo)
    request = _access_request(subject)

    # when: a worker builds the next package and is killed (kill -9) once its blob is written
    env = django_subprocess.django_env(var_dir=tmp_path)
    assert settings.STORAGES["recordings"]["OPTIONS"]["location"] == str(tmp_path / "recordings")
    builder = django_subprocess.start(_BUILDER, str(request.pk), str(dpo.pk), env=env)
    try:
        orphan = builder.stdout.readline().strip()
        assert orphan.startswith(f"{PACKAGES_PREFIX}/"), "the build did not write its blob"
    finally:
        django_subprocess.kill(builder)

    # then: the blob is there, no row names it
    assert _package_blobs() == {built.storage_ref, orphan}
    assert not DataPackage.objects.filter(storage_ref=orphan).exists()

    # when: beat's task runs while a build could still be under way, then past the bound
    assert package_orphans_delete(now=_later(settings.DSR_PACKAGE_ORPHAN_MINUTES - 1)) == []
    assert _package_blobs() == {built.storage_ref, orphan}
    deleted = package_orphans_delete(now=_later(settings.DSR_PACKAGE_ORPHAN_MINUTES + 1))

    # then: the orphan is gone, the package that has its row is not
    assert deleted == [orphan]
    assert _package_blobs() == {built.storage_ref}
    assert DataPackage.objects.get(pk=built.pk).storage_ref == built.storage_ref


def test_a_build_rolled_back_with_its_completion_leaves_a_blob_that_is_deleted(dpo, settings):
    # given: a package built inside a completion that then fails and rolls back
    subject = DataSubjectFactory()
    RecordingFactory(subject=subject, audio=b"RIFF" + bytes(70_000))
    kept = package_build(dsr=_access_request(subject), actor=dpo)
    with pytest.raises(RuntimeError), transaction.atomic():
        rolled_back = package_build(dsr=_access_request(subject), actor=dpo)
        raise RuntimeError("the letter could not be written")
    assert not DataPackage.objects.filter(storage_ref=rolled_back.storage_ref).exists()
    assert _package_blobs() == {kept.storage_ref, rolled_back.storage_ref}

    # when: the beat task runs past the bound (the real task, as beat calls it)
    settings.DSR_PACKAGE_ORPHAN_MINUTES = 5
    assert delete_orphan_package_blobs() == 0  # written a moment ago: maybe still being committed
    settings.DSR_PACKAGE_ORPHAN_MINUTES = 60
    deleted = package_orphans_delete(now=_later(61))

    # then
    assert deleted == [rolled_back.storage_ref]
    assert _package_blobs() == {kept.storage_ref}


@pytest.mark.django_db
def test_an_expired_and_purged_package_and_an_empty_storage_are_no_trouble(dpo):
    assert package_orphans_delete(now=_later(10_000)) == []  # no packages folder at all
    subject = DataSubjectFactory()
    RecordingFactory(subject=subject, audio=b"RIFF" + bytes(1_000))
    package = package_build(dsr=_access_request(subject), actor=dpo)
    recordings_storage().delete(package.storage_ref)  # as the nightly purge leaves it
    assert package_orphans_delete(now=_later(10_000)) == []
    assert connection.vendor in {"sqlite", "postgresql"}


def test_beat_runs_the_task():
    assert "dsr.tasks.delete_orphan_package_blobs" in {job.task for job in PERIODIC_JOBS}
