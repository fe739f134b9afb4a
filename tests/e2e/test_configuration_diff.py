"""The configuration diff in a browser, on the emulator's demo estate: a feature-flag rollout in progress
shows what it changes (the flag table and the raw diff) beside the Stop button, loaded after the page, and
the Stop dialog links to it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from deployments import sync
from deployments.models import Role
from tests.e2e.helpers import log_in

pytestmark = pytest.mark.e2e


def _start_flag_rollout(boto) -> tuple[str, str, int]:
    """A slow rollout of payments-api's feature flags to dev, of a version other than dev's last one."""
    app = next(a["Id"] for a in boto.list_applications()["Items"] if a["Name"] == "payments-api")
    env = next(e["Id"] for e in boto.list_environments(ApplicationId=app)["Items"] if e["Name"] == "dev")
    profiles = boto.list_configuration_profiles(ApplicationId=app)["Items"]
    flags = next(p["Id"] for p in profiles if p["Name"] == "feature-flags")
    versions = sorted(
        v["VersionNumber"]
        for v in boto.list_hosted_configuration_versions(ApplicationId=app, ConfigurationProfileId=flags)[
            "Items"
        ]
    )
    history = boto.list_deployments(ApplicationId=app, EnvironmentId=env)["Items"]
    last = next(
        (d["ConfigurationVersion"] for d in history if d["ConfigurationName"] == "feature-flags"), None
    )
    version = next(str(v) for v in reversed(versions) if str(v) != last)
    # 120 emulated minutes at 60x: still deploying for the whole test.
    strategy = boto.create_deployment_strategy(
        Name="e2e-slow", DeploymentDurationInMinutes=120, GrowthFactor=10.0, FinalBakeTimeInMinutes=5,
        ReplicateTo="NONE",
    )["Id"]  # fmt: skip
    number = boto.start_deployment(
        ApplicationId=app, EnvironmentId=env, DeploymentStrategyId=strategy, ConfigurationProfileId=flags,
        ConfigurationVersion=version,
    )["DeploymentNumber"]  # fmt: skip
    return app, env, number


def test_it_shows_what_a_rollout_changes_beside_the_stop_button(
    page, live_server, live_account, scaled_emulator, scaled_boto, make_user, serialised, eager_tasks
):
    scaled_emulator.seed_demo()
    make_user(Role.OPERATOR, username="ops")
    app, env, number = _start_flag_rollout(scaled_boto)
    sync.sync_account(account=live_account)
    detail = f"{live_server.url}/applications/{app}/environments/{env}/deployments/{number}/"

    log_in(page, live_server, "ops")
    page.goto(detail)

    region = page.locator("#config-diff")
    expect(region).to_contain_text("Feature flags", timeout=30_000)
    expect(region.locator("table.flags tbody tr").first).to_be_visible()
    expect(region.locator("pre.diff .diff-add").first).to_be_visible()
    expect(region).to_contain_text("SHA-256")

    page.get_by_role("link", name="Stop deployment").click()
    dialog = page.get_by_role("dialog")
    link = dialog.get_by_role("link", name="the configuration diff")
    expect(link).to_have_attribute(
        "href", f"/applications/{app}/environments/{env}/deployments/{number}/configuration/"
    )
    link.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"What deployment {number} changes")
    expect(page.locator("#config-diff table.flags")).to_be_visible()
