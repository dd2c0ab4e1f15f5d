"""A call ingested while its caller is being erased: one of the two waits for the other.

An erasure locks the subject's row, then lists and erases the subject's recordings and destroys
its key. Ingest share-locks the same row when it finds the caller, so a call either lands before
the erasure lists the recordings (and is erased with them) or waits and is refused; two calls of
one caller share the lock and do not wait for each other. These tests
commit for real (transaction=True) on PostgreSQL, with the two sides on two connections.
"""

from __future__ import annotations

import io
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from recordings.intake.serializers import RecordingMetadataSerializer
from recordings.intake.services import recording_ingest
from recordings.models import DataSubject, Recording
from recordings.vault.services import subject_key_destroy
from tests.recordings.ingest_factories import WAV, call_metadata, reference_rows

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite has one writer at a time anyway"),
]

WAIT = 10  # seconds: a side that should go on is given this long, a side that should wait 1 s


def _metadata():
    serializer = RecordingMetadataSerializer(data=call_metadata())
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _ingest() -> Recording:
    return recording_ingest(audio=io.BytesIO(WAV), metadata=_metadata())


class _Side(threading.Thread):
    """Runs ``work`` on its own connection; keeps its result or its error."""

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
def caller():
    reference_rows()
    return _ingest().subject  # the caller's first call: the subject exists, with its key


class _PausedStore:
    """``audio_store`` held up in the calls that ask for it (by thread name, or every call): a
    call waits there, holding the subject's lock, until ``finish`` is set."""

    def __init__(self, monkeypatch, *, thread: str | None = None) -> None:
        from recordings.intake import services

        self.storing, self.finish = threading.Event(), threading.Event()
        real_store = services.audio_store

        def paused_store(**kwargs):
            if thread is None or threading.current_thread().name == thread:
                self.storing.set()
                self.finish.wait(WAIT)
            return real_store(**kwargs)

        monkeypatch.setattr(services, "audio_store", paused_store)


def test_a_call_arriving_during_an_erasure_waits_and_is_refused(caller):
    locked, finish = threading.Event(), threading.Event()

    def erase():
        with transaction.atomic():
            subject = DataSubject.objects.select_for_update().get(pk=caller.pk)  # as _erase does
            locked.set()
            finish.wait(WAIT)
            subject_key_destroy(subject=subject, reason="erasure test")

    erasure = _Side(erase)
    erasure.start()
    assert locked.wait(WAIT)
    call = _Side(_ingest)
    call.start()
    call.join(1)
    assert call.is_alive(), "the call did not wait for the erasure"

    finish.set()
    erasure.join(WAIT)
    call.join(WAIT)

    assert erasure.error is None
    assert isinstance(call.error, ValidationError)
    assert "was erased" in str(call.error)
    assert Recording.objects.filter(subject=caller).count() == 1  # the first call only


def test_an_erasure_starting_during_a_call_waits_and_then_sees_it(caller, monkeypatch):
    paused = _PausedStore(monkeypatch)  # the call holds the subject's lock while it waits

    def erase_listing():
        with transaction.atomic():
            DataSubject.objects.select_for_update().get(pk=caller.pk)
            return Recording.objects.filter(subject_id=caller.pk).count()

    call = _Side(_ingest)
    call.start()
    assert paused.storing.wait(WAIT)
    erasure = _Side(erase_listing)
    erasure.start()
    erasure.join(1)
    assert erasure.is_alive(), "the erasure did not wait for the call"

    paused.finish.set()
    call.join(WAIT)
    erasure.join(WAIT)

    assert call.error is None and erasure.error is None
    assert erasure.result == 2  # the erasure lists the call that was being stored


def test_two_calls_of_the_same_caller_do_not_wait_for_each_other(caller, monkeypatch):
    paused = _PausedStore(monkeypatch, thread="first")
    first = _Side(_ingest)
    first.name = "first"
    first.start()
    assert paused.storing.wait(WAIT)

    second = _Side(_ingest)
    second.start()
    second.join(WAIT)  # while the first still holds its share of the subject's lock
    finished_alone = not second.is_alive()
    paused.finish.set()
    first.join(WAIT)

    assert finished_alone, "the second call waited for the first"
    assert first.error is None and second.error is None
    assert Recording.objects.filter(subject=caller).count() == 3
