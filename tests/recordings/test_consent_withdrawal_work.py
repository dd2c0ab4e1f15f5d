"""Withdrawing a subject's consents for a purpose: one pass of the work that follows, whatever the
number of consents (one per call, for call-scoped consent)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance_site.audit.models import AccessEvent
from recordings.models import Consent
from recordings.services import consents_withdraw_for, recording_grounds_changed
from tests.factories import DataSubjectFactory, PurposeFactory, RecordingFactory

pytestmark = pytest.mark.django_db


def test_withdrawing_every_consent_recomputes_the_recordings_once_and_reads_no_row_per_consent(queue_a):
    subject, purpose = DataSubjectFactory(), PurposeFactory()
    calls = [RecordingFactory(queue=queue_a, subject=subject, purposes=[purpose]) for _ in range(4)]
    sent: list[list[int]] = []

    def receiver(sender, *, recordings, **kwargs):
        sent.append(sorted(r.pk for r in recordings))

    recording_grounds_changed.connect(receiver)
    try:
        with CaptureQueriesContext(connection) as queries:
            withdrawn = consents_withdraw_for(subject=subject, purpose=purpose, via="ivr")
    finally:
        recording_grounds_changed.disconnect(receiver)

    assert len(withdrawn) == 4
    assert not Consent.objects.filter(subject=subject, withdrawn_at__isnull=True).exists()
    assert AccessEvent.objects.filter(action="consent_withdrawn").count() == 4
    # The recordings' grounds changed once, all four together: not once per consent.
    assert sent == [sorted(call.pk for call in calls)]
    # The events name the subject and the purpose: not loaded one row at a time, per consent.
    for table in ("recordings_datasubject", "recordings_purpose"):
        by_id = f'FROM "{table}" WHERE "{table}"."id" ='
        reads = [q["sql"] for q in queries.captured_queries if by_id in q["sql"]]
        assert reads == [], reads
