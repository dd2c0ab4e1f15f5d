"""Redaction at rest killed (kill -9) anywhere in its run, 20 times: each kill leaves exactly one
readable version of the call, and beat (``redactions_at_rest_finish``) with the task it resends
finishes the job: the card number silenced in the stored audio, the unredacted blob and its key
gone, no blob in the storage that belongs to nobody. And a worker that was not dead but stalled
past ``RUN_TIMEOUT``, handed back meanwhile and claimed again, must not swap in its blob.

The worker is a process of its own (``tests.django_subprocess``) that sets Django up once and forks
a child for each run, as Celery's prefork pool does; the child runs ``redaction_at_rest_run``
against this test's database, storage and keyring, printing a marker at each phase boundary
(wrapping the module's functions, as ``test_package_orphans`` does). Told to, it stops there and
is killed: inside the claim's transaction, after the claim commits, once the redacted blob's
first bytes are in the storage, after the rewrite, inside the swap's transaction, after the swap
commits, after the unredacted blob is deleted. The other trials kill it after a delay: a fifth,
two fifths and three fifths of an uninterrupted run of the same call (the faster of two).

A PCM WAV (ten minutes, 9.6 MB, silenced as it streams; checked byte by byte) and an MP3 (three
minutes, re-encoded by PyAV in about a second; checked by loudness). A timed kill that comes after
a fast run ended kills nothing: that trial checks an uninterrupted run. One test, trials in a loop
(a transactional test's flush costs seconds); the orphan check is over all their recordings.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import io
import os
import signal
import textwrap
import time
import wave
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from recordings import redaction_at_rest
from recordings.models import AtRestRedaction, Recording, RecordingKey, SensitiveSegment
from recordings.redaction.transcripts import transcript_read, transcript_store
from recordings.redaction_at_rest import (
    MAX_ATTEMPTS,
    redact_recording_at_rest,
    redaction_at_rest_request,
    redaction_at_rest_run,
)
from recordings.redaction_at_rest_beat import redactions_at_rest_finish
from recordings.vault.keys import recording_aad, recording_key, subject_key, wrapped_recording_key_open
from recordings.vault.storage import audio_open, recordings_storage
from recordings.vault.streaming_aead import StreamingAeadError
from recordings.vault.streaming_decrypt import decrypt_bytes
from tests import django_subprocess
from tests.factories import RecordingFactory
from tests.recordings.audio_fixtures import FORMATS, decode, encode, rms, tone, windows

Status = AtRestRedaction.Status
SEGMENT = (Decimal("20.000"), Decimal("30.000"))
TRANSCRIPT = "The caller read out the card number and asked about the invoice."
# Where the child can be told to stop for its kill, in the order it passes them, and the status
# the kill leaves (a transaction killed open is rolled back).
LEFT_AT = dict(claiming="pending", claimed="running", writing="running", rewritten="running")
LEFT_AT |= dict(swapping="running", swapped="swapped", deleted="swapped")
FRACTIONS = (0.2, 0.4, 0.6)  # of an uninterrupted run: the timed kills

# The worker: Django set up once, then, for each line "<redaction id> <marker to wait at>" ("-":
# none) on stdin, a forked child (as Celery's prefork pool runs a task) prints "pid <its pid>" and
# "start", runs the redaction printing each marker it passes, then "done"; once the child is gone
# (killed or done) the parent prints "reaped".
_WORKER = textwrap.dedent(
    """
    import os, signal, sys, traceback
    import django
    django.setup()
    from django.db import connections
    from recordings import redaction_at_rest as module
    from recordings.audio import render  # PyAV loaded before any clock starts, as on a worker

    stop = "-"

    def mark(name):
        print(name, flush=True)
        if name == stop:
            os.kill(os.getpid(), signal.SIGSTOP)  # stopped here, then killed

    def after(function, name):
        def marking(*args, **kwargs):
            result = function(*args, **kwargs)
            mark(name)
            return result
        return marking

    def first_bytes_marked(save):
        def saving(name, reader):
            views = reader.ciphertext_views
            def marked():
                for count, view in enumerate(views()):
                    yield view  # the storage writes it before it asks for the next
                    if count == 0:
                        mark("writing")
            reader.ciphertext_views = marked
            return save(name, reader)
        return saving

    class DeleteMarked:
        def __init__(self, storage):
            self.storage = storage
        def delete(self, name):
            self.storage.delete(name)
            mark("deleted")

    storage = module.recordings_storage
    module.recording_key_wrap = after(module.recording_key_wrap, "claiming")  # in the claim's tx
    module._claim = after(module._claim, "claimed")
    module.ciphertext_save = first_bytes_marked(module.ciphertext_save)
    module._rewrite = after(module._rewrite, "rewritten")
    module.access_event_record = after(module.access_event_record, "swapping")  # in the swap's tx
    module._swap = after(module._swap, "swapped")
    module.recordings_storage = lambda: DeleteMarked(storage())  # only the unredacted blob's delete
    for line in sys.stdin:
        redaction_id, stop = line.split()
        connections.close_all()  # the child opens its own
        child = os.fork()
        if child == 0:
            try:
                print(f"pid {os.getpid()}", flush=True)
                mark("start")
                module.redaction_at_rest_run(redaction_id=int(redaction_id))
                mark("done")
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        print("reaped", flush=True)
    """
)


@dataclass(frozen=True)
class Call:
    name: str
    audio: bytes
    content_type: str


@functools.cache
def pcm_wav() -> Call:
    """Ten minutes of 8 kHz 16-bit mono PCM (9.6 MB)."""
    ten_seconds = tone(8000, 10).tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as output:
        output.setnchannels(1)
        output.setsampwidth(2)
        output.setframerate(8000)
        output.writeframes(ten_seconds * 60)
    return Call("pcm-wav", buffer.getvalue(), "audio/wav")


@functools.cache
def mp3() -> Call:
    """Three minutes of MP3 (PyAV's encoder)."""
    return Call("mp3", encode(FORMATS["mp3"], seconds=180), "audio/mpeg")


@dataclass
class Trial:
    call: Call
    stop: str  # the marker the child stops at to be killed, or "-"
    delay: float | None = None  # or: seconds after its "start" it is killed; neither: not killed


def _card_call(call: Call) -> Recording:
    recording = RecordingFactory(audio=call.audio, content_type=call.content_type)
    SensitiveSegment.objects.create(
        recording=recording, start_seconds=SEGMENT[0], end_seconds=SEGMENT[1], kind="payment_card"
    )
    transcript_store(recording, TRANSCRIPT)
    return recording


class Worker:
    """The worker process; each run a forked child of it, killed with SIGKILL."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = django_subprocess.start(_WORKER, env=env, stdin=True)

    def run(self, trial: Trial, redaction_id: int) -> tuple[list[str], float]:
        """The markers the child printed before its kill (or its end), and the seconds from its
        "start" to then."""
        self.process.stdin.write(f"{redaction_id} {trial.stop}\n")
        self.process.stdin.flush()
        child = self.process.stdout.readline().split()
        assert child[:1] == ["pid"], "the worker did not fork"
        seen = [self.process.stdout.readline().strip()]
        assert seen == ["start"], "the child did not begin"
        started = time.monotonic()
        if trial.delay is not None:
            time.sleep(trial.delay)
        else:
            while seen[-1] not in {trial.stop, "done", "reaped", ""}:
                seen.append(self.process.stdout.readline().strip())
            assert seen[-1] in {trial.stop, "done"}, f"the child died by itself after {seen}"
        elapsed = time.monotonic() - started
        with contextlib.suppress(ProcessLookupError):  # it ended on its own first
            os.kill(int(child[1]), signal.SIGKILL)
        while seen[-1] != "reaped":
            line = self.process.stdout.readline().strip()
            assert line, "the worker died"
            seen.append(line)
        return seen[:-1], elapsed

    def close(self) -> None:
        django_subprocess.kill(self.process)
        self.process.stdin.close()
        self.process.stdout.close()


def _decrypts(name: str, key: bytes, recording: Recording) -> bool:
    with recordings_storage().open(name, "rb") as handle:
        ciphertext = handle.read()
    try:
        decrypt_bytes(ciphertext, key=key, associated_data=recording_aad(recording.pk))
    except StreamingAeadError:
        return False
    return True


def _live_keys(recording: Recording) -> list[bytes]:
    """The keys a live row holds for the recording: its RecordingKey, and a kept unredacted key
    (``previous_wrapped_key``). Not the new key in flight (``target_wrapped_key``, while running):
    it opens only the redacted blob the swap has not taken yet."""
    keys = [recording_key(recording)]
    kept = recording.at_rest_redactions.exclude(previous_wrapped_key=b"")
    for wrapped in kept.values_list("previous_wrapped_key", flat=True):
        keys.append(wrapped_recording_key_open(bytes(wrapped), recording, subject_key(recording.subject)))
    return keys


def _assert_one_readable_version(
    recording: Recording, redaction: AtRestRedaction, original: str, old_key: bytes
) -> None:
    """The recording's blob decrypts under its key (``RecordingKey``) to what its checksum says,
    and its transcript opens. Before the swap that is the original blob under the old key; after
    it, the redacted blob under a new key, and the old key is on no live row. The other version
    (the redacted blob before the swap, the unredacted one after it), if it is in the storage,
    decrypts under no key a live row holds for the recording (``_live_keys``)."""
    recording.refresh_from_db()
    redaction.refresh_from_db()
    with audio_open(name=recording.storage_ref, key=recording_key(recording), recording_id=recording.pk) as r:
        audio = b"".join(r.iter_range(0, None))
    assert hashlib.sha256(audio).hexdigest() == recording.checksum_sha256
    assert len(audio) == recording.size_bytes
    assert transcript_read(recording.transcript) == TRANSCRIPT
    swapped = redaction.status in {Status.SWAPPED, Status.DONE}
    assert recording.storage_ref == (redaction.target_ref if swapped else original), redaction.status
    assert (old_key in _live_keys(recording)) is not swapped
    other = redaction.source_ref if swapped else redaction.target_ref
    if other and recordings_storage().exists(other):
        for key in _live_keys(recording):
            assert not _decrypts(other, key, recording), f"{redaction.status}: {other} opens under a live key"


def _recover(redaction: AtRestRedaction, sent: list[int]) -> None:
    """Beat an hour later, and the task it resends run, until the row is done."""
    for _ in range(MAX_ATTEMPTS):
        sent.clear()
        redactions_at_rest_finish(now=timezone.now() + datetime.timedelta(hours=1))
        redaction.refresh_from_db()
        if redaction.status == Status.PENDING:
            assert sent == [redaction.pk], "beat did not send the pending rewrite again"
            redaction_at_rest_run(redaction_id=redaction.pk)
            redaction.refresh_from_db()
        if redaction.status == Status.DONE:
            return
    pytest.fail(f"still {redaction.status} after {MAX_ATTEMPTS} rounds of beat: {redaction.error}")


def _assert_silent_in_the_segment(call: Call, after: bytes) -> None:
    start, end = (float(bound) for bound in SEGMENT)
    if call.content_type == "audio/wav":
        data = call.audio.index(b"data") + 8
        first, stop = data + int(start) * 16000, data + int(end) * 16000  # 8 kHz, 16-bit
        assert len(after) == len(call.audio)
        assert after[first:stop] == bytes(stop - first)
        assert after[:first] == call.audio[:first] and after[stop:] == call.audio[stop:]
        return
    original, rate = decode(call.audio)
    for index, (old, new) in enumerate(zip(windows(original, rate), windows(*decode(after)), strict=False)):
        first, last = index / 10, (index + 1) / 10
        if first >= start and last <= end:
            assert rms(new) < 50, f"{first:.1f} s is not silent"
        elif last <= start - 0.2 or first >= end + 0.2:
            assert 0.85 < rms(new) / rms(old) < 1.15, f"{first:.1f} s changed"


def _audio_blobs() -> set[str]:
    storage, found, folders = recordings_storage(), set(), [""]
    while folders:
        folder = folders.pop()
        children, files = storage.listdir(folder)
        found |= {f"{folder}/{name}".lstrip("/") for name in files if name.endswith(".tink")}
        folders += [f"{folder}/{child}".lstrip("/") for child in children]
    return found


def _assert_finished(trial: Trial, recording: Recording, redaction: AtRestRedaction, old_key: bytes) -> None:
    recording.refresh_from_db()
    with audio_open(name=recording.storage_ref, key=recording_key(recording), recording_id=recording.pk) as r:
        _assert_silent_in_the_segment(trial.call, b"".join(r.iter_range(0, None)))
    assert transcript_read(recording.transcript) == TRANSCRIPT
    assert recording.storage_ref == redaction.target_ref
    assert not recordings_storage().exists(redaction.source_ref)
    assert bytes(redaction.target_wrapped_key) == bytes(redaction.previous_wrapped_key) == b""
    assert recording.sensitive_segments.get().redacted_at_rest_id == redaction.pk
    # no blob that belongs to nobody, and none missing (the earlier trials' calls count)
    assert _audio_blobs() == set(Recording.objects.values_list("storage_ref", flat=True))
    # the old key in no live row: no recording's key, no key in flight or kept
    live = [recording_key(row.recording) for row in RecordingKey.objects.select_related("recording__subject")]
    for row in AtRestRedaction.objects.select_related("recording__subject"):
        subject_key_bytes = subject_key(row.recording.subject)
        for wrapped in (bytes(row.target_wrapped_key), bytes(row.previous_wrapped_key)):
            if wrapped:
                live.append(wrapped_recording_key_open(wrapped, row.recording, subject_key_bytes))
    assert old_key not in live


def _trial(trial: Trial, worker: Worker, sent: list[int]) -> tuple[str, float]:
    """One run killed where ``trial`` says, the checks, the recovery; the last marker the child
    passed, and the seconds it ran."""
    recording = _card_call(trial.call)
    original, old_key = recording.storage_ref, recording_key(recording)
    sent.clear()
    redaction = redaction_at_rest_request(recording=recording)
    assert redaction is not None and sent == [redaction.pk]
    seen, elapsed = worker.run(trial, redaction.pk)
    redaction.refresh_from_db()
    if trial.stop in LEFT_AT:
        assert redaction.status == LEFT_AT[trial.stop]
    if trial.stop == "writing":  # what beat has to delete
        assert recordings_storage().exists(redaction.target_ref)
    _assert_one_readable_version(recording, redaction, original, old_key)
    _recover(redaction, sent)
    _assert_finished(trial, recording, redaction, old_key)
    return seen[-1], elapsed


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="another process cannot share the in-memory SQLite test database",
)
def test_a_rewrite_killed_anywhere_leaves_one_readable_version_and_beat_finishes_it(tmp_path, monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(redact_recording_at_rest, "delay", sent.append)  # the test plays the worker
    env = django_subprocess.django_env(var_dir=tmp_path, CELERY_BROKER_URL="memory://")
    assert settings.STORAGES["recordings"]["OPTIONS"]["location"] == str(tmp_path / "recordings")
    killed_in: dict[str, list[str]] = {}  # the last marker before the kill: the trials
    worker = Worker(env)
    try:
        for call in (pcm_wav(), mp3()):
            # uninterrupted runs first: how long the timed kills have to spread over
            duration = min(_trial(Trial(call, stop="-"), worker, sent)[1] for _ in range(2))
            trials = [Trial(call, stop=marker) for marker in LEFT_AT]
            trials += [Trial(call, stop="-", delay=duration * fraction) for fraction in FRACTIONS]
            for trial in trials:
                last, _elapsed = _trial(trial, worker, sent)
                killed_in.setdefault(last, []).append(f"{call.name} {trial.stop} {trial.delay}")
    finally:
        worker.close()
    assert sum(map(len, killed_in.values())) == 20
    assert set(LEFT_AT) <= set(killed_in), killed_in  # every phase boundary, in both formats


@pytest.mark.django_db
def test_a_stalled_rewrite_handed_back_and_claimed_again_does_not_swap_in_its_deleted_blob():
    # given: a worker that claimed and rewrote, then stalled (paused, not dead) past RUN_TIMEOUT
    recording = _card_call(pcm_wav())
    original = recording.storage_ref
    redaction = redaction_at_rest_request(recording=recording)
    assert redaction is not None
    stalled = redaction_at_rest._claim(redaction.pk)
    assert stalled is not None
    written = redaction_at_rest._rewrite(stalled)
    # when: beat hands its row back (deleting its blob), another worker claims it again, and the
    # stalled worker wakes up and goes on to its swap
    assert redactions_at_rest_finish(now=timezone.now() + datetime.timedelta(hours=1))["handed_back"] == 1
    assert not recordings_storage().exists(written.name)
    assert redaction_at_rest._claim(redaction.pk) is not None
    swapped = redaction_at_rest._swap(stalled, written)
    redaction_at_rest.unredacted_version_remove(redaction_id=redaction.pk, now=timezone.now())
    # then: the recording is as it was and readable; the new claim goes on
    recording.refresh_from_db()
    assert recordings_storage().exists(recording.storage_ref), "the recording points at a deleted blob"
    assert recording.storage_ref == original and not swapped
    redaction.refresh_from_db()
    assert redaction.status == Status.RUNNING and bytes(redaction.target_wrapped_key)
