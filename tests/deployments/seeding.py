"""Build AppConfig state in the emulator through boto3, as a real user of AppConfig would."""

from __future__ import annotations

from dataclasses import dataclass

from deployments import sync
from deployments.models import Deployment


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


PAGER = "arn:aws:sns:us-east-1:123456789012:pager"
NOTIFY = "arn:aws:lambda:us-east-1:123456789012:function:notify"


def add_failing_extension(boto_client, emulator, target: Target) -> dict:
    """A notification extension associated with the target's application (parameter `channel`), whose
    paging action on ON_DEPLOYMENT_ROLLED_BACK fails, as in the emulator's demo. Returns the association."""
    extension = boto_client.create_extension(
        Name="deployment-notifications",
        Actions={
            "ON_DEPLOYMENT_START": [{"Name": "notify-start", "Uri": NOTIFY}],
            "ON_DEPLOYMENT_ROLLED_BACK": [{"Name": "page-on-call", "Uri": PAGER}],
        },
        Parameters={"channel": {"Required": True}},
    )  # fmt: skip
    emulator.fail_action(
        PAGER, error_code="AuthorizationError", error_message="not authorized to SNS:Publish"
    )
    return boto_client.create_extension_association(
        ExtensionIdentifier=extension["Id"],
        ResourceIdentifier=f"arn:aws:appconfig:us-east-1:123456789012:application/{target.application_id}",
        Parameters={"channel": "#payments"},
    )


def start_with_kms(boto_client, target: Target, key: str = "alias/payments-appconfig") -> int:
    return boto_client.start_deployment(
        ApplicationId=target.application_id,
        EnvironmentId=target.environment_id,
        DeploymentStrategyId=target.strategy_id,
        ConfigurationProfileId=target.profile_id,
        ConfigurationVersion="1",
        KmsKeyIdentifier=key,
    )["DeploymentNumber"]


# Hosted configuration profiles and deployments of them, for the configuration diff (issue 17). `world` is the
# `config_world` fixture: an application and environment in the emulator, an instant and a slow strategy.


def profile(world, name: str, versions: list[tuple[bytes, str]], *, kind: str = "AWS.Freeform") -> str:
    profile_id = world.client.create_configuration_profile(
        ApplicationId=world.app, Name=name, LocationUri="hosted", Type=kind
    )["Id"]
    for number, (content, content_type) in enumerate(versions, start=1):
        world.client.create_hosted_configuration_version(
            ApplicationId=world.app, ConfigurationProfileId=profile_id, Content=content,
            ContentType=content_type, VersionLabel=f"v{number}",
        )  # fmt: skip
    return profile_id


def deploy(world, profile_id: str, version: str, *, finish: bool = True, stop: bool = False) -> int:
    number = world.client.start_deployment(
        ApplicationId=world.app, EnvironmentId=world.env, ConfigurationProfileId=profile_id,
        ConfigurationVersion=version, DeploymentStrategyId=world.instant if finish else world.slow,
    )["DeploymentNumber"]  # fmt: skip
    if stop:
        world.emulator.advance(60)
        world.client.stop_deployment(
            ApplicationId=world.app, EnvironmentId=world.env, DeploymentNumber=number
        )
    world.emulator.advance(60)
    return number


def cached(world, number: int) -> Deployment:
    sync.sync_account(account=world.account)
    world.emulator.reset_counters()
    return Deployment.objects.select_related("environment__application__account").get(
        environment__environment_id=world.env, deployment_number=number
    )
