"""The optional state file: saved atomically on stop and periodically, restored on the next start."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from appconfig_emulator import Emulator, ManualClock, ScaledClock
from tests.emulator.helpers import START, make_client


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


def _build_extension_state(emulator, client) -> dict:
    ids = _build_some_state(client)
    pager = "arn:aws:sns:us-east-1:123456789012:pager"
    extension = client.create_extension(
        Name="notify", Actions={"ON_DEPLOYMENT_ROLLED_BACK": [{"Name": "page", "Uri": pager}]}
    )
    association = client.create_extension_association(
        ExtensionIdentifier="notify",
        ResourceIdentifier=f"arn:aws:appconfig:us-east-1:123456789012:application/{ids['ApplicationId']}",
    )
    emulator.fail_action(pager, error_code="AuthorizationError", error_message="Denied")
    target = {"ApplicationId": ids["ApplicationId"], "EnvironmentId": ids["EnvironmentId"]}
    client.stop_deployment(**target, DeploymentNumber=2)
    client.start_deployment(
        **target,
        DeploymentStrategyId=ids["DeploymentStrategyId"],
        ConfigurationProfileId=ids["ConfigurationProfileId"],
        ConfigurationVersion="1",
        KmsKeyIdentifier="alias/flags",
    )
    client.stop_deployment(**target, DeploymentNumber=3)
    return {**target, "ExtensionId": extension["Id"], "ExtensionAssociationId": association["Id"]}


def test_it_keeps_extensions_associations_and_failing_actions_across_a_restart(tmp_path):
    state_file = tmp_path / "state.json"
    with Emulator(clock=ManualClock(start=START), state_file=state_file) as first:
        client = make_client(first.url)
        ids = _build_extension_state(first, client)
        target = {"ApplicationId": ids["ApplicationId"], "EnvironmentId": ids["EnvironmentId"]}
        before = client.get_deployment(**target, DeploymentNumber=3)
        failures = first.action_failures()

    with Emulator(clock=ManualClock(start=START), state_file=state_file) as second:
        client = make_client(second.url)
        after = client.get_deployment(**target, DeploymentNumber=3)
        assert second.action_failures() == failures
        assert client.get_extension(ExtensionIdentifier=ids["ExtensionId"])["Name"] == "notify"
        association = client.get_extension_association(ExtensionAssociationId=ids["ExtensionAssociationId"])
        assert association["ExtensionArn"].endswith(f"extension/{ids['ExtensionId']}/1")
    for document in (before, after):
        del document["ResponseMetadata"]
    assert after == before
    assert after["KmsKeyArn"].startswith("arn:aws:kms:us-east-1:123456789012:key/")
    assert after["EventLog"][0]["ActionInvocations"][0]["ErrorCode"] == "AuthorizationError"


def test_it_reads_a_state_file_saved_before_extensions_existed(tmp_path):
    state_file = tmp_path / "state.json"
    with Emulator(clock=ManualClock(start=START), state_file=state_file) as first:
        ids = _build_some_state(make_client(first.url))
    document = json.loads(state_file.read_text())
    for key in ("extensions", "associations", "action_failures"):
        del document[key]
    for application in document["applications"]:
        for environment in application["environments"]:
            for deployment in environment["deployments"]:
                del deployment["kms_key_arn"], deployment["applied_extensions"]
    state_file.write_text(json.dumps(document))

    with Emulator(clock=ManualClock(start=START), state_file=state_file) as second:
        client = make_client(second.url)
        deployment = client.get_deployment(
            ApplicationId=ids["ApplicationId"], EnvironmentId=ids["EnvironmentId"], DeploymentNumber=2
        )
        assert deployment["State"] == "DEPLOYING"
        assert client.list_extensions()["Items"] == []


def _moments(client, ids: dict) -> list:
    target = {"ApplicationId": ids["ApplicationId"], "EnvironmentId": ids["EnvironmentId"]}
    moments = []
    for number in (1, 2):
        deployment = client.get_deployment(**target, DeploymentNumber=number)
        moments += [deployment["StartedAt"], *(event["OccurredAt"] for event in deployment["EventLog"])]
    return moments


def test_it_moves_a_state_saved_ahead_of_a_real_time_clock_back_instead_of_running_ahead(tmp_path):
    state_file = tmp_path / "state.json"
    with Emulator(clock=ManualClock(start=START), state_file=state_file) as first:
        ids = _build_some_state(make_client(first.url))  # both deployments start at START
        first.advance(4 * 3600)  # as a fast --time-scale run would have: saved 4 hours ahead

    with Emulator(clock=ScaledClock(1.0, start=START), state_file=state_file) as second:
        assert second.now() - START.timestamp() < 3600  # the clock was not pushed ahead
        client = make_client(second.url)
        moments = _moments(client, ids)
        latest = client.get_deployment(
            ApplicationId=ids["ApplicationId"], EnvironmentId=ids["EnvironmentId"], DeploymentNumber=2
        )
        now = datetime.fromtimestamp(second.now(), UTC)
    assert max(moments) <= now
    assert latest["StartedAt"] < START - timedelta(hours=3)  # moved back by about the 4 hours it was ahead
    assert latest["State"] == "COMPLETE" and latest["CompletedAt"] - latest["StartedAt"] == timedelta(
        minutes=10
    )


def test_it_leaves_a_state_saved_in_the_past_of_a_real_time_clock_where_it_was(tmp_path):
    state_file = tmp_path / "state.json"
    with Emulator(clock=ManualClock(start=START), state_file=state_file) as first:
        ids = _build_some_state(make_client(first.url))

    with Emulator(clock=ScaledClock(1.0, start=START + timedelta(hours=1)), state_file=state_file) as second:
        latest = make_client(second.url).get_deployment(
            ApplicationId=ids["ApplicationId"], EnvironmentId=ids["EnvironmentId"], DeploymentNumber=2
        )
    assert latest["StartedAt"] == START
