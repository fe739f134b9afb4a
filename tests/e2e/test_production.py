"""A browser against a console started the production way, as .ci/run starts it: gunicorn from the Procfile
(DEBUG off, hashed static files from WhiteNoise), a Celery worker and beat, PostgreSQL, Redis as broker and
cache (CACHE_URL). E2E_BASE_URL is its address; DATABASE_URL the database it uses, which this test seeds
directly (an account pointing at this test's emulator, users, roles) and leaves to the server's own worker
and beat to sync and to stop. Skipped without E2E_BASE_URL (`make test` runs the in-process browser tests).
"""

from __future__ import annotations

import os
import re
import urllib.request
import uuid
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from deployments.models import Account, Deployment, Role, StopRequest, SyncRun
from deployments.roles import role_grant
from tests.deployments.seeding import make_target, start
from tests.e2e.helpers import log_in
from tests.factories import UserFactory
from tests.helpers import wait_until

BASE_URL = os.environ.get("E2E_BASE_URL", "").rstrip("/")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not BASE_URL, reason="E2E_BASE_URL names no production-profile server (.ci/run starts one)"
    ),
]
HASHED = re.compile(r"/static/.+\.[0-9a-f]{12}\.(css|js|svg)$")


@pytest.fixture
def server_database(django_db_blocker):
    """The server's own database (DATABASE_URL), not a test copy: what is written here, it serves."""
    with django_db_blocker.unblock():
        yield


def _watch(page, failures: list[str]) -> None:
    page.on("response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on(
        "console", lambda m: failures.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )


def test_it_serves_the_console_and_stops_a_deployment_in_the_production_profile(
    browser, server_database, scaled_emulator, scaled_boto
):
    suffix = uuid.uuid4().hex[:8]
    target = make_target(
        scaled_boto, name=f"shop-{suffix}", environment="prod", duration=120, growth=10.0, bake=5
    )
    number = start(scaled_boto, target)
    Account.objects.create(name=f"e2e-{suffix}", region="us-east-1", endpoint_url=scaled_emulator.url)
    for username, role in ((f"ops-{suffix}", Role.OPERATOR), (f"boss-{suffix}", Role.APPROVER)):
        role_grant(user=UserFactory(username=username), role=role)
    # The server's beat and worker sync the new account on their own.
    found = Deployment.objects.filter(
        environment__environment_id=target.environment_id, deployment_number=number
    )
    try:
        deployment = wait_until(found.first, timeout=60)
    except AssertionError:
        errors = SyncRun.objects.filter(account__name=f"e2e-{suffix}").values_list("status", "error")
        raise AssertionError(f"the server never synced the account: {list(errors)[:3]}") from None
    server = SimpleNamespace(url=BASE_URL)
    detail = f"{BASE_URL}{deployment.get_absolute_url()}"

    failures: list[str] = []
    operator_context, approver_context = browser.new_context(), browser.new_context()
    try:
        operator, approver = operator_context.new_page(), approver_context.new_page()
        for page in (operator, approver):
            page.set_default_timeout(20_000)
            _watch(page, failures)
        log_in(operator, server, f"ops-{suffix}")
        stylesheet = operator.locator("link[rel=stylesheet]").first.get_attribute("href")
        assert HASHED.search(stylesheet), stylesheet
        expect(operator.locator("section[aria-labelledby=active-h]")).to_contain_text(f"shop-{suffix}")

        operator.goto(detail)
        operator.get_by_role("link", name="Stop deployment").click()
        dialog = operator.get_by_role("dialog")
        dialog.get_by_label("Reason (required)").fill("error rate doubled after rollout")
        dialog.get_by_role("button", name="Request stop").click()
        expect(operator.locator("#stop-panel")).to_contain_text("Waiting for approval")

        log_in(approver, server, f"boss-{suffix}")
        approver.goto(f"{BASE_URL}/stop-requests/")
        approver.get_by_role("button", name="Approve").first.click()

        # The server's worker runs the stop; its beat's active refresh brings the result to the open page.
        expect(operator.locator("#deployment-progress .state")).to_have_text(
            re.compile("ROLLED_BACK"), timeout=60_000
        )
        expect(operator.locator("#stop-panel")).to_contain_text("Succeeded", timeout=30_000)
        assert StopRequest.objects.get(deployment=deployment).status == "succeeded"
    finally:
        operator_context.close()
        approver_context.close()
    assert failures == []

    with urllib.request.urlopen(f"{BASE_URL}/readyz", timeout=5) as response:
        assert response.status == 200
    token = os.environ.get("METRICS_TOKEN", "")
    if token:
        request = urllib.request.Request(f"{BASE_URL}/metrics", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            metrics = response.read().decode()
        assert re.search(
            r'appconfig_console_stop_requests_finished_total\{status="succeeded"\} [1-9]', metrics
        )
        assert f'appconfig_console_sync_failing{{account="e2e-{suffix}"}} 0.0' in metrics
