"""Deployments through boto3 under a manual clock: progress, events, states, and one at a time."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from tests.emulator.helpers import START, make_client


def _events(deployment) -> list[tuple[str, str, str, float]]:
    """(type, triggered by, description, minutes after START), oldest first."""
    return [
        (e["EventType"], e["TriggeredBy"], e["Description"], (e["OccurredAt"] - START).total_seconds() / 60)
        for e in reversed(deployment["EventLog"])
    ]


def test_it_answers_start_with_deploying_and_one_started_event(deploy, make_strategy):
    started = deploy(make_strategy(), Description="Turn on refunds")
    assert started["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (started["DeploymentNumber"], started["State"], started["PercentageComplete"]) == (
        1,
        "DEPLOYING",
        0.0,
    )
    assert started["Description"] == "Turn on refunds"
    assert started["StartedAt"] == START
    assert _events(started) == [("DEPLOYMENT_STARTED", "USER", "Deployment started", 0.0)]


def test_it_takes_a_linear_deployment_through_every_step_as_in_aws_example(
    boto3_client, emulator, deploy, make_strategy, target
):
    deploy(make_strategy(duration=15, growth=25.0, bake=0))

    def at(minutes: float):
        emulator.advance(minutes * 60 - (emulator.now() - START.timestamp()))
        return boto3_client.get_deployment(**target.ids, DeploymentNumber=1)

    observed = [(m, at(m)) for m in (0, 2.9, 3, 6, 9, 12, 14.9, 15)]
    assert [(m, d["State"], d["PercentageComplete"]) for m, d in observed] == [
        (0, "DEPLOYING", 0.0),
        (2.9, "DEPLOYING", 0.0),
        (3, "DEPLOYING", 25.0),
        (6, "DEPLOYING", 50.0),
        (9, "DEPLOYING", 75.0),
        (12, "DEPLOYING", 100.0),
        (14.9, "DEPLOYING", 100.0),
        (15, "COMPLETE", 100.0),
    ]
    final = observed[-1][1]
    assert _events(final) == [
        ("DEPLOYMENT_STARTED", "USER", "Deployment started", 0.0),
        ("PERCENTAGE_UPDATED", "APPCONFIG", "Configuration available to 25.00% of clients", 3.0),
        ("PERCENTAGE_UPDATED", "APPCONFIG", "Configuration available to 50.00% of clients", 6.0),
        ("PERCENTAGE_UPDATED", "APPCONFIG", "Configuration available to 75.00% of clients", 9.0),
        ("PERCENTAGE_UPDATED", "APPCONFIG", "Configuration available to 100.00% of clients", 12.0),
        ("BAKE_TIME_STARTED", "APPCONFIG", "Deployment bake time started", 15.0),
        ("DEPLOYMENT_COMPLETED", "APPCONFIG", "Deployment completed", 15.0),
    ]
    assert final["CompletedAt"] == START + timedelta(minutes=15)
    assert final["EventLog"][0]["EventType"] == "DEPLOYMENT_COMPLETED"  # newest first


def test_it_takes_an_exponential_deployment_through_bake_to_complete(
    boto3_client, emulator, deploy, make_strategy, target
):
    deploy(make_strategy(duration=30, growth=10.0, growth_type="EXPONENTIAL", bake=10))
    seen = []
    for _ in range(9):
        deployment = boto3_client.get_deployment(**target.ids, DeploymentNumber=1)
        seen.append((deployment["State"], deployment["PercentageComplete"], "CompletedAt" in deployment))
        emulator.advance(5 * 60)
    assert seen == [
        ("DEPLOYING", 0.0, False),
        ("DEPLOYING", 10.0, False),
        ("DEPLOYING", 20.0, False),
        ("DEPLOYING", 40.0, False),
        ("DEPLOYING", 80.0, False),
        ("DEPLOYING", 100.0, False),
        ("BAKING", 100.0, False),
        ("BAKING", 100.0, False),
        ("COMPLETE", 100.0, True),
    ]
    final = boto3_client.get_deployment(**target.ids, DeploymentNumber=1)
    assert [(kind, minutes) for kind, _, _, minutes in _events(final)] == [
        ("DEPLOYMENT_STARTED", 0.0),
        ("PERCENTAGE_UPDATED", 5.0),
        ("PERCENTAGE_UPDATED", 10.0),
        ("PERCENTAGE_UPDATED", 15.0),
        ("PERCENTAGE_UPDATED", 20.0),
        ("PERCENTAGE_UPDATED", 25.0),
        ("BAKE_TIME_STARTED", 30.0),
        ("DEPLOYMENT_COMPLETED", 40.0),
    ]
    assert final["GrowthType"] == "EXPONENTIAL"


def test_it_deploys_all_at_once_and_bakes_for_ten_minutes(boto3_client, emulator, deploy, target):
    assert deploy("AppConfig.AllAtOnce")["State"] == "DEPLOYING"
    now = boto3_client.get_deployment(**target.ids, DeploymentNumber=1)
    assert (now["State"], now["PercentageComplete"]) == ("BAKING", 100.0)
    emulator.advance(10 * 60)
    assert boto3_client.get_deployment(**target.ids, DeploymentNumber=1)["State"] == "COMPLETE"


def test_it_reports_the_deployment_in_the_models_member_names(boto3_client, deploy, target):
    boto3_client.create_hosted_configuration_version(
        ApplicationId=target.application_id,
        ConfigurationProfileId=target.profile_id,
        Content=b"{}",
        ContentType="application/json",
        VersionLabel="release-2",
    )
    started = boto3_client.start_deployment(
        **target.ids,
        DeploymentStrategyId="AppConfig.Canary10Percent20Minutes",
        ConfigurationProfileId=target.profile_id,
        ConfigurationVersion="2",
    )
    assert {
        key: started[key] for key in started if key not in ("ResponseMetadata", "EventLog", "StartedAt")
    } == {
        "ApplicationId": target.application_id,
        "EnvironmentId": target.environment_id,
        "DeploymentStrategyId": "AppConfig.Canary10Percent20Minutes",
        "ConfigurationProfileId": target.profile_id,
        "DeploymentNumber": 1,
        "ConfigurationName": "flags",
        "ConfigurationLocationUri": "hosted",
        "ConfigurationVersion": "2",
        "VersionLabel": "release-2",
        "DeploymentDurationInMinutes": 20,
        "GrowthType": "EXPONENTIAL",
        "GrowthFactor": 10.0,
        "FinalBakeTimeInMinutes": 10,
        "State": "DEPLOYING",
        "PercentageComplete": 0.0,
        "AppliedExtensions": [],
    }


def test_it_keeps_a_running_deployment_on_the_strategy_it_started_with(
    boto3_client, emulator, deploy, make_strategy, target
):
    strategy = make_strategy(duration=10, growth=50.0)
    deploy(strategy)
    boto3_client.update_deployment_strategy(DeploymentStrategyId=strategy, DeploymentDurationInMinutes=100)
    emulator.advance(10 * 60)
    deployment = boto3_client.get_deployment(**target.ids, DeploymentNumber=1)
    assert (deployment["State"], deployment["DeploymentDurationInMinutes"]) == ("COMPLETE", 10)


def test_it_lets_the_environment_state_follow_its_latest_deployment(
    boto3_client, emulator, deploy, make_strategy, target
):
    assert boto3_client.get_environment(**target.ids)["State"] == "READY_FOR_DEPLOYMENT"
    deploy(make_strategy(duration=10, growth=50.0, bake=5))
    assert boto3_client.get_environment(**target.ids)["State"] == "DEPLOYING"
    emulator.advance(12 * 60)  # baking
    assert boto3_client.get_environment(**target.ids)["State"] == "DEPLOYING"
    emulator.advance(3 * 60)
    assert boto3_client.get_environment(**target.ids)["State"] == "READY_FOR_DEPLOYMENT"
    assert boto3_client.list_environments(ApplicationId=target.application_id)["Items"][0]["State"] == (
        "READY_FOR_DEPLOYMENT"
    )


@pytest.mark.parametrize("minutes", [0, 12], ids=["deploying", "baking"])
def test_it_refuses_a_second_deployment_while_one_runs(
    deploy, emulator, make_strategy, boto3_client, minutes
):
    deploy(make_strategy(duration=10, growth=50.0, bake=5))
    emulator.advance(minutes * 60)
    with pytest.raises(boto3_client.exceptions.ConflictException) as raised:
        deploy("AppConfig.AllAtOnce")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_it_starts_the_next_deployment_once_the_previous_completed(deploy, emulator, make_strategy):
    deploy(make_strategy(duration=10, growth=50.0, bake=5))
    emulator.advance(15 * 60)
    assert deploy("AppConfig.AllAtOnce")["DeploymentNumber"] == 2


def test_it_lets_only_one_of_two_simultaneous_starts_win(emulator, deploy, make_strategy, target):
    strategy = make_strategy()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def start() -> None:
        client = make_client(emulator.url, retries={"total_max_attempts": 1})
        barrier.wait()
        try:
            client.start_deployment(
                **target.ids,
                DeploymentStrategyId=strategy,
                ConfigurationProfileId=target.profile_id,
                ConfigurationVersion="1",
            )
            outcomes.append("started")
        except client.exceptions.ConflictException:
            outcomes.append("conflict")

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "started"]
    assert len(emulator.store.environment(target.application_id, target.environment_id).deployments) == 1


def test_it_deploys_to_different_environments_in_parallel(boto3_client, deploy, target):
    other = boto3_client.create_environment(ApplicationId=target.application_id, Name="staging")["Id"]
    deploy("AppConfig.Canary10Percent20Minutes")
    started = boto3_client.start_deployment(
        ApplicationId=target.application_id,
        EnvironmentId=other,
        DeploymentStrategyId="AppConfig.Canary10Percent20Minutes",
        ConfigurationProfileId=target.profile_id,
        ConfigurationVersion="1",
    )
    assert started["DeploymentNumber"] == 1  # numbered per environment


def test_it_refuses_a_start_against_a_stale_latest_deployment_number(deploy, emulator, boto3_client):
    deploy("AppConfig.AllAtOnce")
    emulator.advance(10 * 60)
    with pytest.raises(boto3_client.exceptions.ConflictException):
        deploy("AppConfig.AllAtOnce", LatestDeploymentNumber=0)
    assert deploy("AppConfig.AllAtOnce", LatestDeploymentNumber=1)["DeploymentNumber"] == 2


@pytest.mark.parametrize(
    ("field", "value", "resource"),
    [
        ("DeploymentStrategyId", "zzzzzzz", "DeploymentStrategy"),
        ("ConfigurationProfileId", "zzzzzzz", "ConfigurationProfile"),
        ("ConfigurationVersion", "9", "HostedConfigurationVersion"),
    ],
)
def test_it_answers_404_for_a_start_naming_something_unknown(boto3_client, target, field, value, resource):
    request = {
        **target.ids,
        "DeploymentStrategyId": "AppConfig.AllAtOnce",
        "ConfigurationProfileId": target.profile_id,
        "ConfigurationVersion": "1",
        field: value,
    }
    with pytest.raises(boto3_client.exceptions.ResourceNotFoundException) as raised:
        boto3_client.start_deployment(**request)
    assert raised.value.response["ResourceName"] == resource


def test_it_lists_deployments_newest_first_as_summaries(boto3_client, emulator, deploy, target):
    for _ in range(3):
        deploy("AppConfig.AllAtOnce")
        emulator.advance(10 * 60)
    items = boto3_client.list_deployments(**target.ids)["Items"]
    assert [item["DeploymentNumber"] for item in items] == [3, 2, 1]
    assert {item["State"] for item in items} == {"COMPLETE"}
    assert "EventLog" not in items[0]
    assert items[2]["CompletedAt"] == START + timedelta(minutes=10)


def test_it_refuses_to_delete_an_environment_with_a_running_deployment(
    boto3_client, emulator, deploy, target
):
    deploy("AppConfig.Canary10Percent20Minutes")
    with pytest.raises(boto3_client.exceptions.ConflictException):
        boto3_client.delete_environment(**target.ids)
    emulator.advance(30 * 60)
    boto3_client.delete_environment(**target.ids)
