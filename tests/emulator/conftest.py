"""Fixtures for the emulator's own tests: a fresh emulator with a manual clock per test, boto3 clients
pointed at it, and a ready-made application/environment/hosted-profile to deploy.

Nothing here touches Django or a database.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config

from appconfig_emulator import Emulator, ManualClock

START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A running emulator on an ephemeral loopback port whose clock moves only with `advance`."""
    with Emulator(clock=ManualClock(start=START)) as emu:
        yield emu


def make_client(endpoint_url: str, access_key_id: str = "AKIDTEST", **config: Any) -> Any:
    return boto3.client(
        "appconfig",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=access_key_id,
        aws_secret_access_key="x",
        config=Config(**config) if config else None,
    )


@pytest.fixture
def boto3_client(emulator: Emulator) -> Any:
    return make_client(emulator.url)


@pytest.fixture
def strict_client(emulator: Emulator) -> Any:
    """No retries, so an injected fault reaches the test as it was answered."""
    return make_client(emulator.url, retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture
def unvalidated_client(emulator: Emulator) -> Any:
    """Skips botocore's client-side checks, to show what the emulator itself refuses."""
    return make_client(emulator.url, parameter_validation=False, retries={"total_max_attempts": 1})


@dataclass
class Target:
    """Somewhere to deploy: an application, an environment and a hosted profile with version 1."""

    application_id: str
    environment_id: str
    profile_id: str

    @property
    def ids(self) -> dict[str, str]:
        return {"ApplicationId": self.application_id, "EnvironmentId": self.environment_id}


@pytest.fixture
def target(boto3_client: Any) -> Target:
    application = boto3_client.create_application(Name="payments")["Id"]
    environment = boto3_client.create_environment(ApplicationId=application, Name="prod")["Id"]
    profile = boto3_client.create_configuration_profile(
        ApplicationId=application, Name="flags", LocationUri="hosted"
    )["Id"]
    boto3_client.create_hosted_configuration_version(
        ApplicationId=application,
        ConfigurationProfileId=profile,
        Content=b'{"enabled": true}',
        ContentType="application/json",
    )
    return Target(application, environment, profile)


@pytest.fixture
def make_strategy(boto3_client: Any) -> Callable[..., str]:
    def make(duration: int = 15, growth: float = 25.0, growth_type: str = "LINEAR", bake: int = 0) -> str:
        return boto3_client.create_deployment_strategy(
            Name=f"{growth_type.lower()}-{duration}-{growth}-{bake}",
            DeploymentDurationInMinutes=duration,
            GrowthFactor=growth,
            GrowthType=growth_type,
            FinalBakeTimeInMinutes=bake,
        )["Id"]

    return make


@pytest.fixture
def deploy(boto3_client: Any, target: Target) -> Callable[..., dict[str, Any]]:
    """Starts a deployment of version 1 on the target; answers StartDeployment's response."""

    def start(strategy_id: str = "AppConfig.AllAtOnce", **extra: Any) -> dict[str, Any]:
        return boto3_client.start_deployment(
            **target.ids,
            DeploymentStrategyId=strategy_id,
            ConfigurationProfileId=target.profile_id,
            ConfigurationVersion="1",
            **extra,
        )

    return start


@dataclass
class RawResponse:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    base_url: str,
    method: str,
    path: str,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
) -> RawResponse:
    """A plain HTTP request, for what boto3 would never send."""
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return RawResponse(response.status, response.headers, response.read())
    finally:
        connection.close()


@pytest.fixture
def raw(emulator: Emulator) -> Callable[..., RawResponse]:
    def request(
        method: str, path: str, body: bytes | str | None = None, headers: dict[str, str] | None = None
    ):
        return http_request(emulator.url, method, path, body, headers)

    return request
