"""The demo seed and the activity that keeps it moving."""

from __future__ import annotations

import json
from collections import Counter

from appconfig_emulator.demo import PASS_INTERVAL_SECONDS, DemoActivity


def _all_deployments(emulator):
    return [
        deployment
        for application in emulator.store.applications.values()
        for environment in application.environments.values()
        for deployment in environment.deployments
    ]


def test_it_seeds_applications_environments_profiles_and_strategies(emulator, boto3_client):
    emulator.seed_demo()
    applications = boto3_client.list_applications()["Items"]
    assert [application["Name"] for application in applications] == [
        "payments-api",
        "checkout-web",
        "feature-flags",
        "search",
    ]
    payments = applications[0]["Id"]
    environments = boto3_client.list_environments(ApplicationId=payments)["Items"]
    assert [environment["Name"] for environment in environments] == ["dev", "staging", "prod"]
    assert environments[2]["Monitors"][0]["AlarmArn"].endswith(":alarm:payments-api-prod-5xx-rate")
    profile = boto3_client.list_configuration_profiles(ApplicationId=payments)["Items"][0]
    assert profile["Type"] == "AWS.AppConfig.FeatureFlags"
    version = boto3_client.get_hosted_configuration_version(
        ApplicationId=payments, ConfigurationProfileId=profile["Id"], VersionNumber=1
    )
    assert "instant_refunds" in json.loads(version["Content"].read())["flags"]
    custom = [
        s["Name"]
        for s in boto3_client.list_deployment_strategies()["Items"]
        if not s["Id"].startswith("AppConfig.")
    ]
    assert custom == ["demo-linear-20min", "demo-canary-30min", "demo-steady-40min"]


def test_it_seeds_a_history_with_every_kind_of_ending(emulator):
    emulator.seed_demo()
    now = emulator.now()
    endings = Counter(
        (deployment.state(now), deployment.stop.triggered_by if deployment.stop else None)
        for deployment in _all_deployments(emulator)
    )
    assert endings[("COMPLETE", None)] > 0
    assert endings[("ROLLED_BACK", "USER")] > 0
    assert endings[("ROLLED_BACK", "CLOUDWATCH_ALARM")] == 4  # one per prod environment
    assert endings[("REVERTED", "USER")] > 0
    assert all(deployment.started_at <= now for deployment in _all_deployments(emulator))


def test_it_always_has_something_deploying_or_baking(emulator, boto3_client):
    emulator.seed_demo()
    for _ in range(12):
        now = emulator.now()
        active = [d for d in _all_deployments(emulator) if d.state(now) in ("DEPLOYING", "BAKING")]
        assert active
        emulator.advance(PASS_INTERVAL_SECONDS)
        DemoActivity(emulator.store, emulator.clock, emulator.stopping, emulator._rng).round(emulator.now())


def test_it_starts_deployments_only_on_idle_environments(emulator):
    emulator.seed_demo()
    activity = DemoActivity(emulator.store, emulator.clock, emulator.stopping, emulator._rng)
    for _ in range(20):
        activity.round(emulator.now())  # no time passes: every round must find another idle environment
    environments = [env for app in emulator.store.applications.values() for env in app.environments.values()]
    now = emulator.now()
    for environment in environments:
        active = [d for d in environment.deployments if d.state(now) in ("DEPLOYING", "BAKING")]
        assert len(active) <= 1
