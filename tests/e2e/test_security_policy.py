"""The console under its Content-Security-Policy in a real browser (security review, issue 12, finding 3):
every page loads with the policy, without a single violation or console error; live regions poll without
eval, and pause while the tab is hidden, as their trigger filter says. And for the idle timeout: the
person's own htmx requests are marked as activity, polls are not."""

from __future__ import annotations

import re

import pytest

from deployments import sync
from deployments.models import Role
from deployments.roles import role_grant
from tests.deployments.seeding import make_target, start
from tests.e2e.helpers import log_in

pytestmark = pytest.mark.e2e

# Before any page script: collect what the policy blocks (the browser also logs it as a console error).
COLLECT_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile);
});
"""


@pytest.fixture
def watched(page):
    """The page, with its console errors, uncaught exceptions and htmx requests collected."""
    problems: list[str] = []
    htmx_requests: list = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on(
        "request",
        lambda request: htmx_requests.append(request) if request.headers.get("hx-request") else None,
    )
    page.add_init_script(COLLECT_VIOLATIONS)
    return page, problems, htmx_requests


@pytest.fixture
def in_progress(live_account, scaled_boto, background_sync, eager_tasks, make_user):
    """A deployment that stays in progress for the whole test (600 emulated minutes at 60x)."""
    user = make_user(Role.OPERATOR, username="policy")
    role_grant(user=user, role=Role.AUDITOR)
    target = make_target(scaled_boto, name="payments", environment="prod", duration=600, growth=10.0, bake=10)
    number = start(scaled_boto, target)
    sync.sync_account(account=live_account)
    background_sync()
    return target, number


def test_it_runs_every_page_within_the_policy(watched, live_server, in_progress):
    page, problems, htmx_requests = watched
    target, number = in_progress
    app, env = target.application_id, target.environment_id
    log_in(page, live_server, "policy")
    paths = [
        "/",
        "/applications/",
        f"/applications/{app}/",
        f"/applications/{app}/environments/{env}/",
        f"/applications/{app}/environments/{env}/deployments/{number}/",
        "/stop-requests/",
        "/audit/",
    ]
    for path in paths:
        response = page.goto(f"{live_server.url}{path}")
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        page.wait_for_timeout(2_500)  # a poll or more where the page is live
        assert page.evaluate("window.__violations") == [], path
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    page.goto(f"{live_server.url}/admin/login/")
    assert page.evaluate("window.__violations") == [], "/admin/login/"

    assert problems == []
    polled = {re.sub(r"\?.*", "", request.url.removeprefix(live_server.url)) for request in htmx_requests}
    assert {"/", f"/applications/{app}/environments/{env}/deployments/{number}/"} <= polled


def test_it_pauses_polling_while_the_tab_is_hidden(watched, live_server, in_progress):
    page, problems, htmx_requests = watched
    target, number = in_progress
    log_in(page, live_server, "policy")
    page.goto(
        f"{live_server.url}/applications/{target.application_id}/environments/{target.environment_id}"
        f"/deployments/{number}/"
    )
    page.wait_for_timeout(4_500)
    assert len(htmx_requests) >= 2, "the live regions did not poll"

    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'})"
    )
    page.wait_for_timeout(500)  # a request already on its way
    hidden_from = len(htmx_requests)
    page.wait_for_timeout(4_500)
    assert len(htmx_requests) == hidden_from, "polls went on while the tab was hidden"

    page.evaluate("delete document.visibilityState")
    page.wait_for_timeout(4_500)
    assert len(htmx_requests) > hidden_from, "polls did not resume when the tab came back"
    assert problems == []


def test_it_marks_the_persons_htmx_requests_as_activity_and_not_the_polls(watched, live_server, in_progress):
    page, problems, htmx_requests = watched
    log_in(page, live_server, "policy")
    page.wait_for_timeout(2_500)  # the dashboard polls while a deployment is in progress
    polls = list(htmx_requests)
    assert polls, "the dashboard did not poll"
    assert all("x-console-activity" not in poll.headers for poll in polls)

    page.goto(f"{live_server.url}/applications/")
    with page.expect_request(lambda request: "q=pay" in request.url) as searched:
        page.locator("#q").fill("pay")
    assert searched.value.headers.get("hx-request") == "true"
    assert searched.value.headers.get("x-console-activity") == "user"
    assert problems == []
