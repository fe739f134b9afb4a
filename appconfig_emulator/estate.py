"""Bulk creation of a realistic estate, straight into the store (no HTTP), for sync tests and benchmarks.

Each application gets a hosted profile with one version and `environments` environments; each environment
gets `deployments` deployments, one an hour, all long COMPLETE (ten events each); the first `active`
environments get one more deployment that starts now and is still DEPLOYING.
"""

from __future__ import annotations

from typing import Any

from .state import (
    MAX_APPLICATIONS,
    MAX_ENVIRONMENTS_PER_APPLICATION,
    PREDEFINED_STRATEGIES,
    DeploymentStrategy,
    Store,
)

ESTATE_STRATEGY_NAME = "estate-linear-15"
DEPLOYMENT_SPACING_SECONDS = 3600.0
# Long enough that a manually clocked test sees it DEPLOYING for a while.
ACTIVE_STRATEGY_ID = "AppConfig.Linear20PercentEvery6Minutes"
SETTINGS = b'{"log_level": "info", "max_connections": 100, "new_checkout": false}'


def _estate_strategy(store: Store) -> DeploymentStrategy:
    """LINEAR 15 %: seven steps, so a completed deployment has ten events (started, seven percentages,
    bake started, completed). Reused across calls so that seeding twice does not eat the strategy quota."""
    for strategy in store.strategies.values():
        if strategy.name == ESTATE_STRATEGY_NAME:
            return strategy
    return store.create_strategy(
        name=ESTATE_STRATEGY_NAME,
        description="Created by the emulator's estate seeding",
        duration_minutes=16,
        growth_factor=15.0,
        bake_minutes=4,
    )


def seed_estate(
    store: Store, now: float, *, applications: int, environments: int, deployments: int, active: int = 0
) -> dict[str, Any]:
    for name, value in (
        ("applications", applications),
        ("environments", environments),
        ("deployments", deployments),
        ("active", active),
    ):
        if type(value) is not int or value < 0:
            raise ValueError(f"{name} must be a non-negative integer")
    if active > applications * environments:
        raise ValueError("active cannot exceed applications * environments")
    if environments > MAX_ENVIRONMENTS_PER_APPLICATION:
        raise ValueError(f"environments cannot exceed {MAX_ENVIRONMENTS_PER_APPLICATION} per application")
    with store.lock:
        if len(store.applications) + applications > MAX_APPLICATIONS:
            raise ValueError(
                f"an account holds at most {MAX_APPLICATIONS} applications; {len(store.applications)} exist"
            )
        strategy = _estate_strategy(store)
        first_number = len(store.applications) + 1
        created: list[dict[str, Any]] = []
        activity: list[dict[str, Any]] = []
        for index in range(first_number, first_number + applications):
            application = store.create_application(name=f"app-{index:03d}", description="Seeded estate")
            profile = store.create_profile(application, name="settings")
            store.create_hosted_version(profile, content=SETTINGS, content_type="application/json")
            environment_ids = []
            for env_index in range(1, environments + 1):
                environment = store.create_environment(application, name=f"env-{env_index}")
                environment_ids.append({"Id": environment.id, "Name": environment.name})
                for age in range(deployments, 0, -1):
                    store.start_deployment(
                        environment,
                        strategy=strategy,
                        profile=profile,
                        configuration_version="1",
                        started_at=now - age * DEPLOYMENT_SPACING_SECONDS,
                    )
                if len(activity) < active:
                    deployment = store.start_deployment(
                        environment,
                        strategy=PREDEFINED_STRATEGIES[ACTIVE_STRATEGY_ID],
                        profile=profile,
                        configuration_version="1",
                        started_at=now,
                    )
                    activity.append(
                        {
                            "ApplicationId": application.id,
                            "EnvironmentId": environment.id,
                            "DeploymentNumber": deployment.number,
                        }
                    )
            created.append(
                {
                    "Id": application.id,
                    "Name": application.name,
                    "ConfigurationProfileId": profile.id,
                    "Environments": environment_ids,
                }
            )
        store.changes += 1
    # Top-level keys mirror the request's; the AppConfig resources inside keep AppConfig's names.
    return {"applications": created, "active": activity, "deployment_strategy_id": strategy.id}
