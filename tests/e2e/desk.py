"""The DPO's desk as the journeys drive it in the browser: logging in, reading the request page,
taking its steps. One copy for every journey (tests/e2e/test_dpo_*.py)."""

from __future__ import annotations

import re

PASSWORD = "correct horse battery staple"  # UserFactory's, for throwaway test accounts


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def log_out(page) -> None:
    page.locator("#logout-form [type=submit]").click()
    page.wait_for_url(re.compile(r"/admin/logout/$"))


def readonly(page, field: str):
    """A read-only field's value on the request page."""
    return page.locator(f".field-{field} .readonly")


def current_stage(page) -> str:
    return page.locator(".dsr-progress .dsr-stage-current").inner_text().strip()


def click_step(page, title: str, pk: int, step: str) -> None:
    page.locator(".field-workflow_steps").get_by_role("link", name=title, exact=True).click()
    page.wait_for_url(re.compile(rf"/admin/dsr/datasubjectrequest/{pk}/step/{step}/$"))


def no_dangerous_default(page) -> None:
    """Every select on the step's page starts on the empty choice."""
    for select in page.locator(".dsr-step select").all():
        assert select.evaluate("s => s.value") == "", select.get_attribute("name")


def run_step(page, pk: int) -> None:
    """Submit the step's form; success lands back on the request's page."""
    page.locator(".dsr-step [name=_run]").click()
    page.wait_for_url(re.compile(rf"/admin/dsr/datasubjectrequest/{pk}/change/$"))
