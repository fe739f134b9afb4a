"""Extensions and extension associations through boto3, and what they add to deployments: AppliedExtensions,
the ActionInvocations of events at action points, failing actions; and KmsKeyArn/KmsKeyIdentifier."""

from __future__ import annotations

import json

import boto3
import pytest

from appconfig_emulator import Emulator, ManualClock
from tests.emulator.helpers import START, http_request, make_client

ACCOUNT = "123456789012"
NOTIFY = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:notify-slack"
PAGER = f"arn:aws:sns:us-east-1:{ACCOUNT}:pager"
PAGER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/appconfig-pager"
ACTIONS = {
    "ON_DEPLOYMENT_START": [{"Name": "notify-start", "Uri": NOTIFY}],
    "ON_DEPLOYMENT_STEP": [{"Name": "notify-step", "Uri": NOTIFY}],
    "ON_DEPLOYMENT_BAKING": [{"Name": "notify-baking", "Uri": NOTIFY}],
    "ON_DEPLOYMENT_COMPLETE": [{"Name": "notify-complete", "Uri": NOTIFY}],
    "ON_DEPLOYMENT_ROLLED_BACK": [{"Name": "page-on-call", "Uri": PAGER, "RoleArn": PAGER_ROLE}],
}


def _arn(*path: str) -> str:
    return f"arn:aws:appconfig:us-east-1:{ACCOUNT}:" + "/".join(path)


@pytest.fixture
def extension(boto3_client) -> dict:
    return boto3_client.create_extension(
        Name="deployment-notifications",
        Description="Tells the team",
        Actions=ACTIONS,
        Parameters={"channel": {"Required": True, "Description": "Slack channel"}},
    )


@pytest.fixture
def associated(boto3_client, extension, target) -> dict:
    """The extension associated with the target's application."""
    return boto3_client.create_extension_association(
        ExtensionIdentifier=extension["Id"],
        ResourceIdentifier=_arn("application", target.application_id),
        Parameters={"channel": "#payments"},
    )


def _invocations(deployment: dict) -> list[tuple[str, str, str]]:
    """(event type, action name, error code or "") of every invocation, oldest event first."""
    return [
        (event["EventType"], invocation["ActionName"], invocation.get("ErrorCode", ""))
        for event in reversed(deployment["EventLog"])
        for invocation in event.get("ActionInvocations", [])
    ]


# --- extensions ---------------------------------------------------------------------------------------------


def test_it_creates_and_reads_an_extension_by_id_name_and_arn(boto3_client, extension):
    assert extension["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert len(extension["Id"]) == 7 and extension["VersionNumber"] == 1
    assert extension["Arn"] == _arn("extension", extension["Id"], "1")
    assert extension["Actions"]["ON_DEPLOYMENT_ROLLED_BACK"][0]["RoleArn"] == PAGER_ROLE
    for identifier in (extension["Id"], "deployment-notifications", extension["Arn"]):
        found = boto3_client.get_extension(ExtensionIdentifier=identifier)
        assert (found["Id"], found["Parameters"]["channel"]["Required"]) == (extension["Id"], True)
    listed = boto3_client.list_extensions()["Items"]
    assert [(item["Id"], item["Name"], item["VersionNumber"]) for item in listed] == [
        (extension["Id"], "deployment-notifications", 1)
    ]
    with pytest.raises(boto3_client.exceptions.ResourceNotFoundException):
        boto3_client.get_extension(ExtensionIdentifier="nothing")


def test_it_makes_a_new_version_only_against_the_latest_version_number(boto3_client, extension):
    with pytest.raises(boto3_client.exceptions.ConflictException):
        boto3_client.create_extension(Name="deployment-notifications", Actions=ACTIONS)
    with pytest.raises(boto3_client.exceptions.ConflictException):
        boto3_client.create_extension(Name="deployment-notifications", Actions=ACTIONS, LatestVersionNumber=7)

    second = boto3_client.create_extension(
        Name="deployment-notifications", Actions=ACTIONS, Description="v2", LatestVersionNumber=1
    )

    assert (second["Id"], second["VersionNumber"]) == (extension["Id"], 2)
    assert boto3_client.get_extension(ExtensionIdentifier=extension["Id"])["Description"] == "v2"
    first = boto3_client.get_extension(ExtensionIdentifier=extension["Id"], VersionNumber=1)
    assert first["Description"] == "Tells the team"
    assert boto3_client.list_extensions(Name="deployment-notifications")["Items"][0]["VersionNumber"] == 2
    boto3_client.delete_extension(ExtensionIdentifier=extension["Id"])  # the latest version
    assert boto3_client.get_extension(ExtensionIdentifier=extension["Id"])["VersionNumber"] == 1


def test_it_refuses_to_delete_an_extension_that_is_associated(boto3_client, extension, associated):
    with pytest.raises(boto3_client.exceptions.BadRequestException):
        boto3_client.delete_extension(ExtensionIdentifier=extension["Id"])
    boto3_client.delete_extension_association(ExtensionAssociationId=associated["Id"])
    boto3_client.delete_extension(ExtensionIdentifier=extension["Id"])
    assert boto3_client.list_extensions()["Items"] == []


# --- associations -------------------------------------------------------------------------------------------


def test_it_associates_an_extension_with_an_application(boto3_client, extension, associated, target):
    assert associated["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert associated["ExtensionArn"] == extension["Arn"]
    assert associated["ResourceArn"] == _arn("application", target.application_id)
    assert associated["Arn"] == _arn("extensionassociation", associated["Id"])
    assert (associated["Parameters"], associated["ExtensionVersionNumber"]) == ({"channel": "#payments"}, 1)
    found = boto3_client.get_extension_association(ExtensionAssociationId=associated["Id"])
    assert found["Id"] == associated["Id"]

    by_resource = boto3_client.list_extension_associations(
        ResourceIdentifier=_arn("application", target.application_id)
    )["Items"]
    assert [item["Id"] for item in by_resource] == [associated["Id"]]
    elsewhere = _arn("application", target.application_id, "environment", target.environment_id)
    assert boto3_client.list_extension_associations(ResourceIdentifier=elsewhere)["Items"] == []
    by_extension = boto3_client.list_extension_associations(ExtensionIdentifier="deployment-notifications")
    assert [item["Id"] for item in by_extension["Items"]] == [associated["Id"]]


@pytest.mark.parametrize(
    ("resource", "parameters", "error"),
    [
        ("application/zzzzzzz", {"channel": "#x"}, "ResourceNotFoundException"),
        ("environment-of-target/zzzzzzz", {"channel": "#x"}, "ResourceNotFoundException"),
        ("not-an-appconfig-arn", {"channel": "#x"}, "BadRequestException"),
        ("application-of-target", {}, "BadRequestException"),  # the required channel
        ("application-of-target", {"channel": "#x", "colour": "red"}, "BadRequestException"),
    ],
)
def test_it_refuses_an_association_it_cannot_make(
    boto3_client, extension, target, resource, parameters, error
):
    arn = {
        "application/zzzzzzz": _arn("application", "zzzzzzz"),
        "environment-of-target/zzzzzzz": _arn("application", target.application_id, "environment", "zzzzzzz"),
        "not-an-appconfig-arn": f"arn:aws:s3:us-east-1:{ACCOUNT}:bucket/flags",
        "application-of-target": _arn("application", target.application_id),
    }[resource]
    with pytest.raises(boto3_client.exceptions.ClientError) as raised:
        boto3_client.create_extension_association(
            ExtensionIdentifier=extension["Id"], ResourceIdentifier=arn, Parameters=parameters
        )
    assert raised.value.response["Error"]["Code"] == error


def test_it_forgets_the_associations_of_a_deleted_environment(boto3_client, extension, target):
    environment_arn = _arn("application", target.application_id, "environment", target.environment_id)
    boto3_client.create_extension_association(
        ExtensionIdentifier=extension["Id"], ResourceIdentifier=environment_arn, Parameters={"channel": "#x"}
    )
    boto3_client.delete_environment(**target.ids)
    assert boto3_client.list_extension_associations()["Items"] == []


# --- deployments --------------------------------------------------------------------------------------------


def test_it_applies_an_applications_extension_to_its_deployments(
    boto3_client, emulator, extension, associated, deploy, make_strategy, target
):
    started = deploy(make_strategy(duration=15, growth=50.0, bake=5))
    applied = {
        "ExtensionId": extension["Id"],
        "ExtensionAssociationId": associated["Id"],
        "VersionNumber": 1,
        "Parameters": {"channel": "#payments"},
    }
    assert started["AppliedExtensions"] == [applied]
    assert _invocations(started) == [("DEPLOYMENT_STARTED", "notify-start", "")]
    invocation = started["EventLog"][0]["ActionInvocations"][0]
    assert invocation["ExtensionIdentifier"] == extension["Arn"]
    assert invocation["Uri"] == NOTIFY and "RoleArn" not in invocation
    assert len(invocation["InvocationId"]) == 7 and invocation["InvocationId"].isalnum()

    emulator.advance(20 * 60)
    complete = boto3_client.get_deployment(**target.ids, DeploymentNumber=1)
    assert complete["State"] == "COMPLETE"
    assert complete["AppliedExtensions"] == [applied]
    assert _invocations(complete) == [
        ("DEPLOYMENT_STARTED", "notify-start", ""),
        ("PERCENTAGE_UPDATED", "notify-step", ""),
        ("PERCENTAGE_UPDATED", "notify-step", ""),
        ("BAKE_TIME_STARTED", "notify-baking", ""),
        ("DEPLOYMENT_COMPLETED", "notify-complete", ""),
    ]
    # Events are derived on every read; their invocations keep their ids.
    assert complete["EventLog"][-1]["ActionInvocations"][0]["InvocationId"] == invocation["InvocationId"]
    ids = [i["InvocationId"] for event in complete["EventLog"] for i in event["ActionInvocations"]]
    assert len(set(ids)) == len(ids)


def test_it_invokes_the_rolled_back_actions_and_reports_a_failing_one(
    boto3_client, emulator, extension, associated, deploy, target
):
    deploy("AppConfig.Canary10Percent20Minutes")  # before the failure: unaffected by it
    boto3_client.stop_deployment(**target.ids, DeploymentNumber=1)
    emulator.fail_action(PAGER, error_code="AuthorizationError", error_message="Not authorized to publish")
    deploy("AppConfig.Canary10Percent20Minutes")
    boto3_client.stop_deployment(**target.ids, DeploymentNumber=2)

    first = boto3_client.get_deployment(**target.ids, DeploymentNumber=1)
    assert _invocations(first)[-1] == ("ROLLBACK_COMPLETED", "page-on-call", "")
    second = boto3_client.get_deployment(**target.ids, DeploymentNumber=2)
    assert _invocations(second)[-1] == ("ROLLBACK_COMPLETED", "page-on-call", "AuthorizationError")
    failed = second["EventLog"][0]["ActionInvocations"][0]
    assert failed["ErrorMessage"] == "Not authorized to publish"
    assert (failed["Uri"], failed["RoleArn"]) == (PAGER, PAGER_ROLE)
    assert second["EventLog"][1]["ActionInvocations"] == []  # ROLLBACK_STARTED is no action point


def test_it_refuses_to_start_when_a_pre_start_action_fails(boto3_client, emulator, deploy, target):
    check = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:change-freeze"
    boto3_client.create_extension(
        Name="change-freeze", Actions={"PRE_START_DEPLOYMENT": [{"Name": "freeze", "Uri": check}]}
    )
    boto3_client.create_extension_association(
        ExtensionIdentifier="change-freeze",
        ResourceIdentifier=_arn("application", target.application_id, "environment", target.environment_id),
    )
    emulator.fail_action(check, error_code="ChangeFreeze", error_message="No deployments on Fridays")

    with pytest.raises(boto3_client.exceptions.BadRequestException) as raised:
        deploy()

    assert "No deployments on Fridays" in raised.value.response["Error"]["Message"]
    assert boto3_client.list_deployments(**target.ids)["Items"] == []
    emulator.clear_action_failures()
    started = deploy()
    assert _invocations(started) == [("DEPLOYMENT_STARTED", "freeze", "")]


def test_it_applies_a_profiles_extension_only_to_deployments_of_that_profile(
    boto3_client, extension, target, make_strategy
):
    other = boto3_client.create_configuration_profile(
        ApplicationId=target.application_id, Name="other", LocationUri="ssm-parameter://other"
    )["Id"]
    boto3_client.create_extension_association(
        ExtensionIdentifier=extension["Arn"],
        ResourceIdentifier=_arn(
            "application", target.application_id, "configurationprofile", target.profile_id
        ),
        Parameters={"channel": "#flags"},
    )
    strategy = make_strategy(duration=0, bake=0)
    first = boto3_client.start_deployment(
        **target.ids, DeploymentStrategyId=strategy, ConfigurationProfileId=other, ConfigurationVersion="1"
    )
    second = boto3_client.start_deployment(
        **target.ids,
        DeploymentStrategyId=strategy,
        ConfigurationProfileId=target.profile_id,
        ConfigurationVersion="1",
    )
    assert "AppliedExtensions" not in first or first["AppliedExtensions"] == []
    assert [applied["Parameters"] for applied in second["AppliedExtensions"]] == [{"channel": "#flags"}]


def test_it_answers_no_invocations_without_extensions(boto3_client, emulator, deploy, target):
    deploy("AppConfig.AllAtOnce")
    emulator.advance(15 * 60)
    deployment = boto3_client.get_deployment(**target.ids, DeploymentNumber=1)
    assert deployment.get("AppliedExtensions", []) == []
    assert all(event.get("ActionInvocations", []) == [] for event in deployment["EventLog"])


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        (
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        (
            "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
    ],
)
def test_it_answers_the_kms_key_of_a_deployment(boto3_client, deploy, target, identifier, expected):
    started = deploy(KmsKeyIdentifier=identifier)
    assert (started["KmsKeyIdentifier"], started["KmsKeyArn"]) == (identifier, expected)
    fetched = boto3_client.get_deployment(**target.ids, DeploymentNumber=1)
    assert (fetched["KmsKeyIdentifier"], fetched["KmsKeyArn"]) == (identifier, expected)


def test_it_resolves_an_alias_to_the_same_made_up_key_every_time(boto3_client, emulator, deploy, target):
    first = deploy(KmsKeyIdentifier="alias/appconfig-demo")["KmsKeyArn"]
    emulator.advance(15 * 60)
    second = deploy(KmsKeyIdentifier=f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/appconfig-demo")["KmsKeyArn"]
    assert first == second
    assert first.startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/") and "alias" not in first


def test_it_answers_the_new_fields_from_a_full_stop_response():
    with Emulator(clock=ManualClock(start=START), stop_response="full") as emulator:
        client = make_client(emulator.url)
        application = client.create_application(Name="a")["Id"]
        environment = client.create_environment(ApplicationId=application, Name="e")["Id"]
        profile = client.create_configuration_profile(
            ApplicationId=application, Name="p", LocationUri="ssm-parameter://p"
        )["Id"]
        client.create_extension(
            Name="x", Actions={"ON_DEPLOYMENT_ROLLED_BACK": [{"Name": "r", "Uri": NOTIFY}]}
        )
        client.create_extension_association(
            ExtensionIdentifier="x", ResourceIdentifier=_arn("application", application)
        )
        ids = {"ApplicationId": application, "EnvironmentId": environment}
        client.start_deployment(
            **ids,
            DeploymentStrategyId="AppConfig.Canary10Percent20Minutes",
            ConfigurationProfileId=profile,
            ConfigurationVersion="1",
            KmsKeyIdentifier="alias/k",
        )
        stopped = client.stop_deployment(**ids, DeploymentNumber=1)
    assert stopped["KmsKeyIdentifier"] == "alias/k" and stopped["KmsKeyArn"].startswith("arn:aws:kms:")
    assert len(stopped["AppliedExtensions"]) == 1
    assert stopped["EventLog"][0]["ActionInvocations"][0]["ActionName"] == "r"


def test_it_names_the_region_of_the_signature_in_its_arns(emulator):
    western = boto3.client(
        "appconfig",
        endpoint_url=emulator.url,
        region_name="eu-west-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="x",
    )
    created = western.create_extension(
        Name="w", Actions={"ON_DEPLOYMENT_START": [{"Name": "s", "Uri": NOTIFY}]}
    )
    assert created["Arn"].startswith(f"arn:aws:appconfig:eu-west-1:{ACCOUNT}:extension/")


# --- control interface --------------------------------------------------------------------------------------


def test_it_marks_actions_as_failing_over_the_control_interface(raw, emulator):
    failure = {"Uri": PAGER, "ErrorCode": "AuthorizationError", "ErrorMessage": "Denied"}
    response = raw("POST", "/_emulator/action-failures", body=json.dumps(failure))
    assert (response.status, response.json()) == (200, {"action_failures": [failure]})
    assert raw("GET", "/_emulator/action-failures").json() == {"action_failures": [failure]}
    assert emulator.action_failures() == [failure]
    assert raw("DELETE", "/_emulator/action-failures").json() == {"action_failures": []}
    assert raw("POST", "/_emulator/action-failures", body=json.dumps({"Uri": PAGER})).status == 400
    emulator.fail_action(PAGER, error_code="E", error_message="M")
    emulator.reset()
    assert http_request(emulator.url, "GET", "/_emulator/action-failures").json() == {"action_failures": []}
