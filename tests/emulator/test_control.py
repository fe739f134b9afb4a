"""The control interface under /_emulator/ and its in-process twin: counters, reset, alarms, faults, clock,
estate seeding."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ReadTimeoutError

from appconfig_emulator import Emulator, ScaledClock
from tests.emulator.helpers import START, http_request, make_client


def _post(raw, path: str, document: dict | None = None):
    return raw("POST", f"/_emulator/{path}", body=json.dumps(document or {}))


def test_it_answers_healthz(raw):
    response = raw("GET", "/_emulator/healthz")
    assert (response.status, response.json()) == (200, {"status": "ok"})


def test_it_counts_every_routed_request_including_errors_and_faults(
    raw, boto3_client, strict_client, emulator
):
    boto3_client.list_applications()
    boto3_client.list_applications()
    with pytest.raises(boto3_client.exceptions.ResourceNotFoundException):
        boto3_client.get_application(ApplicationId="zzzzzzz")
    emulator.add_fault(operation="GetDeployment", kind="error")
    with pytest.raises(strict_client.exceptions.InternalServerException):
        strict_client.get_deployment(ApplicationId="a", EnvironmentId="e", DeploymentNumber=1)
    raw("GET", "/not/an/operation")

    assert raw("GET", "/_emulator/counters").json() == {
        "ListApplications": 2,
        "GetApplication": 1,
        "GetDeployment": 1,
    }
    assert _post(raw, "counters/reset").status == 200
    assert emulator.counters() == {}


def test_it_resets_everything_but_the_predefined_strategies(raw, boto3_client, emulator, deploy):
    deploy("AppConfig.AllAtOnce")
    boto3_client.create_deployment_strategy(Name="mine", DeploymentDurationInMinutes=1, GrowthFactor=50)
    emulator.add_fault(operation="*", kind="latency", count=None, seconds=0)

    assert _post(raw, "reset").json() == {"reset": True}

    assert emulator.counters() == {} and emulator.faults() == []
    assert boto3_client.list_applications()["Items"] == []
    strategies = [item["Id"] for item in boto3_client.list_deployment_strategies()["Items"]]
    assert strategies == [
        "AppConfig.AllAtOnce",
        "AppConfig.Linear50PercentEvery30Seconds",
        "AppConfig.Canary10Percent20Minutes",
        "AppConfig.Linear20PercentEvery6Minutes",
    ]


def test_it_rolls_back_on_an_alarm_naming_the_monitors_alarm(raw, boto3_client, emulator, deploy, target):
    alarm = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:payments-5xx"
    boto3_client.update_environment(**target.ids, Monitors=[{"AlarmArn": alarm}])
    deploy("AppConfig.Canary10Percent20Minutes")
    emulator.advance(60)

    answer = _post(raw, "alarm", target.ids).json()

    assert answer == {**target.ids, "AlarmArn": alarm, "DeploymentNumber": 1}
    deployment = boto3_client.get_deployment(**target.ids, DeploymentNumber=1)
    assert deployment["State"] == "ROLLED_BACK"
    assert [(e["EventType"], e["TriggeredBy"], e["Description"]) for e in deployment["EventLog"][:2]] == [
        ("ROLLBACK_COMPLETED", "APPCONFIG", "Rollback completed"),
        ("ROLLBACK_STARTED", "CLOUDWATCH_ALARM", f"Rollback initiated by CloudWatch alarm {alarm}"),
    ]


def test_it_rolls_back_a_baking_deployment_on_an_alarm_given_in_process(
    boto3_client, emulator, deploy, target
):
    deploy("AppConfig.AllAtOnce")  # baking at once
    alarm = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:latency"
    answer = emulator.fire_alarm(target.application_id, target.environment_id, alarm_arn=alarm)
    assert answer["DeploymentNumber"] == 1
    event = boto3_client.get_deployment(**target.ids, DeploymentNumber=1)["EventLog"][1]
    assert alarm in event["Description"]


def test_it_answers_which_deployment_an_alarm_rolled_back_none_when_idle(raw, emulator, deploy, target):
    assert _post(raw, "alarm", target.ids).json()["DeploymentNumber"] is None
    deploy("AppConfig.AllAtOnce")
    emulator.advance(10 * 60)  # complete: nothing left to roll back
    assert emulator.fire_alarm(target.application_id, target.environment_id)["DeploymentNumber"] is None


def test_it_answers_404_for_an_alarm_on_an_unknown_environment(raw, target):
    response = _post(raw, "alarm", {"ApplicationId": target.application_id, "EnvironmentId": "zzzzzzz"})
    assert (response.status, response.headers["x-amzn-ErrorType"]) == (404, "ResourceNotFoundException")
    assert _post(raw, "alarm", {"ApplicationId": target.application_id}).status == 400


def test_it_throttles_with_429_and_boto3_retries_through(raw, boto3_client, strict_client, emulator):
    _post(raw, "faults", {"operation": "ListApplications", "kind": "throttle", "count": 2})
    with pytest.raises(strict_client.exceptions.ClientError) as raised:
        strict_client.list_applications()
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    # One throttle left: the default retrying client gets through on its second attempt.
    assert boto3_client.list_applications()["ResponseMetadata"]["RetryAttempts"] == 1
    assert emulator.counters()["ListApplications"] == 3


def test_it_fails_with_500_until_cleared_when_count_is_null(raw, strict_client, emulator):
    _post(raw, "faults", {"operation": "*", "kind": "error", "count": None})
    for _ in range(3):
        with pytest.raises(strict_client.exceptions.InternalServerException):
            strict_client.list_deployment_strategies()
    assert raw("GET", "/_emulator/faults").json() == {
        "faults": [{"operation": "*", "kind": "error", "count": None, "seconds": 1.0}]
    }
    assert raw("DELETE", "/_emulator/faults").json() == {"faults": []}
    strict_client.list_deployment_strategies()


def test_it_delays_an_answer_with_latency(strict_client, emulator):
    emulator.add_fault(operation="ListApplications", kind="latency", count=1, seconds=0.3)
    began = time.monotonic()
    strict_client.list_applications()
    assert time.monotonic() - began >= 0.3  # a lower bound only: a slow machine cannot make it fail
    assert emulator.faults() == []  # used up: the next answer comes without it


def test_it_applies_a_stop_then_drops_the_answer_so_the_client_times_out(emulator, deploy, target):
    deploy("AppConfig.Canary10Percent20Minutes")
    impatient = make_client(emulator.url, read_timeout=1, retries={"total_max_attempts": 1})
    emulator.add_fault(operation="StopDeployment", kind="apply_then_timeout", seconds=2.0)

    with pytest.raises(ReadTimeoutError):
        impatient.stop_deployment(**target.ids, DeploymentNumber=1)

    deployment = impatient.get_deployment(**target.ids, DeploymentNumber=1)
    assert deployment["State"] == "ROLLED_BACK"
    assert deployment["EventLog"][1]["TriggeredBy"] == "USER"
    # Not safely repeatable, as in AWS: the retry of a stop that did happen is refused.
    with pytest.raises(impatient.exceptions.BadRequestException):
        impatient.stop_deployment(**target.ids, DeploymentNumber=1)


@pytest.mark.parametrize(
    "fault",
    [
        {"operation": "NoSuchOperation", "kind": "error"},
        {"operation": "*", "kind": "explode"},
        {"operation": "*", "kind": "error", "count": 0},
        {"operation": "*", "kind": "latency", "seconds": -1},
    ],
)
def test_it_refuses_a_fault_it_cannot_apply(raw, fault):
    response = _post(raw, "faults", fault)
    assert (response.status, response.headers["x-amzn-ErrorType"]) == (400, "BadRequestException")


def test_it_reports_and_advances_the_manual_clock(raw):
    assert raw("GET", "/_emulator/clock").json() == {
        "now": "2026-11-26T12:00:00.000Z",
        "epoch": START.timestamp(),
        "manual": True,
    }
    assert _post(raw, "clock/advance", {"seconds": 90.5}).json()["now"] == "2026-11-26T12:01:30.500Z"
    assert _post(raw, "clock/advance", {"seconds": -1}).status == 400


def test_it_refuses_to_advance_a_clock_that_is_not_manual():
    with Emulator(clock=ScaledClock(60.0, start=START)) as emulator:
        with pytest.raises(ValueError):
            emulator.advance(10)
        response = http_request(emulator.url, "POST", "/_emulator/clock/advance", body=b'{"seconds": 1}')
        assert (response.status, response.headers["x-amzn-ErrorType"]) == (400, "BadRequestException")
        status = http_request(emulator.url, "GET", "/_emulator/clock").json()
        assert status["manual"] is False
        # Sixty times faster than the wall clock, starting at START.
        assert 0 <= status["epoch"] - START.timestamp() < 60 * 5


def test_it_seeds_an_estate_of_completed_deployments_over_http(raw, boto3_client):
    response = _post(raw, "estate", {"applications": 3, "environments": 2, "deployments": 4, "active": 1})
    assert response.status == 200
    estate = response.json()
    assert [application["Name"] for application in estate["applications"]] == [
        "app-001",
        "app-002",
        "app-003",
    ]
    first = estate["applications"][0]
    ids = {"ApplicationId": first["Id"], "EnvironmentId": first["Environments"][0]["Id"]}
    assert estate["active"] == [{**ids, "DeploymentNumber": 5}]

    deployments = boto3_client.list_deployments(**ids)["Items"]
    assert [(d["DeploymentNumber"], d["State"]) for d in deployments] == [
        (5, "DEPLOYING"),
        (4, "COMPLETE"),
        (3, "COMPLETE"),
        (2, "COMPLETE"),
        (1, "COMPLETE"),
    ]
    oldest = boto3_client.get_deployment(**ids, DeploymentNumber=1)
    assert len(oldest["EventLog"]) == 10
    assert oldest["StartedAt"] < oldest["CompletedAt"] < deployments[1]["StartedAt"]
    other = {"ApplicationId": first["Id"], "EnvironmentId": first["Environments"][1]["Id"]}
    assert boto3_client.list_deployments(**other)["Items"][0]["State"] == "COMPLETE"
    version = boto3_client.get_hosted_configuration_version(
        ApplicationId=first["Id"], ConfigurationProfileId=first["ConfigurationProfileId"], VersionNumber=1
    )
    assert json.loads(version["Content"].read())


def test_it_seeds_the_benchmark_estate_in_process(emulator):
    estate = emulator.seed_estate(applications=100, environments=5, deployments=20)
    assert len(estate["applications"]) == 100
    environments = [env for app in emulator.store.applications.values() for env in app.environments.values()]
    assert sum(len(environment.deployments) for environment in environments) == 10_000
    assert {environment.state(emulator.now()) for environment in environments} == {"READY_FOR_DEPLOYMENT"}


@pytest.mark.parametrize(
    "request_body",
    [
        {"applications": -1},
        {"applications": "many"},
        {"applications": 1, "environments": 21},
        {"applications": 101},
        {"active": 2},
    ],
)
def test_it_refuses_an_estate_it_cannot_build(raw, request_body):
    assert _post(raw, "estate", request_body).status == 400


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/_emulator/nope", None, 404, "UnknownOperationException"),
        ("GET", "/_emulator/reset", None, 405, "MethodNotAllowedException"),
        ("POST", "/_emulator/faults", b"{not json", 400, "BadRequestException"),
        ("POST", "/_emulator/faults", b"[]", 400, "BadRequestException"),
    ],
)
def test_it_answers_control_mistakes_in_aws_shape(raw, method, path, body, status, code):
    response = raw(method, path, body=body)
    assert (response.status, response.headers["x-amzn-ErrorType"]) == (status, code)
    assert response.json()["Message"]
