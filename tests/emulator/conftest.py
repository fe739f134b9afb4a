"""Fixtures for the emulator's own tests: a fresh emulator with a manual clock per test, boto3 clients
pointed at it, and a ready-made application/environment/hosted-profile to deploy.

Nothing here touches Django or a database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from appconfig_emulator import Emulator, ManualClock
from tests.emulator.helpers import START, RawResponse, http_request, make_client


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A running emulator on an ephemeral loopback port whose clock moves only with `advance`."""
    with Emulator(clock=ManualClock(start=START)) as emu:
        yield emu


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


@pytest.fixture
def raw(emulator: Emulator) -> Callable[..., RawResponse]:
    def request(
        method: str, path: str, body: bytes | str | None = None, headers: dict[str, str] | None = None
    ):
        return http_request(emulator.url, method, path, body, headers)

    return request
