"""The purge of expired packages destroys their keys, so it has the key tables vacuumed like an
erasure batch does (recordings.vault.dead_rows): the old row versions keep the wrapped package
keys, which the subject key still opens. Enqueued on commit, once per batch; on PostgreSQL the
pages are read with ``pageinspect`` before and after the vacuum."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection

from dsr.models import DataPackage
from dsr.packages import package_build, packages_expired_purge
from dsr.services import request_create
from recordings.tasks import vacuum_key_tables
from recordings.vault import dead_rows
from tests.factories import DataSubjectFactory, RecordingFactory

COUNTDOWN = dead_rows.VACUUM_DELAY_SECONDS + dead_rows.CLOCK_MARGIN_SECONDS
LP_DEAD = 3
TABLE = "dsr_datapackage"


@pytest.fixture
def enqueued(monkeypatch):
    """The vacuum tasks sent to the broker, as their countdowns."""
    sent: list[int] = []
    monkeypatch.setattr(vacuum_key_tables, "apply_async", lambda countdown=None, **_: sent.append(countdown))
    return sent


def _package(dpo) -> DataPackage:
    subject = DataSubjectFactory()
    RecordingFactory(subject=subject, audio=b"\x02" * 5_000)
    dsr = request_create(
        request_type="access",
        channel="email",
        received_at=datetime.datetime.now(datetime.UTC),
        subject=subject,
    )
    return package_build(dsr=dsr, actor=dpo)


@pytest.mark.django_db
def test_the_expired_purge_enqueues_one_vacuum_once_it_commits(
    enqueued, dpo, django_capture_on_commit_callbacks
):
    # given: two packages past their window
    packages = [_package(dpo), _package(dpo)]
    later = max(p.expires_at for p in packages) + datetime.timedelta(minutes=1)

    # when: the purge runs (one batch)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert packages_expired_purge(now=later) == 2

    # then: one vacuum, registered for after the commit
    assert enqueued == []
    assert [c for c in callbacks if c is dead_rows._vacuum_schedule] == [dead_rows._vacuum_schedule]
    for callback in callbacks:
        callback()
    assert enqueued == [COUNTDOWN]


@pytest.mark.django_db
def test_a_purge_that_destroys_no_key_enqueues_no_vacuum(enqueued, dpo, django_capture_on_commit_callbacks):
    package = _package(dpo)

    with django_capture_on_commit_callbacks(execute=True):
        assert packages_expired_purge(now=package.expires_at - datetime.timedelta(seconds=1)) == 0

    assert enqueued == []


@pytest.fixture
def pageinspect():
    with connection.cursor() as cursor:
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        except Exception as error:  # not installed on this server (postgresql-contrib)
            pytest.skip(f"pageinspect unavailable: {error}")
        # Autovacuum (aggressive on this table) must not clean up before the test looks.
        cursor.execute(f"ALTER TABLE {TABLE} SET (autovacuum_enabled = false)")
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} RESET (autovacuum_enabled)")


def _holding(secret: bytes) -> list[tuple[int, int, int]]:
    """(block, lp, lp_flags) of every line pointer of the package table whose tuple holds ``secret``."""
    found = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size(%s) / current_setting('block_size')::int", [TABLE])
        (blocks,) = cursor.fetchone()
        for block in range(blocks):
            cursor.execute(
                "SELECT lp, lp_flags, t_data FROM heap_page_items(get_raw_page(%s, %s))", [TABLE, block]
            )
            rows = cursor.fetchall()
            found += [(block, lp, flags) for lp, flags, data in rows if secret in bytes(data or b"")]
    return found


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="dead tuples are PostgreSQL's")
def test_the_vacuum_removes_the_expired_packages_old_wrapped_key(pageinspect, dpo, enqueued):
    # given: a package whose wrapped key the page holds
    package = _package(dpo)
    wrapped = bytes(package.wrapped_key)
    assert len(wrapped) > 16 and _holding(wrapped)

    # when: its window closes and the purge commits
    assert packages_expired_purge(now=package.expires_at + datetime.timedelta(minutes=1)) == 1
    package.refresh_from_db()
    assert bytes(package.wrapped_key) == b"" and enqueued == [COUNTDOWN]

    # then: the old version, wrapped key and all, is a dead tuple until the vacuum it enqueued runs
    assert _holding(wrapped), "the old wrapped key should still be in a dead tuple"
    assert TABLE in vacuum_key_tables()
    assert _holding(wrapped) == []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM heap_page_items(get_raw_page(%s, 0)) WHERE lp_flags = %s", [TABLE, LP_DEAD]
        )
        assert cursor.fetchone() == (0,)
