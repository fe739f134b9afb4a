"""Build AppConfig state in the emulator through boto3, as a real user of AppConfig would."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Target:
    application_id: str
    environment_id: str
    profile_id: str
    strategy_id: str


def make_target(boto_client, *, name: str = "payments", environment: str = "prod", duration: int = 10,
                growth: float = 20.0, growth_type: str = "LINEAR", bake: int = 5) -> Target:  # fmt: skip
    app = boto_client.create_application(Name=name)["Id"]
    env = boto_client.create_environment(ApplicationId=app, Name=environment)["Id"]
    profile = boto_client.create_configuration_profile(ApplicationId=app, Name="flags", LocationUri="hosted")[
        "Id"
    ]
    boto_client.create_hosted_configuration_version(
        ApplicationId=app,
        ConfigurationProfileId=profile,
        Content=b'{"on": true}',
        ContentType="application/json",
    )
    strategy = boto_client.create_deployment_strategy(
        Name=f"{name}-{environment}-strategy",
        DeploymentDurationInMinutes=duration,
        GrowthFactor=growth,
        GrowthType=growth_type,
        FinalBakeTimeInMinutes=bake,
        ReplicateTo="NONE",
    )["Id"]
    return Target(app, env, profile, strategy)


def start(boto_client, target: Target, version: str = "1") -> int:
    return boto_client.start_deployment(
        ApplicationId=target.application_id,
        EnvironmentId=target.environment_id,
        DeploymentStrategyId=target.strategy_id,
        ConfigurationProfileId=target.profile_id,
        ConfigurationVersion=version,
        Description="from the tests",
    )["DeploymentNumber"]
