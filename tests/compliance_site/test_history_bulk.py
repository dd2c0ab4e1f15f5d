"""history_copy writes the very rows django-simple-history's own bulk_history_create writes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance_site.history_bulk import HISTORY_CHANGED, HISTORY_CREATED, history_copy
from recordings.models import Recording
from tests.factories import PurposeFactory, RecordingFactory, UserFactory

pytestmark = pytest.mark.django_db

HISTORY_ONLY = {"history_id", "history_date"}


def _version(row) -> dict:
    values = model_to_dict(row, exclude=HISTORY_ONLY)
    values["history_user"] = row.history_user_id
    values["purposes"] = sorted(row.purposes.values_list("purpose_id", flat=True))
    return values


def _recordings_with_purposes(count: int) -> list[Recording]:
    extra = PurposeFactory()
    recordings = [RecordingFactory() for _ in range(count)]
    recordings[0].purposes.add(extra)  # one with one purpose more than the others
    return recordings


def test_history_copy_writes_what_bulk_history_create_writes():
    # given: the same recordings' history written both ways
    recordings = _recordings_with_purposes(3)
    actor = UserFactory()
    date = timezone.now()
    Recording.objects.filter(pk__in=[r.pk for r in recordings]).update(status=Recording.Status.RESTRICTED)
    for recording in recordings:
        recording.refresh_from_db()
    by_simple_history = Recording.history.bulk_history_create(
        recordings, update=True, default_user=actor, default_date=date
    )
    # simple-history's bulk path leaves the m2m rows out; a save writes them, as history_copy does
    for row in by_simple_history:
        for purpose_link in Recording.purposes.through.objects.filter(recording_id=row.id):
            row.purposes.model.objects.create(
                id=purpose_link.id,
                recording_id=purpose_link.recording_id,
                purpose_id=purpose_link.purpose_id,
                history=row,
            )

    # when
    history_ids = history_copy(
        Recording.objects.filter(pk__in=[r.pk for r in recordings]),
        history_type=HISTORY_CHANGED,
        date=date,
        user=actor,
    )

    # then: one row per recording, field for field the same, purposes included
    assert len(history_ids) == 3
    copied = {row.id: row for row in Recording.history.filter(history_id__in=history_ids)}
    for row in by_simple_history:
        assert _version(copied[row.id]) == _version(row)
        assert copied[row.id].history_date == date
    assert _version(copied[recordings[0].pk])["purposes"] == sorted(
        recordings[0].purposes.values_list("pk", flat=True)
    )
    assert _version(copied[recordings[0].pk])["purposes"]


def test_history_copy_costs_two_statements_whatever_the_number_of_rows():
    few, many = _recordings_with_purposes(2), _recordings_with_purposes(12)
    counts = []
    for recordings in (few, many):
        with CaptureQueriesContext(connection) as queries:
            history_copy(
                Recording.objects.filter(pk__in=[r.pk for r in recordings]),
                history_type=HISTORY_CREATED,
                date=timezone.now(),
            )
        counts.append(len(queries))
    assert counts == [2, 2]  # the rows, then their purposes


def test_history_copy_of_nothing_writes_nothing():
    before = Recording.history.count()
    assert history_copy(Recording.objects.none(), history_type=HISTORY_CHANGED, date=timezone.now()) == []
    assert (
        history_copy(Recording.objects.filter(pk=-1), history_type=HISTORY_CHANGED, date=timezone.now()) == []
    )
    assert Recording.history.count() == before


def test_history_copy_honours_simple_history_enabled(settings):
    recording = RecordingFactory()
    before = Recording.history.count()
    settings.SIMPLE_HISTORY_ENABLED = False
    history_copy(Recording.objects.filter(pk=recording.pk), history_type=HISTORY_CHANGED, date=timezone.now())
    assert Recording.history.count() == before
