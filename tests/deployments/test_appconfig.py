"""The AWS boundary's timestamp parser: the standard library for AppConfig's ISO 8601, botocore's own for
anything else, and the same instants either way."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import boto3
import botocore.utils
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from deployments import appconfig
from tests.deployments.seeding import make_target, start


@pytest.mark.parametrize(
    "wire",
    [
        "2026-11-27T03:04:05.678Z",
        "2026-11-27T03:04:05Z",
        "2026-11-27T03:04:05.678000+00:00",
        "2026-11-27T05:04:05.678+02:00",
        "2026-11-27T03:04:05.678",  # no zone: read as UTC (botocore would leave it naive)
    ],
)
def test_it_reads_iso_8601_as_botocore_does(wire):
    ours = appconfig.parse_timestamp(wire)
    assert ours.tzinfo is not None
    theirs = botocore.utils.parse_timestamp(wire)
    assert ours == (theirs if theirs.tzinfo else theirs.replace(tzinfo=UTC))
    assert ours == datetime(2026, 11, 27, 3, 4, 5, 678000 if ".678" in wire else 0, tzinfo=UTC)


@pytest.mark.parametrize("wire", [1795748645.678, 1795748645, "Fri, 27 Nov 2026 03:04:05 GMT"])
def test_it_leaves_other_forms_to_botocore(wire):
    assert appconfig.parse_timestamp(wire) == botocore.utils.parse_timestamp(wire)


def test_it_is_what_the_clients_use(account, boto_client, emulator):
    target = make_target(boto_client)
    number = start(boto_client, target)

    answer = appconfig.client_for(account).get_deployment(
        target.application_id, target.environment_id, number
    )

    started = answer["StartedAt"]
    assert started.tzinfo is UTC  # the standard library's zone, not dateutil's tzutc()
    assert abs(started.timestamp() - emulator.now()) < 1  # the emulator's (manual) clock has not moved
    assert answer["EventLog"] and all(event["OccurredAt"].tzinfo is UTC for event in answer["EventLog"])


def _hosted_client(content: bytes) -> appconfig.AppConfigClient:
    boto = boto3.client(
        "appconfig", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(boto)
    stubber.add_response(
        "get_hosted_configuration_version",
        {
            "ApplicationId": "app1234",
            "ConfigurationProfileId": "prof123",
            "VersionNumber": 1,
            "ContentType": "application/json",
            "Content": StreamingBody(io.BytesIO(content), len(content)),
        },
    )
    stubber.activate()
    return appconfig.AppConfigClient(boto)


def test_it_reads_a_hosted_version_up_to_appconfigs_2_mb_limit():
    limit = appconfig.HOSTED_CONTENT_MAX_BYTES
    answer = _hosted_client(b"x" * limit).get_hosted_configuration_version("app1234", "prof123", 1)
    assert answer["Content"] == b"x" * limit and answer["ContentType"] == "application/json"

    with pytest.raises(appconfig.PermanentAppConfigError, match="larger than AppConfig's 2 MB limit"):
        _hosted_client(b"x" * (limit + 1)).get_hosted_configuration_version("app1234", "prof123", 1)
