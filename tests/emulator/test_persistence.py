"""The optional state file: saved atomically on stop and periodically, restored on the next start."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from appconfig_emulator import Emulator, ManualClock

from .conftest import START, make_client


def _build_some_state(client) -> dict[str, str]:
    application = client.create_application(Name="payments", Description="Card payments")["Id"]
    environment = client.create_environment(
        ApplicationId=application,
        Name="prod",
        Monitors=[{"AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a"}],
    )["Id"]
    profile = client.create_configuration_profile(
        ApplicationId=application, Name="flags", LocationUri="hosted"
    )["Id"]
    client.create_hosted_configuration_version(
        ApplicationId=application,
        ConfigurationProfileId=profile,
        Content=b'{"on": true}',
        ContentType="application/json",
        VersionLabel="v1",
    )
    strategy = client.create_deployment_strategy(Name="s", DeploymentDurationInMinutes=10, GrowthFactor=50)[
        "Id"
    ]
    ids = {"ApplicationId": application, "EnvironmentId": environment}
    client.start_deployment(
        **ids, DeploymentStrategyId=strategy, ConfigurationProfileId=profile, ConfigurationVersion="1"
    )
    client.stop_deployment(**ids, DeploymentNumber=1)
    client.start_deployment(
        **ids, DeploymentStrategyId=strategy, ConfigurationProfileId=profile, ConfigurationVersion="1"
    )
    return {**ids, "ConfigurationProfileId": profile, "DeploymentStrategyId": strategy}


def test_it_keeps_everything_across_a_restart(tmp_path):
    state_file = tmp_path / "emulator-state.json"
    with Emulator(clock=ManualClock(start=START), state_file=state_file) as first:
        client = make_client(first.url)
        ids = _build_some_state(client)
        first.advance(5 * 60)
        before = {
            "deployments": client.list_deployments(
                ApplicationId=ids["ApplicationId"], EnvironmentId=ids["EnvironmentId"]
            ),
            "rolled_back": client.get_deployment(
                ApplicationId=ids["ApplicationId"], EnvironmentId=ids["EnvironmentId"], DeploymentNumber=1
            ),
            "environment": client.get_environment(
                ApplicationId=ids["ApplicationId"], EnvironmentId=ids["EnvironmentId"]
            ),
        }
    assert state_file.exists()
    assert [path.name for path in tmp_path.iterdir()] == ["emulator-state.json"]  # no temporary file left

    with Emulator(clock=ManualClock(start=START), state_file=state_file) as second:
        assert second.restored
        # The clock resumes from where the first run saved it, not from START again.
        assert second.now() == START.timestamp() + 5 * 60
        client = make_client(second.url)
        after = {
            "deployments": client.list_deployments(
                ApplicationId=ids["ApplicationId"], EnvironmentId=ids["EnvironmentId"]
            ),
            "rolled_back": client.get_deployment(
                ApplicationId=ids["ApplicationId"], EnvironmentId=ids["EnvironmentId"], DeploymentNumber=1
            ),
            "environment": client.get_environment(
                ApplicationId=ids["ApplicationId"], EnvironmentId=ids["EnvironmentId"]
            ),
        }
        for document in (*before.values(), *after.values()):
            del document["ResponseMetadata"]
        assert after == before
        assert after["deployments"]["Items"][0]["PercentageComplete"] == 50.0
        version = client.get_hosted_configuration_version(
            ApplicationId=ids["ApplicationId"],
            ConfigurationProfileId=ids["ConfigurationProfileId"],
            VersionNumber=1,
        )
        assert (version["Content"].read(), version["VersionLabel"]) == (b'{"on": true}', "v1")
        assert client.get_deployment_strategy(DeploymentStrategyId=ids["DeploymentStrategyId"])["Name"] == "s"

        # Deployments keep moving after the restart, and new resources line up after the restored ones.
        second.advance(5 * 60)
        latest = client.get_deployment(
            ApplicationId=ids["ApplicationId"], EnvironmentId=ids["EnvironmentId"], DeploymentNumber=2
        )
        assert latest["State"] == "COMPLETE"
        assert latest["CompletedAt"] == START + timedelta(minutes=10)
        newer = client.create_application(Name="later")["Id"]
        assert [item["Id"] for item in client.list_applications()["Items"]] == [ids["ApplicationId"], newer]


def test_it_saves_periodically_while_running(tmp_path):
    state_file = tmp_path / "state.json"
    with Emulator(clock=ManualClock(start=START), state_file=state_file, save_interval=0.05) as emulator:
        make_client(emulator.url).create_application(Name="saved-early")
        deadline = time.monotonic() + 5
        while not state_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        document = json.loads(state_file.read_text())
    assert [application["name"] for application in document["applications"]] == ["saved-early"]


def test_it_refuses_a_file_that_is_not_its_state(tmp_path):
    state_file = tmp_path / "state.json"
    state_file.write_text('{"format": "something else"}')
    with pytest.raises(ValueError):
        Emulator(state_file=state_file)
