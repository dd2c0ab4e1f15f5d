"""One beat per deployment: a second beat holds no lock, schedules nothing, and takes over
when the first one is gone."""

from __future__ import annotations

import pytest
from django.db import connection

from compliance_site import beat
from compliance_site.beat import FileLock, PostgresAdvisoryLock, SingleBeatScheduler, beat_lock
from compliance_site.celery import app


def test_a_second_file_lock_is_refused_until_the_first_is_released(tmp_path):
    first, second = FileLock(tmp_path / "beat.lock"), FileLock(tmp_path / "beat.lock")

    assert first.acquire() is True
    assert second.acquire() is False
    first.release()
    assert second.acquire() is True
    second.release()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks are PostgreSQL's")
def test_a_second_advisory_lock_is_refused_until_the_first_connection_goes(db):
    first = PostgresAdvisoryLock(connection.settings_dict)
    second = PostgresAdvisoryLock(connection.settings_dict)

    assert first.acquire() is True
    assert second.acquire() is False
    first.connection.close()  # the first beat's process dies: the server drops its lock
    assert first.held() is False
    assert second.acquire() is True
    second.release()


def test_the_lock_follows_the_database(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    lock = beat_lock()
    expected = PostgresAdvisoryLock if connection.vendor == "postgresql" else FileLock
    assert isinstance(lock, expected)


def test_a_standby_beat_schedules_nothing(transactional_db, monkeypatch, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    monkeypatch.setattr(beat, "beat_lock", lambda: FileLock(tmp_path / "beat.lock"))
    active, standby = SingleBeatScheduler(app=app), SingleBeatScheduler(app=app)
    try:
        # when: both tick; only the first holds the lock
        active.tick()
        assert standby.tick() == beat.STANDBY_RETRY_SECONDS
        assert active.lock.held() and not standby.lock.held()

        # when: the active beat stops, the standby takes over on its next tick
        active.close()
        standby.tick()
        assert standby.lock.held()
    finally:
        active.lock.release()
        standby.lock.release()
