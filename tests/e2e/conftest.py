"""Fixtures for real-browser tests: Playwright's sync API driving Debian's Chromium.

The browser is Debian's ``/usr/bin/chromium`` (or ``$CUSTOS_CHROMIUM``); Playwright's own browser
download is not used. Without the binary the tests are skipped, unless ``CUSTOS_REQUIRE_BROWSER=1``
(set by CI), in which case they fail: a CI run must never go green by skipping its browser tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_TIMEOUT_MS = 10_000


def _chromium_path() -> str:
    return os.environ.get("CUSTOS_CHROMIUM") or "/usr/bin/chromium"


def _browser_required() -> bool:
    return os.environ.get("CUSTOS_REQUIRE_BROWSER", "").strip().lower() in {"1", "true", "yes"}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the item, so that fixtures can see in teardown whether the test
    # failed (for the screenshot).
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="package", autouse=True)
def _async_unsafe_allowed() -> Iterator[None]:
    """Let the ORM run beside Playwright, for these tests only.

    Playwright's sync API keeps an event loop running in the test thread from start to stop, and
    Django's ORM refuses to run in a thread with a running loop unless DJANGO_ALLOW_ASYNC_UNSAFE
    says this is deliberate. The variable is set for this package only and removed afterwards: a
    process-wide setting would leak into the subprocesses of other tests (``check --deploy``
    reports it as async.E001). The browser (and its loop) is package-scoped for the same reason.
    """
    name = "DJANGO_ALLOW_ASYNC_UNSAFE"
    previous = os.environ.get(name)
    os.environ[name] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


@pytest.fixture(scope="package")
def chromium_browser(_async_unsafe_allowed) -> Iterator:
    executable = _chromium_path()
    if not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        reason = (
            f"Chromium not found at {executable} (install Debian's package: "
            "`apt-get install -y chromium`, or point CUSTOS_CHROMIUM at a binary)"
        )
        if _browser_required():
            pytest.fail(f"CUSTOS_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # a dev dependency; its absence is an environment problem
        if _browser_required():
            pytest.fail(f"CUSTOS_REQUIRE_BROWSER=1 but playwright is not importable: {exc}", pytrace=False)
        pytest.skip(f"playwright is not installed: {exc}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class ConsoleLog:
    """Console errors and uncaught page exceptions seen by one page."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def on_console(self, message) -> None:
        if message.type == "error":
            location = message.location or {}
            self.errors.append(f"console.error: {message.text} ({location.get('url', '?')})")

    def on_page_error(self, error) -> None:
        self.errors.append(f"uncaught exception: {error}")

    def on_request_failed(self, request) -> None:
        if "ERR_ABORTED" in (request.failure or ""):
            return  # a load cut short by the next navigation, not a broken page
        self.errors.append(f"request failed: {request.method} {request.url} ({request.failure})")


@pytest.fixture
def console_log() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
def page(chromium_browser, console_log: ConsoleLog, request, tmp_path: Path) -> Iterator:
    context = chromium_browser.new_context(locale="en-GB", timezone_id="Europe/Berlin")
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    page.on("console", console_log.on_console)
    page.on("pageerror", console_log.on_page_error)
    page.on("requestfailed", console_log.on_request_failed)
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            shot = tmp_path / "failure.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
                print(f"\nScreenshot of the failing page ({page.url}): {shot}")
            except Exception as exc:  # a screenshot must never hide the real failure
                print(f"\nCould not take a screenshot: {exc}")
        context.close()


# Screenshots of every journey step, kept as CI artefacts (CI keeps ``var/``): a reviewer sees
# what the DPO, the QA lead or the auditor saw at each step, failed or not.
SCREENSHOT_ROOT = Path(__file__).resolve().parents[2] / "var" / "e2e-screenshots"


class Journey:
    """Numbered full-page screenshots of one test's steps under ``var/e2e-screenshots/<test>/``."""

    def __init__(self, page, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.taken: list[Path] = []

    def shot(self, name: str, page=None) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower()).strip("-")
        path = self.folder / f"{len(self.taken) + 1:02d}-{slug}.png"
        (page or self.page).screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


@pytest.fixture
def journey(page, request) -> Journey:
    folder = SCREENSHOT_ROOT / request.node.name.replace("[", "-").replace("]", "")
    if folder.exists():
        for old in folder.glob("*.png"):
            old.unlink()
    return Journey(page, folder)
