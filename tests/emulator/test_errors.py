"""Bad input of every kind gets an AWS-shaped error (x-amzn-ErrorType + JSON Message), never a traceback."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from appconfig_emulator import operations


def _assert_aws_error(response, status: int, code: str) -> dict:
    assert response.status == status
    assert response.headers["x-amzn-ErrorType"] == code
    assert response.headers["Content-Type"] == "application/json"
    document = response.json()
    assert document["Message"]
    assert "Traceback" not in document["Message"]
    return document


@pytest.mark.parametrize(
    ("call", "member"),
    [
        (lambda client: client.create_application(), "Name"),
        (lambda client: client.create_application(Name=""), "Name"),
        (lambda client: client.create_application(Name="x" * 65), "Name"),
        (
            lambda client: client.create_deployment_strategy(Name="s", DeploymentDurationInMinutes=10),
            "GrowthFactor",
        ),
        (
            lambda client: client.create_deployment_strategy(
                Name="s", DeploymentDurationInMinutes=1441, GrowthFactor=10
            ),
            "DeploymentDurationInMinutes",
        ),
        (
            lambda client: client.create_deployment_strategy(
                Name="s", DeploymentDurationInMinutes=10, GrowthFactor=100.5
            ),
            "GrowthFactor",
        ),
        (
            lambda client: client.create_deployment_strategy(
                Name="s", DeploymentDurationInMinutes=10, GrowthFactor=10, GrowthType="QUADRATIC"
            ),
            "GrowthType",
        ),
        (
            lambda client: client.create_deployment_strategy(
                Name="s", DeploymentDurationInMinutes="ten", GrowthFactor=10
            ),
            "DeploymentDurationInMinutes",
        ),
        (
            lambda client: client.create_environment(
                ApplicationId="abcdefg",
                Name="e",
                Monitors=[{"AlarmRoleArn": "arn:aws:iam::123456789012:role/r"}],
            ),
            "Monitors[0].AlarmArn",
        ),
        (lambda client: client.list_applications(MaxResults=51), "MaxResults"),
        (lambda client: client.list_applications(MaxResults=0), "MaxResults"),
        (
            lambda client: client.get_deployment_strategy(DeploymentStrategyId="not a valid id!"),
            "DeploymentStrategyId",
        ),
    ],
    ids=[
        "missing",
        "too-short",
        "too-long",
        "missing-number",
        "above-max",
        "float-above-max",
        "enum",
        "wrong-type",
        "nested-required",
        "max-results-51",
        "max-results-0",
        "pattern",
    ],
)
def test_it_refuses_invalid_input_naming_the_member(unvalidated_client, call, member):
    with pytest.raises(unvalidated_client.exceptions.BadRequestException) as raised:
        call(unvalidated_client)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert f"'{member}'" in raised.value.response["Error"]["Message"]


def test_it_refuses_a_non_integer_where_the_uri_wants_one(raw, boto3_client):
    application = boto3_client.create_application(Name="a")["Id"]
    environment = boto3_client.create_environment(ApplicationId=application, Name="e")["Id"]
    response = raw("GET", f"/applications/{application}/environments/{environment}/deployments/first")
    assert "'DeploymentNumber'" in _assert_aws_error(response, 400, "BadRequestException")["Message"]


def test_it_refuses_a_malformed_json_body(raw):
    document = _assert_aws_error(raw("POST", "/applications", body=b'{"Name": '), 400, "BadRequestException")
    assert "not valid JSON" in document["Message"]
    _assert_aws_error(raw("POST", "/applications", body=b"[1, 2]"), 400, "BadRequestException")


def test_it_answers_404_unknown_operation_for_an_unknown_path(raw):
    _assert_aws_error(raw("GET", "/nothing/here"), 404, "UnknownOperationException")
    _assert_aws_error(raw("GET", "/applications/"), 404, "UnknownOperationException")


def test_it_answers_405_for_a_known_path_with_the_wrong_method(raw):
    document = _assert_aws_error(raw("PUT", "/applications"), 405, "MethodNotAllowedException")
    assert "GET" in document["Message"] and "POST" in document["Message"]


def test_it_answers_an_unsupported_http_method_in_aws_shape(raw):
    _assert_aws_error(raw("BREW", "/applications"), 501, "UnknownOperationException")


def test_it_names_operations_it_does_not_implement(boto3_client, emulator):
    with pytest.raises(boto3_client.exceptions.BadRequestException) as raised:
        boto3_client.get_account_settings()
    assert raised.value.response["Error"]["Message"] == (
        "Operation GetAccountSettings is not implemented by appconfig_emulator"
    )
    with pytest.raises(boto3_client.exceptions.BadRequestException):
        boto3_client.list_tags_for_resource(
            ResourceArn="arn:aws:appconfig:us-east-1:123456789012:application/abc1234"
        )
    assert emulator.counters()["GetAccountSettings"] == 1


def test_it_answers_500_internal_server_exception_instead_of_a_traceback(strict_client, monkeypatch, raw):
    def broken(store, params, call):
        raise RuntimeError("a bug in a handler")

    monkeypatch.setitem(operations._HANDLERS, "ListApplications", broken)
    document = _assert_aws_error(raw("GET", "/applications"), 500, "InternalServerException")
    assert "a bug" not in document["Message"]
    with pytest.raises(strict_client.exceptions.InternalServerException):
        strict_client.list_applications()


def test_it_answers_a_garbled_request_line_with_an_aws_error_and_closes(emulator):
    url = urlsplit(emulator.url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as connection:
        connection.sendall(b"NONSENSE\r\n\r\n")
        answer = connection.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"x-amzn-ErrorType: BadRequestException" in answer


def test_it_refuses_an_invalid_content_length(raw):
    response = raw("POST", "/applications", headers={"Content-Length": "lots"})
    _assert_aws_error(response, 400, "BadRequestException")


@pytest.mark.parametrize(
    ("call", "exception", "status"),
    [
        (lambda c, t: c.get_application(ApplicationId="zzzzzzz"), "ResourceNotFoundException", 404),
        (lambda c, t: c.list_applications(NextToken="not-a-token"), "BadRequestException", 400),
        (
            lambda c, t: c.start_deployment(
                **t.ids,
                DeploymentStrategyId="AppConfig.AllAtOnce",
                ConfigurationProfileId=t.profile_id,
                ConfigurationVersion="1",
                LatestDeploymentNumber=5,
            ),
            "ConflictException",
            409,
        ),
    ],  # fmt: skip
)
def test_it_raises_the_modelled_exception_class_in_boto3(boto3_client, target, call, exception, status):
    with pytest.raises(getattr(boto3_client.exceptions, exception)) as raised:
        call(boto3_client, target)
    assert raised.value.response["Error"]["Code"] == exception
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
