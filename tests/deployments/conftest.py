"""Fixtures of the deployments tests."""

from __future__ import annotations

from types import SimpleNamespace

import pytest


@pytest.fixture
def config_world(account, emulator, boto_client):
    """An application "payments" and its environment "prod" in the emulator, with an instant strategy
    (deployments COMPLETE at once) and a slow one (10 min, 5 min bake): see tests/deployments/seeding.py."""
    app = boto_client.create_application(Name="payments")["Id"]
    env = boto_client.create_environment(ApplicationId=app, Name="prod")["Id"]
    instant = boto_client.create_deployment_strategy(
        Name="instant", DeploymentDurationInMinutes=0, GrowthFactor=100.0, FinalBakeTimeInMinutes=0,
        ReplicateTo="NONE",
    )["Id"]  # fmt: skip
    slow = boto_client.create_deployment_strategy(
        Name="slow", DeploymentDurationInMinutes=10, GrowthFactor=20.0, FinalBakeTimeInMinutes=5,
        ReplicateTo="NONE",
    )["Id"]  # fmt: skip
    return SimpleNamespace(
        app=app, env=env, instant=instant, slow=slow, client=boto_client, emulator=emulator, account=account
    )
