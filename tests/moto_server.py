"""A real moto server process for tests that talk to AWS (KMS, S3, ...) over HTTP.

The in-process ``mock_aws`` decorator patches botocore; a server process is what the code meets
in production instead: real HTTP, real endpoint URLs, clients created anywhere (other threads,
subprocesses). Use it from a conftest::

    from tests.moto_server import moto_server  # noqa: F401

and ask for the ``moto_server`` fixture, which yields the endpoint URL. One server serves the
whole session (one per xdist worker), so tests should use unique names (buckets, aliases) or
call ``moto_reset``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

STARTUP_TIMEOUT_SECONDS = 20.0

# Dummy credentials: botocore refuses to sign without some, and real ones must never be used.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-central-1",
}
# Removed for the session, so that no profile or config file points botocore at a real account.
_UNSET_AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False
    return True


def moto_reset(endpoint_url: str) -> None:
    """Forget every resource of every service on the server."""
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=5).close()


def _start(log) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port), "-H", "127.0.0.1"],
        stdout=log,
        stderr=subprocess.STDOUT,  # to a file: a pipe nobody reads would block the server
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _answers(url):
            return process, url
        time.sleep(0.05)
    _stop(process)
    log.seek(0)
    raise RuntimeError(f"moto server did not answer on {url}:\n{log.read().decode(errors='replace')[-2000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The endpoint URL of a moto server running for the session, with fake AWS credentials."""
    saved = {name: os.environ.get(name) for name in (*FAKE_AWS_ENV, *_UNSET_AWS_ENV)}
    os.environ.update(FAKE_AWS_ENV)
    for name in _UNSET_AWS_ENV:
        os.environ.pop(name, None)
    with tempfile.TemporaryFile() as log:
        try:
            try:
                process, url = _start(log)
            except RuntimeError:
                # The free port may have been taken between choosing it and binding it: once more.
                log.seek(0)
                log.truncate()
                process, url = _start(log)
            try:
                yield url
            finally:
                _stop(process)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
