"""The demo seed and the activity that keeps it moving: content, strategies, history, extensions, clock."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from appconfig_emulator import Emulator, ScaledClock
from appconfig_emulator.demo import PASS_INTERVAL_SECONDS, DemoActivity
from tests.emulator.helpers import make_client

APPLICATIONS = ["payments-api", "checkout-web", "feature-flags", "search"]


@pytest.fixture
def demo(emulator):
    emulator.seed_demo()
    return emulator


def _all_deployments(emulator):
    return [
        deployment
        for application in emulator.store.applications.values()
        for environment in application.environments.values()
        for deployment in environment.deployments
    ]


def _round(emulator) -> None:
    DemoActivity(emulator.store, emulator.clock, emulator.stopping, emulator._rng).round(emulator.now())


def _application(client, name: str) -> str:
    return next(item["Id"] for item in client.list_applications()["Items"] if item["Name"] == name)


def _profiles(client, application_id: str) -> dict[str, dict]:
    return {p["Name"]: p for p in client.list_configuration_profiles(ApplicationId=application_id)["Items"]}


def _versions(client, application_id: str, profile: dict) -> list[dict]:
    """Every hosted version of a profile with its content, version 1 first."""
    listed = client.list_hosted_configuration_versions(
        ApplicationId=application_id, ConfigurationProfileId=profile["Id"]
    )["Items"]
    versions = []
    for item in sorted(listed, key=lambda item: item["VersionNumber"]):
        version = client.get_hosted_configuration_version(
            ApplicationId=application_id,
            ConfigurationProfileId=profile["Id"],
            VersionNumber=item["VersionNumber"],
        )
        version["Content"] = version["Content"].read()
        versions.append(version)
    return versions


def _satisfies(value, constraints: dict) -> bool:
    kind = constraints["type"]
    if kind == "number":
        return isinstance(value, int | float) and constraints["minimum"] <= value <= constraints["maximum"]
    if kind == "string":
        return isinstance(value, str) and value in constraints.get("enum", [value])
    if kind == "array":
        return isinstance(value, list) and all(item in constraints["elements"]["enum"] for item in value)
    return False


# --- seed ---------------------------------------------------------------------------------------------------


def test_it_seeds_applications_environments_profiles_and_strategies(demo, boto3_client):
    applications = boto3_client.list_applications()["Items"]
    assert [application["Name"] for application in applications] == APPLICATIONS
    payments = applications[0]["Id"]
    environments = boto3_client.list_environments(ApplicationId=payments)["Items"]
    assert [environment["Name"] for environment in environments] == ["dev", "staging", "prod"]
    assert environments[2]["Monitors"][0]["AlarmArn"].endswith(":alarm:payments-api-prod-5xx-rate")
    profiles = {name: profile["Type"] for name, profile in _profiles(boto3_client, payments).items()}
    assert profiles == {"feature-flags": "AWS.AppConfig.FeatureFlags", "settings": "AWS.Freeform"}
    search = _profiles(boto3_client, applications[3]["Id"])
    assert list(search) == ["feature-flags", "settings", "ranking-rules"]
    custom = {
        s["Name"]: (
            s["DeploymentDurationInMinutes"],
            s["GrowthType"],
            s["GrowthFactor"],
            s["FinalBakeTimeInMinutes"],
        )
        for s in boto3_client.list_deployment_strategies()["Items"]
        if not s["Id"].startswith("AppConfig.")
    }
    assert custom == {
        "Demo.Linear20PercentEvery10Seconds": (1, "LINEAR", 20.0, 1),
        "Demo.Linear50PercentEvery20Seconds": (1, "LINEAR", 50.0, 1),
        "Demo.Exponential10PercentEvery20Seconds": (2, "EXPONENTIAL", 10.0, 1),
    }


@pytest.mark.parametrize("application", APPLICATIONS)
def test_it_seeds_feature_flag_versions_in_appconfigs_format_that_change_flags(
    demo, boto3_client, application
):
    application_id = _application(boto3_client, application)
    versions = _versions(
        boto3_client, application_id, _profiles(boto3_client, application_id)["feature-flags"]
    )
    assert len(versions) >= 4
    documents = []
    for version in versions:
        assert version["ContentType"] == "application/json"
        assert version["Description"] and version["VersionLabel"] == f"v{version['VersionNumber']}"
        document = json.loads(version["Content"])
        assert document["version"] == "1" and set(document) == {"version", "flags", "values"}
        assert set(document["flags"]) == set(document["values"])
        for name, flag in document["flags"].items():
            assert flag["name"] and isinstance(document["values"][name]["enabled"], bool)
            for attribute, definition in flag.get("attributes", {}).items():
                assert _satisfies(document["values"][name][attribute], definition["constraints"]), (
                    name,
                    attribute,
                )
        documents.append(document)

    flag_sets = [set(document["flags"]) for document in documents]
    switches = [{n: v["enabled"] for n, v in document["values"].items()} for document in documents]
    assert all(before != after for before, after in zip(documents, documents[1:], strict=False))
    assert any(after - before for before, after in zip(flag_sets, flag_sets[1:], strict=False))  # added
    toggled = [
        name
        for before, after in zip(switches, switches[1:], strict=False)
        for name in before.keys() & after.keys()
        if before[name] != after[name]
    ]
    assert toggled
    attribute_values = [
        {(n, a): v for n, values in document["values"].items() for a, v in values.items() if a != "enabled"}
        for document in documents
    ]
    changed = [
        key
        for before, after in zip(attribute_values, attribute_values[1:], strict=False)
        for key in before.keys() & after.keys()
        if before[key] != after[key]
    ]
    assert changed  # attribute values change too


def test_it_retires_flags_in_some_application(demo, boto3_client):
    removed = []
    for application in APPLICATIONS:
        application_id = _application(boto3_client, application)
        profile = _profiles(boto3_client, application_id)["feature-flags"]
        flag_sets = [
            set(json.loads(v["Content"])["flags"]) for v in _versions(boto3_client, application_id, profile)
        ]
        removed += [
            before - after for before, after in zip(flag_sets, flag_sets[1:], strict=False) if before - after
        ]
    assert removed


@pytest.mark.parametrize("application", APPLICATIONS)
def test_it_seeds_json_settings_documents_that_change_from_version_to_version(
    demo, boto3_client, application
):
    application_id = _application(boto3_client, application)
    versions = _versions(boto3_client, application_id, _profiles(boto3_client, application_id)["settings"])
    assert len(versions) >= 3
    assert {version["ContentType"] for version in versions} == {"application/json"}
    documents = [json.loads(version["Content"]) for version in versions]
    assert all(before != after for before, after in zip(documents, documents[1:], strict=False))


def test_it_seeds_a_yaml_profile_for_search(demo, boto3_client):
    search = _application(boto3_client, "search")
    versions = _versions(boto3_client, search, _profiles(boto3_client, search)["ranking-rules"])
    assert [version["ContentType"] for version in versions] == ["application/x-yaml"] * 3
    texts = [version["Content"].decode() for version in versions]
    assert all(text.startswith("# Ranking rules") and "boosts:" in text for text in texts)
    assert len(set(texts)) == 3


# --- history ------------------------------------------------------------------------------------------------


def test_it_seeds_a_history_with_every_kind_of_ending(demo):
    now = demo.now()
    endings = Counter(
        (deployment.state(now), deployment.stop.triggered_by if deployment.stop else None)
        for deployment in _all_deployments(demo)
    )
    assert endings[("COMPLETE", None)] > 0
    assert endings[("ROLLED_BACK", "USER")] > 0
    assert endings[("ROLLED_BACK", "CLOUDWATCH_ALARM")] == 4  # one per prod environment
    assert endings[("REVERTED", "USER")] > 0


def test_it_keeps_every_history_timestamp_before_the_wall_clock():
    with Emulator(clock=ScaledClock(1.0)) as emulator:
        emulator.seed_demo()
        client = make_client(emulator.url)
        wall_now = datetime.now(UTC)
        moments = []
        for application in client.list_applications()["Items"]:
            for environment in client.list_environments(ApplicationId=application["Id"])["Items"]:
                ids = {"ApplicationId": application["Id"], "EnvironmentId": environment["Id"]}
                for summary in client.list_deployments(**ids)["Items"]:
                    deployment = client.get_deployment(**ids, DeploymentNumber=summary["DeploymentNumber"])
                    moments.append(deployment["StartedAt"])
                    moments += [deployment["CompletedAt"]] if "CompletedAt" in deployment else []
                    moments += [event["OccurredAt"] for event in deployment["EventLog"]]
    assert len(moments) > 300
    assert max(moments) <= wall_now


def test_it_deploys_a_different_version_each_time_a_profile_is_deployed_to_an_environment(demo):
    for _ in range(40):
        demo.advance(PASS_INTERVAL_SECONDS)
        _round(demo)
    for application in demo.store.applications.values():
        for environment in application.environments.values():
            by_profile: dict[str, list[str]] = {}
            for deployment in environment.deployments:
                by_profile.setdefault(deployment.profile_id, []).append(deployment.configuration_version)
            assert set(by_profile) == set(application.profiles)  # every profile gets deployed
            for versions in by_profile.values():
                assert all(a != b for a, b in zip(versions, versions[1:], strict=False)), versions


def test_it_applies_the_notification_extension_to_payments_and_shows_a_failing_action(demo, boto3_client):
    extension = boto3_client.get_extension(ExtensionIdentifier="deployment-notifications")
    payments = _application(boto3_client, "payments-api")
    association = boto3_client.list_extension_associations(
        ResourceIdentifier=f"arn:aws:appconfig:us-east-1:123456789012:application/{payments}"
    )["Items"]
    assert [item["ExtensionArn"] for item in association] == [extension["Arn"]]

    failures, successes = [], []
    for environment in boto3_client.list_environments(ApplicationId=payments)["Items"]:
        ids = {"ApplicationId": payments, "EnvironmentId": environment["Id"]}
        for summary in boto3_client.list_deployments(**ids)["Items"]:
            deployment = boto3_client.get_deployment(**ids, DeploymentNumber=summary["DeploymentNumber"])
            assert [applied["ExtensionId"] for applied in deployment["AppliedExtensions"]] == [
                extension["Id"]
            ]
            assert deployment["AppliedExtensions"][0]["Parameters"] == {"channel": "#payments-deploys"}
            assert deployment["KmsKeyIdentifier"] == "alias/payments-appconfig"
            assert deployment["KmsKeyArn"].startswith("arn:aws:kms:us-east-1:123456789012:key/")
            for event in deployment["EventLog"]:
                for invocation in event["ActionInvocations"]:
                    (failures if "ErrorCode" in invocation else successes).append(
                        (event["EventType"], invocation)
                    )
    assert {event_type for event_type, _ in successes} >= {"DEPLOYMENT_STARTED", "DEPLOYMENT_COMPLETED"}
    assert failures and {event_type for event_type, _ in failures} <= {
        "ROLLBACK_COMPLETED",
        "REVERT_COMPLETED",
    }
    invocation = failures[0][1]
    assert (invocation["ActionName"], invocation["ErrorCode"]) == ("page-on-call", "AuthorizationError")
    assert "not authorized to perform: SNS:Publish" in invocation["ErrorMessage"]

    checkout = _application(boto3_client, "checkout-web")
    environment = boto3_client.list_environments(ApplicationId=checkout)["Items"][0]["Id"]
    other = boto3_client.get_deployment(ApplicationId=checkout, EnvironmentId=environment, DeploymentNumber=1)
    assert other.get("AppliedExtensions", []) == [] and "KmsKeyArn" not in other


# --- activity -----------------------------------------------------------------------------------------------


def test_it_moves_a_new_rollout_within_a_minute_and_finishes_it_within_three(demo, boto3_client):
    started = {
        (d.application_id, d.environment_id, d.number)
        for d in _all_deployments(demo)
        if d.started_at == demo.now()
    }
    assert started  # the first round ran when the demo started
    strategies = {s["Id"]: s["Name"] for s in boto3_client.list_deployment_strategies()["Items"]}
    for application_id, environment_id, number in started:
        ids = {"ApplicationId": application_id, "EnvironmentId": environment_id, "DeploymentNumber": number}
        deployment = boto3_client.get_deployment(**ids)
        assert strategies[deployment["DeploymentStrategyId"]].startswith("Demo.")
    demo.advance(25)
    moving = [
        boto3_client.get_deployment(ApplicationId=a, EnvironmentId=e, DeploymentNumber=n)
        for a, e, n in started
    ]
    assert all(d["State"] == "DEPLOYING" and d["PercentageComplete"] > 0 for d in moving)
    demo.advance(180 - 25)
    done = [
        boto3_client.get_deployment(ApplicationId=a, EnvironmentId=e, DeploymentNumber=n)
        for a, e, n in started
    ]
    assert {d["State"] for d in done} == {"COMPLETE"}
    assert all((d["CompletedAt"] - d["StartedAt"]).total_seconds() <= 180 for d in done)


def test_it_always_has_something_deploying_or_baking(demo):
    for _ in range(30):
        now = demo.now()
        active = [d for d in _all_deployments(demo) if d.state(now) in ("DEPLOYING", "BAKING")]
        assert active
        demo.advance(PASS_INTERVAL_SECONDS)
        _round(demo)


def test_it_starts_deployments_only_on_idle_environments(demo):
    activity = DemoActivity(demo.store, demo.clock, demo.stopping, demo._rng)
    for _ in range(20):
        activity.round(demo.now())  # no time passes: every round must find another idle environment
    environments = [env for app in demo.store.applications.values() for env in app.environments.values()]
    now = demo.now()
    for environment in environments:
        active = [d for d in environment.deployments if d.state(now) in ("DEPLOYING", "BAKING")]
        assert len(active) <= 1


def test_a_reset_stops_the_demo_activity(demo, boto3_client):
    """Protects what is made after a reset (the console's tests share one emulator) from the demo's rounds,
    which would start deployments on it."""
    demo.reset()
    application = boto3_client.create_application(Name="mine")["Id"]
    environment = boto3_client.create_environment(ApplicationId=application, Name="prod")["Id"]
    profile = boto3_client.create_configuration_profile(
        ApplicationId=application, Name="flags", LocationUri="hosted"
    )["Id"]
    boto3_client.create_hosted_configuration_version(
        ApplicationId=application,
        ConfigurationProfileId=profile,
        Content=b"{}",
        ContentType="application/json",
    )
    demo.advance(PASS_INTERVAL_SECONDS * 2)
    time.sleep(2.5)  # the activity checks the clock once a wall-clock second
    deployments = boto3_client.list_deployments(ApplicationId=application, EnvironmentId=environment)
    assert deployments["Items"] == []
    assert not any(t.name == "appconfig-emulator-demo" and t.is_alive() for t in demo._threads)
