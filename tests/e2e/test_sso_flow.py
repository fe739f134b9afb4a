"""Single sign-on and step-up in a browser: an operator signs in through the identity provider (the mock,
over HTTP), asks for a stop on a critical environment, is asked to sign in again (their sign-in at the
provider is an hour old), goes through the provider's prompt=login round trip and comes back to the request
already made, reason kept; an approver signs in through the provider and approves it."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from audit.models import AuditEvent
from deployments.models import StopRequest, StopStatus
from tests.factories import DeploymentFactory, EnvironmentFactory
from tests.sso_helpers import now, set_identity

pytestmark = pytest.mark.e2e


def _sign_in_at_provider(page, sub: str) -> None:
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()


def test_it_signs_in_steps_up_and_approves_through_the_provider(
    browser, live_server, transactional_db, sso_settings, idp_url, published
):
    environment = EnvironmentFactory(name="prod", approvals_required=1, is_critical=True)
    deployment = DeploymentFactory(
        environment=environment,
        state="DEPLOYING",
        percentage_complete=40.0,
        details_fetched_at=timezone.now(),
    )
    detail = f"{live_server.url}{deployment.get_absolute_url()}"
    set_identity(
        idp_url, "u-ops", preferred_username="ops", groups=["appconfig-operators"], auth_time=now() - 3600
    )
    set_identity(idp_url, "u-boss", preferred_username="boss", groups=["appconfig-approvers"])

    operator_context = browser.new_context(viewport={"width": 1280, "height": 900})
    approver_context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        operator = operator_context.new_page()
        operator.set_default_timeout(20_000)
        operator.goto(f"{live_server.url}/accounts/login/")
        operator.get_by_role("link", name="Sign in with the test provider").click()
        _sign_in_at_provider(operator, "u-ops")
        operator.wait_for_url(f"{live_server.url}/")

        operator.goto(detail)
        operator.get_by_role("link", name="Stop deployment").click()
        dialog = operator.get_by_role("dialog")
        dialog.get_by_label("Reason (required)").fill("checkout errors after rollout")
        dialog.get_by_label(re.compile("type prod to confirm")).fill("prod")
        dialog.get_by_role("button", name="Request stop").click()
        expect(operator.get_by_role("dialog")).to_contain_text(
            "needs you to have signed in within the last 5 minutes"
        )
        assert not StopRequest.objects.exists()

        # At the provider, a fresh authentication this time.
        set_identity(idp_url, "u-ops", preferred_username="ops", groups=["appconfig-operators"])
        operator.get_by_role("link", name="Sign in again with the test provider").click()
        _sign_in_at_provider(operator, "u-ops")
        operator.wait_for_url(detail)
        expect(operator.locator("#stop-panel")).to_contain_text("Waiting for approval")
        expect(operator.locator("#stop-panel")).to_contain_text("checkout errors after rollout")

        approver = approver_context.new_page()
        approver.set_default_timeout(20_000)
        approver.goto(f"{live_server.url}/stop-requests/")
        approver.get_by_role("link", name="Sign in with the test provider").click()
        _sign_in_at_provider(approver, "u-boss")
        approver.wait_for_url(f"{live_server.url}/stop-requests/")
        expect(approver.locator("#waiting-h")).to_have_text("Waiting for your approval (1)")
        approver.get_by_role("button", name="Approve").click()
        expect(approver.locator("#waiting-h")).to_have_text("Waiting for your approval (0)")

        assert StopRequest.objects.get().status == StopStatus.APPROVED
        assert list(
            AuditEvent.objects.filter(action="auth.step_up")
            .order_by("sequence")
            .values_list("outcome", flat=True)
        ) == ["denied", "success"]
    finally:
        operator_context.close()
        approver_context.close()
