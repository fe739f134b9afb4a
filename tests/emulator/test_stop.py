"""StopDeployment in every state, reverts inside and outside 72 hours, and the sparse or full answer."""

from __future__ import annotations

import pytest

from appconfig_emulator import Emulator, ManualClock
from tests.emulator.helpers import START, make_client


def _stop(client, target, number: int = 1, **extra):
    return client.stop_deployment(**target.ids, DeploymentNumber=number, **extra)


def _latest_events(client, target, count: int) -> list[tuple[str, str, str]]:
    deployment = client.get_deployment(**target.ids, DeploymentNumber=1)
    return [(e["EventType"], e["TriggeredBy"], e["Description"]) for e in deployment["EventLog"][:count]]


def test_it_answers_a_stop_with_the_sparse_body_of_aws_examples(boto3_client, deploy, target):
    deploy("AppConfig.Canary10Percent20Minutes")
    answer = _stop(boto3_client, target)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    del answer["ResponseMetadata"]
    assert answer == {
        "DeploymentNumber": 0,
        "DeploymentDurationInMinutes": 0,
        "GrowthFactor": 0.0,
        "FinalBakeTimeInMinutes": 0,
        "PercentageComplete": 0.0,
    }


def test_it_rolls_back_a_deploying_deployment_naming_the_caller(boto3_client, emulator, deploy, target):
    deploy("AppConfig.Canary10Percent20Minutes")
    emulator.advance(8 * 60)  # two steps: 10 %, 20 %
    _stop(boto3_client, target)

    deployment = boto3_client.get_deployment(**target.ids, DeploymentNumber=1)
    assert (deployment["State"], deployment["PercentageComplete"]) == ("ROLLED_BACK", 20.0)
    assert _latest_events(boto3_client, target, 3) == [
        ("ROLLBACK_COMPLETED", "APPCONFIG", "Rollback completed"),
        ("ROLLBACK_STARTED", "USER", "Rollback initiated by AKIDTEST"),
        ("PERCENTAGE_UPDATED", "APPCONFIG", "Configuration available to 20.00% of clients"),
    ]
    assert deployment["EventLog"][0]["OccurredAt"].timestamp() == START.timestamp() + 8 * 60
    assert "CompletedAt" not in deployment
    assert boto3_client.get_environment(**target.ids)["State"] == "ROLLED_BACK"

    # Frozen: time passing changes nothing any more.
    emulator.advance(3600)
    assert boto3_client.get_deployment(**target.ids, DeploymentNumber=1)["EventLog"] == deployment["EventLog"]


def test_it_rolls_back_a_baking_deployment(boto3_client, emulator, deploy, target):
    deploy("AppConfig.AllAtOnce")
    emulator.advance(5 * 60)
    assert boto3_client.get_deployment(**target.ids, DeploymentNumber=1)["State"] == "BAKING"
    _stop(boto3_client, target)
    assert boto3_client.get_deployment(**target.ids, DeploymentNumber=1)["State"] == "ROLLED_BACK"
    assert _latest_events(boto3_client, target, 3)[2][0] == "BAKE_TIME_STARTED"


def test_it_lets_a_new_deployment_start_after_a_rollback(boto3_client, deploy, target):
    deploy("AppConfig.Canary10Percent20Minutes")
    _stop(boto3_client, target)
    assert deploy("AppConfig.AllAtOnce")["DeploymentNumber"] == 2


def test_it_refuses_to_stop_a_complete_deployment_without_allow_revert(
    boto3_client, emulator, deploy, target
):
    deploy("AppConfig.AllAtOnce")
    emulator.advance(10 * 60)
    with pytest.raises(boto3_client.exceptions.BadRequestException) as raised:
        _stop(boto3_client, target)
    assert "AllowRevert" in raised.value.response["Error"]["Message"]
    assert boto3_client.get_deployment(**target.ids, DeploymentNumber=1)["State"] == "COMPLETE"


def test_it_reverts_a_complete_deployment_within_72_hours(boto3_client, emulator, deploy, target):
    deploy("AppConfig.AllAtOnce")
    emulator.advance(10 * 60 + 72 * 3600)  # exactly 72 hours after completion
    _stop(boto3_client, target, AllowRevert=True)

    deployment = boto3_client.get_deployment(**target.ids, DeploymentNumber=1)
    assert (deployment["State"], deployment["PercentageComplete"]) == ("REVERTED", 100.0)
    assert _latest_events(boto3_client, target, 3) == [
        ("REVERT_COMPLETED", "APPCONFIG", "Revert completed"),
        ("ROLLBACK_STARTED", "USER", "Revert initiated by AKIDTEST"),
        ("DEPLOYMENT_COMPLETED", "APPCONFIG", "Deployment completed"),
    ]
    assert boto3_client.get_environment(**target.ids)["State"] == "REVERTED"


def test_it_refuses_to_revert_more_than_72_hours_after_completion(boto3_client, emulator, deploy, target):
    deploy("AppConfig.AllAtOnce")
    emulator.advance(10 * 60 + 72 * 3600 + 1)
    with pytest.raises(boto3_client.exceptions.BadRequestException) as raised:
        _stop(boto3_client, target, AllowRevert=True)
    assert "72 hours" in raised.value.response["Error"]["Message"]


def test_it_rolls_back_a_running_deployment_even_with_allow_revert(boto3_client, deploy, target):
    deploy("AppConfig.Canary10Percent20Minutes")
    _stop(boto3_client, target, AllowRevert=True)
    assert boto3_client.get_deployment(**target.ids, DeploymentNumber=1)["State"] == "ROLLED_BACK"


@pytest.mark.parametrize("allow_revert", [False, True])
@pytest.mark.parametrize("first_stop", ["rollback", "revert"])
def test_it_refuses_to_stop_a_deployment_twice(
    boto3_client, emulator, deploy, target, first_stop, allow_revert
):
    deploy("AppConfig.AllAtOnce")
    if first_stop == "revert":
        emulator.advance(10 * 60)
    _stop(boto3_client, target, AllowRevert=True)
    with pytest.raises(boto3_client.exceptions.BadRequestException) as raised:
        _stop(boto3_client, target, AllowRevert=allow_revert)
    assert "already been stopped" in raised.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("application", "environment", "number", "resource"),
    [("zzzzzzz", None, 1, "Application"), (None, "zzzzzzz", 1, "Environment"), (None, None, 7, "Deployment")],
)
def test_it_answers_404_when_stopping_something_unknown(
    boto3_client, deploy, target, application, environment, number, resource
):
    deploy("AppConfig.AllAtOnce")
    with pytest.raises(boto3_client.exceptions.ResourceNotFoundException) as raised:
        boto3_client.stop_deployment(
            ApplicationId=application or target.application_id,
            EnvironmentId=environment or target.environment_id,
            DeploymentNumber=number,
        )
    assert raised.value.response["ResourceName"] == resource
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_it_answers_the_full_deployment_when_asked_to():
    with Emulator(clock=ManualClock(start=START), stop_response="full") as emulator:
        client = make_client(emulator.url)
        application = client.create_application(Name="a")["Id"]
        environment = client.create_environment(ApplicationId=application, Name="e")["Id"]
        profile = client.create_configuration_profile(
            ApplicationId=application, Name="p", LocationUri="ssm-parameter://p"
        )["Id"]
        client.start_deployment(
            ApplicationId=application,
            EnvironmentId=environment,
            DeploymentStrategyId="AppConfig.Canary10Percent20Minutes",
            ConfigurationProfileId=profile,
            ConfigurationVersion="7",
        )
        answer = client.stop_deployment(
            ApplicationId=application, EnvironmentId=environment, DeploymentNumber=1
        )
    assert (answer["DeploymentNumber"], answer["State"], answer["ConfigurationVersion"]) == (
        1,
        "ROLLED_BACK",
        "7",
    )
    assert answer["EventLog"][0]["EventType"] == "ROLLBACK_COMPLETED"
