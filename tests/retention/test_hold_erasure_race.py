"""A legal hold placed while an erasure of the same caller runs: one waits for the other.

``hold_place`` locks the rows of the subjects its hold covers, the rows an erasure locks before
it reads the holds (``dsr.erasure.subject_erase``), so a hold committed while the erasure waits
is seen by it: the call is restricted, not erased. Commits for real (transaction=True) on
PostgreSQL, with the two sides on two connections.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.db.models.signals import post_save

from dsr.erasure import subject_erase
from recordings.models import Recording
from retention.models import HeldErasure, LegalHold
from retention.services import hold_place
from tests.factories import DataSubjectFactory, RecordingFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite has one writer at a time anyway"),
]

WAIT = 10


class _Side(threading.Thread):
    def __init__(self, work) -> None:
        super().__init__(daemon=True)
        self.work, self.result, self.error = work, None, None

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as error:  # checked by the test
            self.error = error
        finally:
            connection.close()


@pytest.fixture
def paused_hold():
    """A hold being placed stops once written, its transaction still open (the moment an erasure
    may start), until the test sets ``finish``."""
    placing, finish = threading.Event(), threading.Event()

    def paused_after_save(sender, instance, created, **kwargs):
        if created:
            placing.set()
            finish.wait(WAIT)

    post_save.connect(paused_after_save, sender=LegalHold, dispatch_uid="hold-race-pause")
    yield placing, finish
    post_save.disconnect(sender=LegalHold, dispatch_uid="hold-race-pause")


@pytest.mark.parametrize("scope", ["recording", "queue"])
def test_a_hold_placed_while_an_erasure_starts_is_honoured(scope, dpo, queue_a, paused_hold, jobs_eager):
    """Given a DPO placing a hold on a caller's call (or its whole queue), still inside the
    hold's transaction, when the caller's erasure starts on a worker, then the erasure waits for
    the hold, and once it commits restricts the held call instead of erasing it, and remembers
    the erasure for the hold's release."""
    subject = DataSubjectFactory()
    call = RecordingFactory(subject=subject, queue=queue_a)
    placing, finish = paused_hold
    target = {"recording": call} if scope == "recording" else {"queue": queue_a}

    def place():
        hold = LegalHold(scope=scope, case_reference="CASE-RACE", reason="Claim.", **target)
        return hold_place(hold=hold, placed_by=dpo)

    def erase():
        with transaction.atomic():
            return subject_erase(subject_id=subject.pk, actor=dpo, under="DSR-2026-000001")

    holder = _Side(place)
    holder.start()
    assert placing.wait(WAIT)
    erasure = _Side(erase)
    erasure.start()
    erasure.join(1)
    assert erasure.is_alive(), "the erasure did not wait for the hold being placed"

    finish.set()
    holder.join(WAIT)
    erasure.join(WAIT)

    assert holder.error is None and erasure.error is None
    call.refresh_from_db()
    assert call.status == Recording.Status.RESTRICTED
    assert erasure.result.restricted == 1 and erasure.result.erased == 0
    assert HeldErasure.objects.get().recording_id == call.pk
