"""axe-core (axe-playwright-python) finds no serious or critical violation on the console's pages, at
1280 px and on a phone-sized screen; every page is usable with the keyboard alone."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from deployments import sync
from deployments.models import Role
from tests.deployments.seeding import make_target, start
from tests.e2e.helpers import log_in

pytestmark = pytest.mark.e2e

SERIOUS = ("serious", "critical")


def _violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


@pytest.fixture
def seeded(live_account, scaled_boto, make_user, serialised, eager_tasks):
    """A finished deployment (event log not cached: the page fetches it) and one in progress."""
    make_user(Role.OPERATOR, username="axe")
    quick = make_target(scaled_boto, name="search", environment="staging", duration=0, growth=100.0, bake=0)
    start(scaled_boto, quick)
    slow = make_target(scaled_boto, name="payments", environment="prod", duration=600, growth=10.0, bake=10)
    start(scaled_boto, slow)
    sync.sync_account(account=live_account)
    return quick, slow


def test_every_page_has_no_serious_accessibility_violation(page, live_server, seeded):
    quick, slow = seeded
    page.goto(f"{live_server.url}/accounts/login/")
    problems = {"login": _violations(page)}
    log_in(page, live_server, "axe")
    app, env = slow.application_id, slow.environment_id
    pages = {
        "dashboard": "/",
        "applications": "/applications/",
        "application": f"/applications/{app}/",
        "environment": f"/applications/{app}/environments/{env}/",
        "deployment in progress": f"/applications/{app}/environments/{env}/deployments/1/",
        "finished deployment": f"/applications/{quick.application_id}/environments/{quick.environment_id}"
        "/deployments/1/",
        "configuration diff": f"/applications/{app}/environments/{env}/deployments/1/configuration/",
        "evidence pack": f"/applications/{app}/environments/{env}/deployments/1/evidence/",
        "not found": "/applications/nosuch1/",
    }
    for size in ({"width": 1280, "height": 900}, {"width": 390, "height": 844}):
        page.set_viewport_size(size)
        for name, path in pages.items():
            page.goto(f"{live_server.url}{path}")
            problems[f"{name} at {size['width']} px"] = _violations(page)
    assert {name: found for name, found in problems.items() if found} == {}


def test_the_controls_are_reachable_with_the_keyboard(page, live_server, seeded):
    _, slow = seeded
    log_in(page, live_server, "axe")
    page.goto(f"{live_server.url}/applications/{slow.application_id}/environments/{slow.environment_id}/")
    reached = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
    assert {"Skip to content", "Dashboard", "Applications", "Sign out", "Sync now", "state"} <= reached
    # The deployment link: "#1", and for screen readers which application and environment it belongs to.
    assert any(text.startswith("#1 of ") for text in reached)
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Sync now").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#sync-now [role=status]")).to_contain_text("Sync of prod requested")
