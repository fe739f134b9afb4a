"""The README's screenshots, taken against the emulator's demo estate (history with completed, rolled-back
and reverted deployments; new rollouts keep starting). Runs only when asked:

    SCREENSHOTS_DIR=docs/screenshots .venv/bin/pytest tests/e2e/test_screenshots.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from appconfig_emulator import Emulator, ScaledClock
from deployments import appconfig, sync
from deployments.models import Account, Deployment, Role
from stops import services
from tests.e2e.helpers import BackgroundSync, log_in

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.environ.get("SCREENSHOTS_DIR"), reason="set SCREENSHOTS_DIR to take screenshots"
    ),
]


def test_it_takes_the_readme_screenshots(browser, live_server, make_user, serialised, eager_tasks, settings):
    target = Path(os.environ["SCREENSHOTS_DIR"])
    target.mkdir(parents=True, exist_ok=True)
    operator = make_user(Role.OPERATOR, username="operator")
    # Real time, as `make run`'s demo: no time on a page lies in the viewer's future.
    emulator = Emulator(clock=ScaledClock(1)).start(host="127.0.0.1", port=0)
    syncer = None
    try:
        emulator.seed_demo()
        appconfig.forget_clients()
        account = Account.objects.create(name="demo", region="us-east-1", endpoint_url=emulator.url)
        sync.sync_account(account=account)
        syncer = BackgroundSync(account, serialised).start()
        deployment = None

        for name, size in (("", {"width": 1280, "height": 900}), ("-phone", {"width": 390, "height": 844})):
            context = browser.new_context(viewport=size, device_scale_factor=1, timezone_id="UTC")
            page = context.new_page()
            log_in(page, live_server, "operator")
            # Wait for the rollouts the demo just started to show some progress.
            moving = page.locator(
                "section[aria-labelledby=active-h] [role=progressbar]:not([aria-valuenow='0'])"
            )
            expect(moving.first).to_be_visible(timeout=60_000)
            page.screenshot(path=target / f"dashboard{name}.png", full_page=True)

            if deployment is None:
                # A rollout of payments-api (its extension and KMS key show) with a stop request waiting,
                # so the timeline holds the console's entry among AppConfig's.
                running = Deployment.objects.filter(state="DEPLOYING").select_related(
                    "environment__application"
                )
                deployment = (
                    running.filter(environment__application__name="payments-api").first()
                    or running.order_by("-percentage_complete").first()
                )
                environment = deployment.environment
                with serialised:
                    environment.approvals_required = 1
                    environment.save(update_fields=["approvals_required"])
                    services.stop_request_create(
                        deployment=deployment, user=operator, reason="error rate up after the rollout started"
                    )
            page.goto(
                f"{live_server.url}/applications/{environment.application.application_id}/environments/"
                f"{environment.environment_id}/deployments/{deployment.deployment_number}/"
            )
            expect(page.locator("#deployment-timeline")).to_contain_text(
                re.compile("PERCENTAGE_UPDATED.*PERCENTAGE_UPDATED", re.S), timeout=60_000
            )
            page.screenshot(path=target / f"deployment{name}.png", full_page=True)
            context.close()

        # An approver's queue with the request waiting, and the auditor's view of the trail it left.
        make_user(Role.APPROVER, username="approver")
        make_user(Role.AUDITOR, username="auditor")
        for username, path, name in (
            ("approver", "/stop-requests/", "stop-requests"),
            ("auditor", "/audit/", "audit"),
        ):
            context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
            page = context.new_page()
            log_in(page, live_server, username)
            page.goto(f"{live_server.url}{path}")
            page.screenshot(path=target / f"{name}.png", full_page=True)
            context.close()
    finally:
        if syncer is not None:
            syncer.stop()
        emulator.stop()
        appconfig.forget_clients()
