"""The stop flow in two browsers: an operator asks for a stop with a reason, an approver approves it in the
queue, and the operator's page shows ROLLED_BACK with the rollback events, without a reload, in one timeline
with the console's own events (stop requested, approved); a real Celery
worker runs the stop against the emulator. A viewer sees no Stop button, and a forged POST from their
session is refused with 403 and audited."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from audit.models import AuditEvent
from deployments import sync
from deployments.models import Deployment, Environment, Role, StopRequest
from tests.deployments.seeding import make_target, start
from tests.e2e.helpers import log_in

pytestmark = pytest.mark.e2e


def _context_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    return context, page


def test_it_stops_a_deployment_through_request_and_approval(
    browser,
    live_server,
    live_account,
    scaled_boto,
    scaled_emulator,
    background_sync,
    celery_worker,
    make_user,
):
    make_user(Role.OPERATOR, username="ops")
    make_user(Role.APPROVER, username="boss")
    make_user(Role.VIEWER, username="watcher")
    # 120 emulated minutes at 60x: still deploying for the whole test.
    target = make_target(scaled_boto, name="checkout", environment="prod", duration=120, growth=10.0, bake=5)
    number = start(scaled_boto, target)
    sync.sync_account(account=live_account)
    Environment.objects.filter(environment_id=target.environment_id).update(approvals_required=1)
    background_sync()
    app, env = target.application_id, target.environment_id
    detail = f"{live_server.url}/applications/{app}/environments/{env}/deployments/{number}/"

    operator_context, operator = _context_page(browser)
    approver_context, approver = _context_page(browser)
    viewer_context, viewer = _context_page(browser)
    try:
        log_in(operator, live_server, "ops")
        operator.goto(detail)
        operator.get_by_role("link", name="Stop deployment").click()
        dialog = operator.get_by_role("dialog")
        expect(dialog).to_contain_text("ROLLED_BACK")
        dialog.get_by_label("Reason (required)").fill("error rate doubled after rollout")
        dialog.get_by_role("button", name="Request stop").click()
        expect(operator.locator("#stop-panel")).to_contain_text("Waiting for approval")
        # One timeline: the console's own event, marked as a person's, among AppConfig's.
        timeline = operator.locator("#deployment-timeline")
        requested = timeline.locator("tr.console-stop-requested")
        expect(requested).to_contain_text("Person")
        expect(requested).to_contain_text("error rate doubled after rollout")
        expect(timeline.locator("tr.event-deployment_started")).to_contain_text("AppConfig")
        expect(requested.get_by_role("link")).to_have_count(0)  # an operator does not review the audit trail
        operator.evaluate("window.__sameDocument = true")

        log_in(approver, live_server, "boss")
        approver.goto(f"{live_server.url}/stop-requests/")
        expect(approver.locator("#waiting-h")).to_have_text("Waiting for your approval (1)")
        approver.get_by_role("button", name="Approve").click()
        expect(approver.locator("#waiting-h")).to_have_text("Waiting for your approval (0)")

        # The operator's page, untouched since, follows the stop to its end.
        expect(operator.locator("#deployment-progress .state")).to_have_text(
            re.compile("ROLLED_BACK"), timeout=30_000
        )
        expect(operator.locator("#deployment-timeline")).to_contain_text("ROLLBACK_STARTED", timeout=15_000)
        expect(operator.locator("#deployment-timeline")).to_contain_text("ROLLBACK_COMPLETED")
        expect(operator.locator("#stop-panel")).to_contain_text("Succeeded", timeout=15_000)
        # The approval and the rollback it caused, in one list, newest first, without a reload.
        expect(timeline.locator("tr.console-stop-approved")).to_contain_text("boss")
        rows = timeline.locator("tbody tr").all_inner_texts()
        # (Not against DEPLOYMENT_STARTED: this test's emulator runs 60 times faster than the wall clock.)
        names = ("ROLLBACK_STARTED", "Stop approved", "Stop requested")
        first = {name: next(i for i, row in enumerate(rows) if name in row) for name in names}
        assert first["ROLLBACK_STARTED"] < first["Stop approved"] < first["Stop requested"]
        assert operator.evaluate("window.__sameDocument") is True
        assert StopRequest.objects.get().status == "succeeded"
        assert scaled_emulator.counters()["StopDeployment"] == 1

        # A viewer: no button, and a forged POST is refused and recorded.
        Deployment.objects.filter(deployment_number=number).update(
            state="DEPLOYING"
        )  # make it stoppable again
        log_in(viewer, live_server, "watcher")
        viewer.goto(detail)
        expect(viewer.locator("#stop-panel")).to_be_visible()
        expect(viewer.get_by_role("link", name="Stop deployment")).to_have_count(0)
        token = next(c["value"] for c in viewer_context.cookies() if c["name"] == "csrftoken")
        forged = viewer.request.post(
            f"{detail}stop/",
            form={"kind": "stop", "reason": "forged"},
            headers={"X-CSRFToken": token, "Referer": detail},
        )
        assert forged.status == 403
        assert AuditEvent.objects.filter(action="access.denied", actor_username="watcher").count() == 1
        assert StopRequest.objects.count() == 1
    finally:
        for context in (operator_context, approver_context, viewer_context):
            context.close()
