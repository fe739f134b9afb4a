"""Log in, open the dashboard, follow a running deployment to its detail page, watch its percentage and
timeline advance without a reload while the emulator (60x real time) moves it and a background sync keeps
the cache fresh, and see polling stop once it completes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from deployments import sync
from deployments.models import Role
from tests.deployments.seeding import make_target, start
from tests.e2e.helpers import log_in
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e


def test_it_follows_a_running_deployment_live_until_it_completes(
    page, live_server, live_account, scaled_boto, background_sync, make_user
):
    make_user(Role.VIEWER, username="watcher")
    # 20 emulated minutes = 20 s: 20 % steps every ~3.3 s, then a 1-minute (1 s) bake.
    target = make_target(scaled_boto, name="payments", environment="prod", duration=20, growth=20.0, bake=1)
    number = start(scaled_boto, target)
    sync.sync_account(account=live_account)
    background_sync()

    log_in(page, live_server, "watcher")
    in_progress = page.locator("section[aria-labelledby=active-h]")
    expect(in_progress.get_by_role("progressbar")).to_have_count(1)
    in_progress.get_by_role("link", name=f"#{number} of payments prod").click()
    page.wait_for_url(re.compile(rf"/deployments/{number}/$"))
    page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads

    statuses: list[int] = []  # of this page's own live region (the stop panel polls on its own)
    poll_path = re.compile(rf"/deployments/{number}/\?v=\d+$")
    page.on("response", lambda r: statuses.append(r.status) if poll_path.search(r.url) else None)
    percentage = page.locator("#deployment-progress .progress-text")
    events = page.locator("#deployment-timeline tbody tr")
    first_percentage, first_events = percentage.text_content(), events.count()

    wait_until(lambda: (page.wait_for_timeout(200), percentage.text_content() != first_percentage)[1], 25)
    wait_until(lambda: (page.wait_for_timeout(200), events.count() > first_events)[1], 25)
    expect(page.locator("#deployment-timeline")).to_contain_text("PERCENTAGE_UPDATED")

    expect(page.locator("#deployment-progress .state")).to_have_text(re.compile("COMPLETE"), timeout=45_000)
    expect(percentage).to_have_text("100.00%")
    expect(page.locator("#deployment-timeline")).to_contain_text("DEPLOYMENT_COMPLETED")
    assert page.locator("#deployment-progress").get_attribute("hx-trigger") is None
    assert 204 in statuses and statuses[-1] == 286

    polls_before = len(statuses)
    page.wait_for_timeout(4_500)  # two poll intervals and more
    assert len(statuses) == polls_before, "polling went on after the deployment completed"
    assert page.evaluate("window.__sameDocument") is True
