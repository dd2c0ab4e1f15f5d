"""A share link's token never reaches a log: not gunicorn's access or error log with the README's
command, not the development server's request log, not Django's request warnings, not the 500
email. Links of the current form keep it in the fragment, which no request carries; links of the
old form (``/shares/<token>/audio``) have it masked."""

from __future__ import annotations

import datetime
import http.cookiejar
import logging
import os
import re
import shlex
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.utils import timezone
from gunicorn.config import Config

from compliance_site.gunicorn_logging import RedactingLogger
from compliance_site.log_redaction import mask_share_tokens
from recordings.models import Purpose, Recipient
from recordings.sharing.services import share_create
from tests.celery_processes import wait_until
from tests.factories import PurposeFactory, RecordingFactory, _wav

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "Zm9vYmFyYmF6cXV4LXRva2VuLW9mLWZvcnR5LXRocmVl"  # the shape of secrets.token_urlsafe(32)


def readme_gunicorn_arguments() -> list[str]:
    """The gunicorn command the README gives for production logs, as argv after ``gunicorn``."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(
        r"```sh\n(gunicorn (?:-c \S+ )?compliance_site\.wsgi [^`]*?--access-logformat[^`]*?)\n```", readme
    )
    assert block, "the README's gunicorn command with its log format is gone"
    argv = shlex.split(block.group(1).replace("\\\n", " "))
    assert argv[0] == "gunicorn"
    return argv[1:]


@pytest.mark.parametrize(
    ("line", "logged"),
    [
        (f"GET /shares/{TOKEN}/audio HTTP/1.1", "GET /shares/…/audio HTTP/1.1"),
        (f"Not Found: /shares/{TOKEN}/audio", "Not Found: /shares/…/audio"),
        (f"https://custos.example/SHARES/{TOKEN}", "https://custos.example/SHARES/…"),
        (f'"GET /shares/{TOKEN}/audio?x=1 HTTP/1.1" 302', '"GET /shares/…/audio?x=1 HTTP/1.1" 302'),
        ("POST /shares/open HTTP/1.1", "POST /shares/open HTTP/1.1"),
        ("GET /shares/s/42/audio HTTP/1.1", "GET /shares/s/42/audio HTTP/1.1"),
        ("GET /admin/recordings/share/ HTTP/1.1", "GET /admin/recordings/share/ HTTP/1.1"),
    ],
)
def test_a_token_in_a_path_is_masked_and_token_free_routes_are_kept(line, logged):
    assert mask_share_tokens(line) == logged


def test_the_development_servers_request_log_masks_the_token():
    # as django.core.servers.basehttp.WSGIRequestHandler.log_message writes it
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    server = logging.getLogger("django.server")
    handler = Keep()
    server.addHandler(handler)
    try:
        server.info('"%s" %s %s', f"GET /shares/{TOKEN}/audio HTTP/1.1", "302", "0")
    finally:
        server.removeHandler(handler)

    assert records == ['"GET /shares/…/audio HTTP/1.1" 302 0']


@pytest.mark.django_db
def test_djangos_request_warnings_and_the_500_email_mask_the_token(client, caplog, settings, monkeypatch):
    # given: error mails on, as in production, and a share view that fails
    settings.ADMINS = [("Ops", "ops@custos.example")]
    settings.DEBUG = False
    client.raise_request_exception = False

    # when: an unknown link of the old form (a "Not Found" warning), then a failing one (a 500)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(f"/shares/{TOKEN}/audio").status_code == 404

        def fail(token):
            raise RuntimeError("database gone")

        monkeypatch.setattr("recordings.sharing.views.share_for_token_hash", fail)
        assert client.get(f"/shares/{TOKEN}/audio").status_code == 500

    # then
    assert "Not Found: /shares/…/audio" in caplog.text
    assert "Internal Server Error: /shares/…/audio" in caplog.text
    assert TOKEN not in caplog.text
    [email] = mail.outbox
    assert "RuntimeError" in email.body
    for part in (email.subject, email.body, *(content for content, _ in email.alternatives)):
        assert TOKEN not in part


def test_gunicorns_access_log_with_the_readmes_format_masks_the_token(tmp_path):
    # given: gunicorn's configuration from the README's command, writing to a file
    cfg = Config()
    parser = cfg.parser()
    access_log, error_log = tmp_path / "access.log", tmp_path / "error.log"
    options = parser.parse_args(
        [*readme_gunicorn_arguments(), "--access-logfile", str(access_log), "--error-logfile", str(error_log)]
    )
    for name, value in vars(options).items():
        if value is not None and name != "args":
            cfg.set(name.lower(), value)
    assert cfg.logger_class is RedactingLogger
    log = cfg.logger_class(cfg)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/shares/{TOKEN}/audio",
        "PATH_INFO": f"/shares/{TOKEN}/audio",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.7",
        "HTTP_REFERER": f"https://custos.example/shares/{TOKEN}/audio",
    }
    response = SimpleNamespace(status="302 Found", sent=0, headers=[("Location", "/shares/s/1/audio")])
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])

    # when
    log.access(response, request, environ, datetime.timedelta(milliseconds=3))
    log.error("Error handling request %s", environ["RAW_URI"])
    for handler in (*log.access_log.handlers, *log.error_log.handlers):
        handler.flush()

    # then
    line = access_log.read_text()
    assert '"GET /shares/…/audio HTTP/1.1" 302 0' in line
    assert TOKEN not in line
    assert "Error handling request /shares/…/audio" in error_log.read_text()
    assert TOKEN not in error_log.read_text()


# --- gunicorn and runserver for real, against a share ------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def live_share(transactional_db, dpo, queue_a):
    """A share committed to the test database, which a server process reads."""
    if connection.vendor != "postgresql":
        if os.environ.get("CUSTOS_REQUIRE_SERVICES") == "1":
            pytest.fail("a server process needs the PostgreSQL test database")
        pytest.skip("a server process cannot share SQLite's in-memory test database")
    sharing = PurposeFactory(code=Purpose.SHARING, name="Sharing with third parties")
    recording = RecordingFactory(queue=queue_a, audio=_wav(seconds=1), purposes=[sharing])
    recipient = Recipient.objects.create(name="Dispute Lawyers LLP", role="third_party", country="DE")
    share, token = share_create(
        recording=recording,
        recipient=recipient,
        ground="consent",
        expires_at=timezone.now() + datetime.timedelta(days=1),
        actor=dpo,
    )
    return share, token


def _server_env() -> dict[str, str]:
    db = connection.settings_dict
    location = Path(settings.STORAGES["recordings"]["OPTIONS"]["location"])
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "CUSTOS_ENV")}
    return {
        **env,
        "DATABASE_URL": (
            f"postgres://{quote(db['USER'] or '', safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
            f"@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        ),
        "CUSTOS_VAR_DIR": str(location.parent),
        "RECORDINGS_STORAGE": "local",
        "CUSTOS_KEYRING_PATH": str(settings.LOCAL_KEYRING_PATH),
        "KEY_PROVIDER": "local",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
    }


def _browse(base: str, token: str, share_id: int) -> None:
    """What a recipient's browser does with each form of the link; every answer as expected."""
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    # the current form: the page, then its script's POST of the fragment's token
    page = browser.open(f"{base}/shares/open", timeout=30).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"token": token, "csrfmiddlewaretoken": csrf}).encode()
    audio = browser.open(f"{base}/shares/open", data=form, timeout=30)
    assert audio.status == 200 and audio.url == f"{base}/shares/s/{share_id}/audio"
    ranged = browser.open(urllib.request.Request(audio.url, headers={"Range": "bytes=0-99"}), timeout=30)
    assert ranged.status == 206 and len(ranged.read()) == 100
    # the old form, straight from a mail
    old = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    request = urllib.request.Request(f"{base}/shares/{token}/audio", headers={"Range": "bytes=0-9"})
    answer = old.open(request, timeout=30)
    assert answer.status == 206 and answer.url == f"{base}/shares/s/{share_id}/audio"
    with pytest.raises(urllib.error.HTTPError) as unknown:
        old.open(f"{base}/shares/{TOKEN}/audio", timeout=30)
    assert unknown.value.code == 404


def _run_server(argv: list[str], log: Path, port: int, share, token: str) -> str:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=_server_env(), stdout=out, stderr=subprocess.STDOUT)
    try:

        def answers() -> bool:
            if process.poll() is not None:
                pytest.fail(f"the server exited:\n{log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return True
            except OSError:
                return False

        wait_until(answers, timeout=90, message="the server did not listen")
        _browse(f"http://127.0.0.1:{port}", token, share.pk)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return log.read_text(errors="replace")


def test_gunicorn_run_with_the_readmes_command_logs_no_token(live_share, tmp_path):
    # given: gunicorn started exactly as the README says, on a free port
    share, token = live_share
    port = _free_port()
    argv = [sys.executable, "-m", "gunicorn", *readme_gunicorn_arguments(), "--bind", f"127.0.0.1:{port}"]

    # when: a recipient opens the link in both forms, and an unknown link is tried
    logged = _run_server(argv, tmp_path / "gunicorn.log", port, share, token)

    # then: the access log has each request, none with a token
    assert '"POST /shares/open HTTP/1.1" 303' in logged
    assert f'"GET /shares/s/{share.pk}/audio HTTP/1.1" 206 100' in logged
    assert '"GET /shares/…/audio HTTP/1.1" 302' in logged
    assert '"GET /shares/…/audio HTTP/1.1" 404' in logged
    assert token not in logged and TOKEN not in logged


def test_runserver_logs_no_token(live_share, tmp_path):
    share, token = live_share
    port = _free_port()
    argv = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"]

    logged = _run_server(argv, tmp_path / "runserver.log", port, share, token)

    assert f'"GET /shares/s/{share.pk}/audio HTTP/1.1" 206 100' in logged
    assert '"GET /shares/…/audio HTTP/1.1" 302' in logged
    assert "Not Found: /shares/…/audio" in logged
    assert token not in logged and TOKEN not in logged
