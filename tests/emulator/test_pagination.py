"""max_results / next_token on every list, and boto3's own paginators."""

from __future__ import annotations

import pytest


def test_it_pages_applications_with_an_opaque_token(boto3_client):
    ids = [boto3_client.create_application(Name=f"app-{n}")["Id"] for n in range(5)]
    first = boto3_client.list_applications(MaxResults=2)
    second = boto3_client.list_applications(MaxResults=2, NextToken=first["NextToken"])
    third = boto3_client.list_applications(MaxResults=2, NextToken=second["NextToken"])
    assert [item["Id"] for page in (first, second, third) for item in page["Items"]] == ids
    assert "NextToken" not in third


def test_it_pages_deployments_newest_first_without_repeating_one_started_between_pages(
    boto3_client, emulator, deploy, target
):
    for _ in range(5):
        deploy("AppConfig.AllAtOnce")
        emulator.advance(10 * 60)
    first = boto3_client.list_deployments(**target.ids, MaxResults=2)
    deploy("AppConfig.AllAtOnce")  # number 6 arrives at the front of the listing
    rest = boto3_client.get_paginator("list_deployments").paginate(
        **target.ids, PaginationConfig={"PageSize": 2, "StartingToken": first["NextToken"]}
    )
    numbers = [item["DeploymentNumber"] for item in first["Items"]]
    numbers += [item["DeploymentNumber"] for page in rest for item in page["Items"]]
    assert numbers == [5, 4, 3, 2, 1]


@pytest.mark.parametrize(
    ("operation", "make_request"),
    [
        ("list_environments", lambda t: {"ApplicationId": t.application_id}),
        ("list_configuration_profiles", lambda t: {"ApplicationId": t.application_id}),
        (
            "list_hosted_configuration_versions",
            lambda t: {"ApplicationId": t.application_id, "ConfigurationProfileId": t.profile_id},
        ),
        ("list_deployment_strategies", lambda t: {}),
    ],
)
def test_it_pages_every_list_with_boto3_paginators(boto3_client, target, operation, make_request):
    request = make_request(target)
    for n in range(3):  # 4 environments, 4 profiles, 4 versions; strategies: 3 + 4 predefined
        boto3_client.create_environment(ApplicationId=target.application_id, Name=f"e{n}")
        boto3_client.create_configuration_profile(
            ApplicationId=target.application_id, Name=f"p{n}", LocationUri="hosted"
        )
        boto3_client.create_hosted_configuration_version(
            ApplicationId=target.application_id,
            ConfigurationProfileId=target.profile_id,
            Content=b"{}",
            ContentType="application/json",
        )
        boto3_client.create_deployment_strategy(Name=f"s{n}", DeploymentDurationInMinutes=1, GrowthFactor=50)
    everything = getattr(boto3_client, operation)(**request)["Items"]
    pages = list(boto3_client.get_paginator(operation).paginate(**request, PaginationConfig={"PageSize": 3}))
    assert len(pages) == -(-len(everything) // 3) > 1
    assert [item for page in pages for item in page["Items"]] == everything


@pytest.mark.parametrize("token", ["garbage", "e30=", "djE6eA==", "djE6"])  # "{}", "v1:x", "v1:"
def test_it_refuses_an_invalid_next_token(boto3_client, token):
    with pytest.raises(boto3_client.exceptions.BadRequestException) as raised:
        boto3_client.list_applications(NextToken=token)
    assert "NextToken" in raised.value.response["Error"]["Message"]


def test_it_answers_fifty_items_per_page_by_default(emulator, boto3_client):
    emulator.seed_estate(applications=60, environments=0)
    first = boto3_client.list_applications()
    assert len(first["Items"]) == 50
    assert len(boto3_client.list_applications(NextToken=first["NextToken"])["Items"]) == 10
