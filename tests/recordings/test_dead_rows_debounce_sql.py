"""The dead-rows vacuum's debounce sends no SQL: its mark is in the ``dead_rows`` cache (memory or
Redis), so an erasure batch's commit costs the same statements whatever the window's state."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recordings.tasks import vacuum_key_tables
from recordings.vault import dead_rows

pytestmark = pytest.mark.django_db


def test_the_debounce_sends_no_statement(monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(vacuum_key_tables, "apply_async", lambda countdown=None, **_: sent.append(countdown))

    with CaptureQueriesContext(connection) as queries:
        dead_rows._vacuum_schedule()  # the first commit of a window: it enqueues
        dead_rows._vacuum_schedule()  # a later one: covered

    assert len(sent) == 1
    assert queries.captured_queries == []
