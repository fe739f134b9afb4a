"""Applications, environments, configuration profiles, hosted versions and strategies through boto3."""

from __future__ import annotations

import json
import re

import pytest


def test_it_creates_gets_lists_updates_and_deletes_applications(boto3_client):
    created = boto3_client.create_application(Name="payments", Description="Card payments")
    assert re.fullmatch(r"[a-z0-9]{7}", created["Id"])
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert boto3_client.get_application(ApplicationId=created["Id"])["Name"] == "payments"

    updated = boto3_client.update_application(ApplicationId=created["Id"], Description="Payments v2")
    assert (updated["Name"], updated["Description"]) == ("payments", "Payments v2")
    assert [item["Id"] for item in boto3_client.list_applications()["Items"]] == [created["Id"]]

    deleted = boto3_client.delete_application(ApplicationId=created["Id"])
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert boto3_client.list_applications()["Items"] == []
    with pytest.raises(boto3_client.exceptions.ResourceNotFoundException):
        boto3_client.get_application(ApplicationId=created["Id"])


def test_it_creates_gets_lists_updates_and_deletes_environments(boto3_client):
    application = boto3_client.create_application(Name="payments")["Id"]
    monitor = {"AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:errors"}
    created = boto3_client.create_environment(ApplicationId=application, Name="prod", Monitors=[monitor])
    assert created["State"] == "READY_FOR_DEPLOYMENT"
    assert created["Monitors"] == [monitor]
    ids = {"ApplicationId": application, "EnvironmentId": created["Id"]}

    assert boto3_client.get_environment(**ids)["Name"] == "prod"
    updated = boto3_client.update_environment(**ids, Name="production", Monitors=[])
    assert (updated["Name"], updated["Monitors"]) == ("production", [])
    assert [item["Name"] for item in boto3_client.list_environments(ApplicationId=application)["Items"]] == [
        "production"
    ]

    boto3_client.delete_environment(**ids)
    with pytest.raises(boto3_client.exceptions.ResourceNotFoundException) as raised:
        boto3_client.get_environment(**ids)
    assert raised.value.response["ResourceName"] == "Environment"


def test_it_deletes_an_application_with_its_environments_and_profiles(boto3_client, target):
    boto3_client.delete_application(ApplicationId=target.application_id)
    with pytest.raises(boto3_client.exceptions.ResourceNotFoundException) as raised:
        boto3_client.get_environment(**target.ids)
    assert raised.value.response["ResourceName"] == "Application"


def test_it_creates_gets_lists_updates_and_deletes_configuration_profiles(boto3_client):
    application = boto3_client.create_application(Name="payments")["Id"]
    validator = {"Type": "JSON_SCHEMA", "Content": '{"type": "object"}'}
    flags = boto3_client.create_configuration_profile(
        ApplicationId=application,
        Name="flags",
        LocationUri="hosted",
        Type="AWS.AppConfig.FeatureFlags",
        Validators=[validator],
    )
    settings = boto3_client.create_configuration_profile(
        ApplicationId=application,
        Name="settings",
        LocationUri="ssm-parameter://settings",
        RetrievalRoleArn="arn:aws:iam::123456789012:role/reader",
    )
    assert (flags["Type"], flags["Validators"]) == ("AWS.AppConfig.FeatureFlags", [validator])
    assert settings["Type"] == "AWS.Freeform"
    ids = {"ApplicationId": application, "ConfigurationProfileId": flags["Id"]}
    assert boto3_client.get_configuration_profile(**ids)["LocationUri"] == "hosted"

    listed = boto3_client.list_configuration_profiles(ApplicationId=application)["Items"]
    assert [(item["Name"], item["ValidatorTypes"]) for item in listed] == [
        ("flags", ["JSON_SCHEMA"]),
        ("settings", []),
    ]
    only_flags = boto3_client.list_configuration_profiles(
        ApplicationId=application, Type="AWS.AppConfig.FeatureFlags"
    )
    assert [item["Id"] for item in only_flags["Items"]] == [flags["Id"]]

    updated = boto3_client.update_configuration_profile(**ids, Description="Feature flags", Validators=[])
    assert (updated["Description"], updated["Validators"]) == ("Feature flags", [])
    boto3_client.delete_configuration_profile(**ids)
    with pytest.raises(boto3_client.exceptions.ResourceNotFoundException):
        boto3_client.get_configuration_profile(**ids)


def test_it_stores_hosted_versions_with_their_headers_and_numbers_them(boto3_client, target):
    ids = {"ApplicationId": target.application_id, "ConfigurationProfileId": target.profile_id}
    created = boto3_client.create_hosted_configuration_version(
        **ids,
        Content=b'{"limit": 5}',
        ContentType="application/json",
        Description="Raise the limit",
        VersionLabel="v2.0",
        LatestVersionNumber=1,
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (created["VersionNumber"], created["VersionLabel"], created["Description"]) == (
        2,
        "v2.0",
        "Raise the limit",
    )
    assert created["Content"].read() == b'{"limit": 5}'

    fetched = boto3_client.get_hosted_configuration_version(**ids, VersionNumber=2)
    assert json.loads(fetched["Content"].read()) == {"limit": 5}
    assert fetched["ContentType"] == "application/json"
    assert fetched["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/json"

    listed = boto3_client.list_hosted_configuration_versions(**ids)["Items"]
    assert [(item["VersionNumber"], item.get("VersionLabel")) for item in listed] == [(2, "v2.0"), (1, None)]
    assert "Content" not in listed[0]

    boto3_client.delete_hosted_configuration_version(**ids, VersionNumber=2)
    with pytest.raises(boto3_client.exceptions.ResourceNotFoundException) as raised:
        boto3_client.get_hosted_configuration_version(**ids, VersionNumber=2)
    assert raised.value.response["ResourceName"] == "HostedConfigurationVersion"
    # Numbers are never reused after a delete.
    again = boto3_client.create_hosted_configuration_version(
        **ids, Content=b"{}", ContentType="application/json"
    )
    assert again["VersionNumber"] == 3


def test_it_filters_hosted_versions_by_exact_label_or_prefix(boto3_client, target):
    ids = {"ApplicationId": target.application_id, "ConfigurationProfileId": target.profile_id}
    for label in ("v2.0", "v2.1", "beta"):
        boto3_client.create_hosted_configuration_version(
            **ids, Content=b"{}", ContentType="application/json", VersionLabel=label
        )

    def labels(pattern: str) -> list[str]:
        items = boto3_client.list_hosted_configuration_versions(**ids, VersionLabel=pattern)["Items"]
        return [item["VersionLabel"] for item in items]

    assert labels("v2*") == ["v2.1", "v2.0"]
    assert labels("v2") == []
    assert labels("beta") == ["beta"]


def test_it_refuses_a_hosted_version_written_against_a_stale_latest_number(boto3_client, target):
    with pytest.raises(boto3_client.exceptions.ConflictException):
        boto3_client.create_hosted_configuration_version(
            ApplicationId=target.application_id,
            ConfigurationProfileId=target.profile_id,
            Content=b"{}",
            ContentType="application/json",
            LatestVersionNumber=0,
        )


def test_it_refuses_a_hosted_configuration_over_2_mb(boto3_client, target):
    with pytest.raises(boto3_client.exceptions.PayloadTooLargeException) as raised:
        boto3_client.create_hosted_configuration_version(
            ApplicationId=target.application_id,
            ConfigurationProfileId=target.profile_id,
            Content=b"x" * (2 * 1024 * 1024 + 1),
            ContentType="application/octet-stream",
        )
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert (response["Measure"], response["Limit"]) == ("KILOBYTES", 2048.0)


def test_it_refuses_hosted_versions_for_a_profile_stored_elsewhere(boto3_client):
    application = boto3_client.create_application(Name="payments")["Id"]
    profile = boto3_client.create_configuration_profile(
        ApplicationId=application, Name="ssm", LocationUri="ssm-parameter://flags"
    )["Id"]
    with pytest.raises(boto3_client.exceptions.BadRequestException):
        boto3_client.create_hosted_configuration_version(
            ApplicationId=application,
            ConfigurationProfileId=profile,
            Content=b"{}",
            ContentType="application/json",
        )


def test_it_lists_the_accounts_strategies_before_the_predefined_ones(boto3_client):
    created = boto3_client.create_deployment_strategy(
        Name="slow", DeploymentDurationInMinutes=60, GrowthFactor=10, FinalBakeTimeInMinutes=15
    )
    assert (created["GrowthType"], created["ReplicateTo"]) == ("LINEAR", "NONE")
    listed = boto3_client.list_deployment_strategies()["Items"]
    assert [item["Id"] for item in listed] == [
        created["Id"],
        "AppConfig.AllAtOnce",
        "AppConfig.Linear50PercentEvery30Seconds",
        "AppConfig.Canary10Percent20Minutes",
        "AppConfig.Linear20PercentEvery6Minutes",
    ]
    canary = boto3_client.get_deployment_strategy(DeploymentStrategyId="AppConfig.Canary10Percent20Minutes")
    assert (canary["GrowthType"], canary["GrowthFactor"], canary["DeploymentDurationInMinutes"]) == (
        "EXPONENTIAL",
        10.0,
        20,
    )


def test_it_updates_and_deletes_custom_strategies(boto3_client):
    strategy = boto3_client.create_deployment_strategy(
        Name="slow", DeploymentDurationInMinutes=60, GrowthFactor=10
    )["Id"]
    updated = boto3_client.update_deployment_strategy(
        DeploymentStrategyId=strategy, GrowthType="EXPONENTIAL", FinalBakeTimeInMinutes=5
    )
    assert (updated["GrowthType"], updated["FinalBakeTimeInMinutes"], updated["GrowthFactor"]) == (
        "EXPONENTIAL",
        5,
        10.0,
    )
    # DeleteDeploymentStrategy's URI is spelled /deployementstrategies/ in the model; botocore and the
    # emulator both follow the model, so this works.
    boto3_client.delete_deployment_strategy(DeploymentStrategyId=strategy)
    with pytest.raises(boto3_client.exceptions.ResourceNotFoundException):
        boto3_client.get_deployment_strategy(DeploymentStrategyId=strategy)


def test_it_refuses_to_delete_or_update_a_predefined_strategy(boto3_client):
    with pytest.raises(boto3_client.exceptions.BadRequestException) as raised:
        boto3_client.delete_deployment_strategy(DeploymentStrategyId="AppConfig.AllAtOnce")
    assert (
        raised.value.response["Error"]["Message"]
        == "Cannot delete predefined Deployment Strategy AppConfig.AllAtOnce."
    )
    with pytest.raises(boto3_client.exceptions.BadRequestException):
        boto3_client.update_deployment_strategy(DeploymentStrategyId="AppConfig.AllAtOnce", GrowthFactor=50)


@pytest.mark.parametrize(
    ("room", "create_one"),
    [
        # The application the others live in counts towards the 100 applications, so 99 more fit.
        (99, lambda client, application: client.create_application(Name="more")),
        (20, lambda client, application: client.create_environment(ApplicationId=application, Name="more")),
        (
            100,
            lambda client, application: client.create_configuration_profile(
                ApplicationId=application, Name="more", LocationUri="hosted"
            ),
        ),
        (
            20,
            lambda client, application: client.create_deployment_strategy(
                Name="more", DeploymentDurationInMinutes=1, GrowthFactor=50
            ),
        ),
    ],
    ids=["applications", "environments", "profiles", "strategies"],
)
def test_it_enforces_the_account_quotas_with_402(boto3_client, room, create_one):
    application = boto3_client.create_application(Name="first")["Id"]
    for _ in range(room):
        create_one(boto3_client, application)
    with pytest.raises(boto3_client.exceptions.ServiceQuotaExceededException) as raised:
        create_one(boto3_client, application)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 402
