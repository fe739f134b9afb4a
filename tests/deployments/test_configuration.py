"""The lazy fetch of configuration content and the diff it feeds (deployments/configuration.py), against the
real emulator: hosted JSON, YAML, text, binary and feature flags; the baseline (first deployment, a rolled
back one skipped, another profile ignored); non-hosted locations never read; contents hidden by setting;
the content-addressed cache and the API calls it saves."""

from __future__ import annotations

import json

import pytest

from deployments import sync
from deployments.appconfig import NotFoundError
from deployments.configuration import configuration_report, deployment_fetch_configuration
from deployments.models import ConfigurationContent, Deployment, DeploymentConfiguration
from tests.deployments.seeding import cached, deploy, profile

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(config_world):
    return config_world


JSON = "application/json"

FLAGS_V1 = {
    "version": "1",
    "flags": {
        "basket": {"name": "basket"},
        "banner": {"name": "banner", "attributes": {"text": {"constraints": {"type": "string"}}}},
        "legacy": {"name": "legacy"},
    },
    "values": {
        "basket": {"enabled": False},
        "banner": {"enabled": True, "text": "Hello"},
        "legacy": {"enabled": True},
    },
}
FLAGS_V2 = {
    "version": "1",
    "flags": {
        "basket": {"name": "basket"},
        "banner": {"name": "banner", "attributes": {"text": {"constraints": {"type": "string"}}}},
        "search": {"name": "search"},
    },
    "values": {
        "basket": {"enabled": True},
        "banner": {"enabled": True, "text": "Sale"},
        "search": {"enabled": False},
    },
}


def fetched(world, number: int):
    deployment = cached(world, number)
    deployment_fetch_configuration(deployment=deployment)
    return configuration_report(deployment)


def text_of(report) -> str:
    return "\n".join(line.text for line in report.diff.lines)


def test_it_diffs_hosted_json_normalised(world):
    before, after = b'{"b": 1, "a": {"y": 2, "x": 1}}', b'{"a": {"x": 1, "y": 2},\n "b": 3, "c": [1]}'
    flags = profile(world, "settings", [(before, "application/json"), (after, "application/json")])
    deploy(world, flags, "1")
    number = deploy(world, flags, "2", finish=False)

    report = fetched(world, number)

    assert report.baseline.deployment_number == 1
    assert report.diff.kind == "json"
    text = text_of(report)
    assert '-  "b": 1' in text and '+  "b": 3,' in text and '+  "c": [' in text
    # Re-ordered, re-indented keys are not changes.
    assert '"x": 1' not in [line.text[1:].strip() for line in report.diff.lines if line.kind != "context"]
    row = report.row
    assert row.content_type == "application/json" and row.version_label == "v2"
    assert ConfigurationContent.objects.get(sha256=row.sha256).data == after
    assert len(row.sha256) == 64 and row.size == len(after)


def test_it_diffs_yaml_normalised(world):
    before, after = b"index: products-v1\nreplicas: 2\n", b"replicas: 2\nindex: products-v2\n"
    settings_profile = profile(
        world, "search", [(before, "application/x-yaml"), (after, "application/x-yaml")]
    )
    deploy(world, settings_profile, "1")
    report = fetched(world, deploy(world, settings_profile, "2", finish=False))

    assert report.diff.kind == "yaml"
    assert [line.text for line in report.diff.lines if line.kind in ("add", "remove")] == [
        "-index: products-v1",
        "+index: products-v2",
    ]


def test_it_diffs_plain_text_as_it_is(world):
    notes = profile(world, "motd", [(b"Hello\n  world\n", "text/plain"), (b"Hello\n  there\n", "text/plain")])
    deploy(world, notes, "1")
    report = fetched(world, deploy(world, notes, "2", finish=False))

    assert report.diff.kind == "text"
    assert [line.text for line in report.diff.lines if line.kind in ("add", "remove")] == [
        "-  world",
        "+  there",
    ]


def test_it_shows_only_sizes_and_digests_of_binary_content(world):
    blob = profile(world, "model", [(b"\x00\x01\x02", "application/octet-stream"),
                                   (b"\x00\x01\x03\x04", "application/octet-stream")])  # fmt: skip
    deploy(world, blob, "1")
    report = fetched(world, deploy(world, blob, "2", finish=False))

    assert report.diff.kind == "binary" and report.diff.lines == []
    assert not report.contents_shown
    assert report.row.size == 4 and report.baseline_row.size == 3
    assert report.row.sha256 != report.baseline_row.sha256


def test_it_tabulates_feature_flag_changes(world):
    flags = profile(
        world,
        "flags",
        [
            (json.dumps(FLAGS_V1).encode(), "application/json"),
            (json.dumps(FLAGS_V2).encode(), "application/json"),
        ],
        kind="AWS.AppConfig.FeatureFlags",
    )
    deploy(world, flags, "1")
    report = fetched(world, deploy(world, flags, "2", finish=False))

    assert report.row.profile_type == "AWS.AppConfig.FeatureFlags"
    changes = {(c.flag, c.change, c.attribute, c.before, c.after) for c in report.diff.flags}
    assert changes == {
        ("banner", "attribute", "text", '"Hello"', '"Sale"'),
        ("basket", "enabled", "enabled", "", ""),
        ("legacy", "removed", "enabled", "true", ""),
        ("search", "added", "enabled", "", "false"),
    }
    assert report.diff.lines  # the raw diff below the table


def test_it_has_no_baseline_for_a_first_deployment(world):
    flags = profile(world, "settings", [(b'{"a": 1}', "application/json")])
    report = fetched(world, deploy(world, flags, "1", finish=False))

    assert report.baseline is None
    assert [line.text for line in report.diff.lines if line.kind == "add"] == ["+{", '+  "a": 1', "+}"]


def test_it_skips_a_rolled_back_deployment_for_the_last_complete_one(world):
    flags = profile(world, "settings", [(b'{"a": 1}', "application/json"), (b'{"a": 2}', "application/json"),
                                       (b'{"a": 3}', "application/json")])  # fmt: skip
    deploy(world, flags, "1")
    rolled_back = deploy(world, flags, "2", finish=False, stop=True)
    number = deploy(world, flags, "3", finish=False)
    assert cached(world, rolled_back).state == "ROLLED_BACK"

    report = fetched(world, number)

    assert report.baseline.deployment_number == 1
    assert [line.text for line in report.diff.lines if line.kind in ("add", "remove")] == [
        '-  "a": 1',
        '+  "a": 3',
    ]


def test_it_ignores_deployments_of_another_profile(world):
    settings_profile = profile(world, "settings", [(b'{"a": 1}', JSON), (b'{"a": 2}', JSON)])
    other = profile(world, "other", [(b'{"z": 0}', "application/json")])
    deploy(world, settings_profile, "1")
    deploy(world, other, "1")
    report = fetched(world, deploy(world, settings_profile, "2", finish=False))

    assert report.baseline.deployment_number == 1


def test_it_never_reads_content_stored_outside_appconfig(world):
    ssm = world.client.create_configuration_profile(
        ApplicationId=world.app,
        Name="secret",
        LocationUri="secretsmanager://payments/db",
        Type="AWS.Freeform",
    )["Id"]
    deploy(world, ssm, "v-2024")
    number = deploy(world, ssm, "v-2025", finish=False)
    deployment = cached(world, number)
    deployment.refresh_from_db()
    if deployment.details_fetched_at is None:
        sync.deployment_fetch_details(deployment=deployment)
        world.emulator.reset_counters()

    deployment_fetch_configuration(deployment=deployment)
    report = configuration_report(deployment)

    calls = world.emulator.counters()
    assert not calls.get("GetHostedConfigurationVersion") and not calls.get("GetConfigurationProfile")
    assert not report.hosted and report.diff is None
    assert report.where == "an AWS Secrets Manager secret"
    assert report.baseline.configuration_version == "v-2024"
    assert report.row.sha256 == "" and not ConfigurationContent.objects.exists()


def test_it_keeps_only_digests_when_contents_are_hidden(world, settings):
    settings.SHOW_CONFIG_CONTENT = False
    flags = profile(world, "settings", [(b'{"a": 1}', "application/json"), (b'{"a": 2}', "application/json")])
    deploy(world, flags, "1")
    report = fetched(world, deploy(world, flags, "2", finish=False))

    assert report.diff is None and not report.contents_shown
    assert len(report.row.sha256) == 64 and len(report.baseline_row.sha256) == 64
    assert not ConfigurationContent.objects.exists()
    assert report.evidence()["diff"] is None


def test_it_stores_a_shared_version_once_and_never_fetches_it_twice(world):
    flags = profile(world, "settings", [(b'{"a": 1}', "application/json"), (b'{"a": 2}', "application/json")])
    deploy(world, flags, "1")
    second = deploy(world, flags, "2")
    third = deploy(world, flags, "1", finish=False)  # back to version 1, whose baseline is version 2

    fetched(world, second)
    calls = world.emulator.counters()
    assert calls["GetHostedConfigurationVersion"] == 2  # version 2 and its baseline, version 1

    deployment = cached(world, third)
    deployment_fetch_configuration(deployment=deployment)
    calls = world.emulator.counters()
    # Deployment 3's own content only: its baseline (deployment 2) was described already.
    assert calls["GetHostedConfigurationVersion"] == 1 and calls.get("GetDeployment", 0) <= 1
    assert ConfigurationContent.objects.count() == 2  # versions 1 and 2, though three deployments use them
    assert DeploymentConfiguration.objects.count() == 3

    world.emulator.reset_counters()
    deployment_fetch_configuration(deployment=deployment)
    assert not world.emulator.counters().get("GetHostedConfigurationVersion")


def test_it_stores_appconfigs_refusal_for_the_page(world):
    flags = profile(world, "settings", [(b'{"a": 1}', "application/json")])
    number = deploy(world, flags, "1", finish=False)
    deployment = cached(world, number)
    world.client.delete_hosted_configuration_version(
        ApplicationId=world.app, ConfigurationProfileId=flags, VersionNumber=1
    )

    with pytest.raises(NotFoundError):
        deployment_fetch_configuration(deployment=deployment)

    report = configuration_report(deployment)
    assert "ResourceNotFoundException" in report.error and report.diff is None


def test_it_diffs_the_demo_estates_hosted_content(account, emulator):
    emulator.seed_demo()
    sync.sync_account(account=account)
    # payments-api's environments: the newest COMPLETE deployment of each demo profile that has a baseline.
    kinds = {}
    for deployment in (
        Deployment.objects.filter(environment__application__name="payments-api", state="COMPLETE")
        .select_related("environment__application__account")
        .order_by("-deployment_number")
    ):
        deployment_fetch_configuration(deployment=deployment)
        report = configuration_report(deployment)
        if report.baseline is not None and report.diff is not None and not report.diff.identical:
            kinds.setdefault(report.row.profile_type, report)

    flags = kinds["AWS.AppConfig.FeatureFlags"]
    assert flags.row.content_type == "application/json" and flags.diff.flags
    settings_diff = kinds["AWS.Freeform"]
    assert settings_diff.diff.kind == "json" and settings_diff.diff.changed_lines > 0
