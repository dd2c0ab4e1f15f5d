"""An upload's plaintext touches the disk only in the spool (never the system's temporary folder),
and what a process killed mid-upload leaves there is deleted by beat's task and by the next
start of a web process, while a live process's upload is never touched."""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from compliance_site import spool
from compliance_site.tasks import clean_upload_spool
from recordings.intake import services
from recordings.models import Recording
from tests.django_subprocess import ROOT
from tests.recordings.ingest_factories import WAV, call_metadata, reference_rows
from tests.recordings.test_admin_upload import upload as admin_form

# Above FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB): Django streams it to a file instead of memory.
BIG_WAV = WAV + bytes(4 * 1024 * 1024)
MARKER = b"CALLER-SAYS-HER-CARD-NUMBER-" * 64  # plaintext a leftover must not hold anywhere else


@pytest.fixture
def spool_dir(settings, tmp_path) -> Path:
    settings.CUSTOS_SPOOL_DIR = tmp_path / "spool"
    return settings.CUSTOS_SPOOL_DIR


@pytest.fixture
def system_temp(tmp_path, monkeypatch) -> Path:
    """The system's temporary folder, as Python's tempfile (and Django's default) sees it."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _uploads(folder: Path) -> list[Path]:
    return [p for p in _files(folder) if p.name != spool.LOCK_NAME]


def _watch_the_store_step(monkeypatch, spool_dir: Path, system_temp: Path) -> dict:
    """Notes, at the moment ingest encrypts the upload, where its plaintext is on disk."""
    seen: dict = {}
    store = services.audio_store

    def noting(*, plaintext, **kwargs):
        seen["path"] = Path(plaintext.temporary_file_path())
        seen["spool"], seen["system_temp"] = _uploads(spool_dir), _files(system_temp)
        return store(plaintext=plaintext, **kwargs)

    monkeypatch.setattr(services, "audio_store", noting)
    return seen


def _assert_only_in_the_spool(seen: dict, spool_dir: Path) -> None:
    assert seen["system_temp"] == []
    assert seen["spool"] == [seen["path"]]
    folder = seen["path"].parent
    assert folder.parent == spool_dir and folder.name.startswith(f"{os.getpid()}-")
    assert stat.S_IMODE(spool_dir.stat().st_mode) == stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not seen["path"].exists()  # deleted when the request ended
    assert "call" not in seen["path"].name  # nothing of the client's file name


@pytest.mark.django_db
def test_an_api_upload_writes_nothing_to_the_system_temp_folder(spool_dir, system_temp, monkeypatch):
    # given: an integration pushing a call too large to be held in memory
    reference_rows()
    cache.clear()  # the ingest throttle
    out = io.StringIO()
    call_command("create_integration", "pbx-spool", stdout=out, stderr=io.StringIO())
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")
    seen = _watch_the_store_step(monkeypatch, spool_dir, system_temp)
    audio = io.BytesIO(BIG_WAV)
    audio.name = "call.wav"

    # when
    response = api.post(
        "/api/v1/recordings/", {"audio": audio, "metadata": json.dumps(call_metadata())}, format="multipart"
    )

    # then
    assert response.status_code == 201, response.content
    _assert_only_in_the_spool(seen, spool_dir)
    assert _files(system_temp) == []


@pytest.mark.django_db
def test_an_admin_upload_writes_nothing_to_the_system_temp_folder(
    client, dpo, spool_dir, system_temp, monkeypatch
):
    client.force_login(dpo)
    seen = _watch_the_store_step(monkeypatch, spool_dir, system_temp)

    response = client.post(reverse("admin:recordings_recording_add"), admin_form(reference_rows(), BIG_WAV))

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Recording.objects.count() == 1
    _assert_only_in_the_spool(seen, spool_dir)
    assert _files(system_temp) == []


def test_the_spool_cleaning_spares_live_folders_and_young_files(spool_dir):
    own = spool.process_spool_dir()
    live_upload = own / "x.upload"
    live_upload.write_bytes(MARKER)
    stray = spool_dir / "tmpabc.upload"  # Django's own handler, through FILE_UPLOAD_TEMP_DIR
    stray.write_bytes(MARKER)
    dead = spool_dir / "999999-deadbeef0000"  # a dead process's folder: its lock is free
    dead.mkdir()
    (dead / spool.LOCK_NAME).touch()
    (dead / "y.upload").write_bytes(MARKER)

    cleaned = spool.spool_clean()

    assert (cleaned.folders, cleaned.files) == (1, 0)
    assert live_upload.exists() and stray.exists() and not dead.exists()
    later = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(minutes=361)
    assert spool.spool_clean(now=later).files == 2  # past the bound: leaked, whoever's it is
    assert not live_upload.exists() and not stray.exists()
    assert (own / spool.LOCK_NAME).exists()  # the live process keeps its folder


# --- Killed for real -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """gunicorn (one sync worker) serving Custos, in a session of its own: killing the group
    kills master and worker at once (kill -9), as a lost container or the OOM killer would."""

    def __init__(self, tmp_path: Path, spool_dir: Path, system_temp: Path, name: str) -> None:
        self.port = _free_port()
        self.log = tmp_path / f"{name}.log"
        env = {
            **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}},
            "DJANGO_SETTINGS_MODULE": "compliance_site.settings",
            "CUSTOS_VAR_DIR": str(tmp_path / "var"),
            "CUSTOS_SPOOL_DIR": str(spool_dir),
            "TMPDIR": str(system_temp),  # the system's temporary folder, for this process
            "PYTHONPATH": str(ROOT),
        }
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "gunicorn"),
                    "compliance_site.wsgi",
                    f"--bind=127.0.0.1:{self.port}",
                    "--workers=1",
                    "--timeout=120",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_serving()

    def _wait_serving(self) -> None:
        """Until the worker answers: it has loaded the application, start-up hook included."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1) as conn:
                conn.sendall(b"GET /admin/login/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                if conn.recv(12).startswith(b"HTTP/1."):
                    return
            time.sleep(0.2)
        pytest.fail(f"gunicorn did not serve: {self.log.read_text()}")

    def start_upload(self) -> tuple[socket.socket, bytes, bytes]:
        """An upload to the admin's add page, sent as far as the middle of its audio; the rest
        is returned. Anonymous: CSRF checking reads the form, and so the file, before any login
        check. (Authenticated uploads go through the same handler; see the tests above.)"""
        boundary = "custos-spool-test"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="call.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        audio = WAV + MARKER * 2048  # 3.5 MB
        tail = f"\r\n--{boundary}--\r\n".encode()
        body = head + audio + tail
        request = (
            f"POST {reverse('admin:recordings_recording_add')} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n"
            f"Cookie: csrftoken={'a' * 32}\r\nConnection: close\r\n\r\n"
        ).encode()
        conn = socket.create_connection(("127.0.0.1", self.port), 10)
        middle = len(head) + len(audio) // 2
        conn.sendall(request + body[:middle])
        return conn, body[middle:], audio

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        # The worker, orphaned by its master's death, is gone once no process is left in the group.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)
        pytest.fail("gunicorn's worker outlived kill -9")


def _wait_for_upload(spool_dir: Path, at_least: int) -> Path:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        grown = [p for p in _uploads(spool_dir) if p.stat().st_size >= at_least]
        if grown:
            return grown[0]
        time.sleep(0.05)
    pytest.fail(f"no upload of {at_least} bytes in the spool: {_uploads(spool_dir)}")


@pytest.mark.timeout(240)
def test_a_server_killed_mid_upload_leaves_it_only_in_the_spool_and_cleaning_removes_it(
    tmp_path, spool_dir, settings
):
    system_temp = tmp_path / "system-tmp"
    system_temp.mkdir()
    servers: list[Server] = []
    try:
        # given: a server receiving a large upload slowly, its first half on disk
        first = Server(tmp_path, spool_dir, system_temp, "first")
        servers.append(first)
        conn, rest, audio = first.start_upload()
        in_progress = _wait_for_upload(spool_dir, at_least=len(audio) // 4)

        # when: a second server starts meanwhile (its start-up cleans the spool)
        second = Server(tmp_path, spool_dir, system_temp, "second")
        servers.append(second)

        # then: the live upload is untouched, and still being written
        assert in_progress.exists()
        conn.sendall(rest[: len(rest) // 4])
        _wait_for_upload(spool_dir, at_least=len(audio) // 2 + len(rest) // 8)

        # when: the first server is killed mid-upload (kill -9)
        first.kill()
        conn.close()

        # then: the plaintext left behind is in the spool only, in the dead process's folder
        assert _files(system_temp) == []
        leftovers = _uploads(spool_dir)
        assert leftovers == [in_progress]
        assert MARKER in in_progress.read_bytes()
        assert not any(MARKER in p.read_bytes() for p in _files(tmp_path / "var"))

        # when: beat's task runs (here, in this process, on the same spool)
        removed = clean_upload_spool()

        # then: the dead process's folder is gone
        assert removed == 1
        assert _uploads(spool_dir) == []
        assert not in_progress.parent.exists()

        # given: the second server killed mid-upload too
        conn, rest, audio = second.start_upload()
        second_leftover = _wait_for_upload(spool_dir, at_least=len(audio) // 4)
        second.kill()
        conn.close()
        assert _uploads(spool_dir) == [second_leftover]

        # when: a web process starts again
        servers.append(Server(tmp_path, spool_dir, system_temp, "third"))

        # then: its start-up deleted the leftover before it served anything
        assert _uploads(spool_dir) == []
        assert not second_leftover.parent.exists()
        assert _files(system_temp) == []
    finally:
        for server in servers:
            server.kill()
