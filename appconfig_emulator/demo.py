"""Demo data and demo activity, for `--demo`.

The seed builds a small but lived-in account: four applications with dev/staging/prod environments (prod
watched by a CloudWatch alarm), feature-flag profiles with a few hosted versions, custom strategies, and a few
days of backdated history with completed, rolled-back (by an operator and by an alarm) and reverted
deployments. The activity thread then keeps starting deployments so that something is always DEPLOYING or
BAKING; its pace follows the emulated clock, so `--time-scale 30` makes a rollout visibly move within a
minute or two of wall time.
"""

from __future__ import annotations

import json
import logging
import random
import threading

from .clock import Clock
from .state import (
    CLOUDWATCH_ALARM,
    DEFAULT_REGION,
    HOSTED_LOCATION,
    PREDEFINED_STRATEGIES,
    USER,
    ConfigurationProfile,
    DeploymentStrategy,
    Environment,
    Store,
)

log = logging.getLogger("appconfig_emulator")

OPERATORS = ("AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE")  # AWS's documentation access key ids

APPLICATIONS = {
    "payments-api": ("Card and wallet payments", ("instant_refunds", "3ds_challenge", "wallet_pay")),
    "checkout-web": ("The storefront's checkout pages", ("one_page_checkout", "address_autocomplete")),
    "feature-flags": ("Flags shared by every service", ("dark_mode", "new_navigation", "beta_banner")),
    "search": ("Product search and ranking", ("semantic_ranking", "typo_tolerance")),
}
ENVIRONMENTS = ("dev", "staging", "prod")

# (name, description, minutes, growth type, factor, bake minutes): slow enough to watch, fast when scaled.
STRATEGIES = (
    ("demo-linear-20min", "25 % every 4 minutes", 20, "LINEAR", 25.0, 5),
    ("demo-canary-30min", "Exponential from 10 %", 30, "EXPONENTIAL", 10.0, 10),
    ("demo-steady-40min", "10 % steps over 40 minutes", 40, "LINEAR", 10.0, 10),
)

# How each environment's past deployments ended, oldest first: a fixed pattern rather than chance, so that
# every demo shows each kind of ending (prod's alarm rollback included) and tests can rely on it.
HISTORY = ("complete", "complete", "operator", "complete", "revert", "complete")
PROD_HISTORY = ("complete", "alarm", "complete", "operator", "complete", "revert")
PASS_INTERVAL_SECONDS = 300.0  # emulated time between two rounds of demo activity
MIN_ACTIVE_DEPLOYMENTS = 2
ALARM_CHANCE = 0.05  # per round, that a running prod deployment is rolled back by its alarm


def _alarm_arn(store: Store, application: str) -> str:
    return f"arn:aws:cloudwatch:{DEFAULT_REGION}:{store.account_id}:alarm:{application}-prod-5xx-rate"


def _flags_document(flags: tuple[str, ...], rng: random.Random, version: int) -> bytes:
    """Content in AppConfig's AWS.AppConfig.FeatureFlags format."""
    document = {
        "version": "1",
        "flags": {flag: {"name": flag.replace("_", " ")} for flag in flags},
        "values": {flag: {"enabled": rng.random() < 0.5} for flag in flags},
        "_revision": version,
    }
    return json.dumps(document, indent=2).encode("utf-8")


def _demo_strategies(store: Store) -> list[DeploymentStrategy]:
    names = {name for name, *_ in STRATEGIES}
    strategies = [strategy for strategy in store.strategies.values() if strategy.name in names]
    return strategies or [PREDEFINED_STRATEGIES["AppConfig.Canary10Percent20Minutes"]]


def _new_version(store: Store, profile: ConfigurationProfile, rng: random.Random) -> str:
    flags = APPLICATIONS.get(store.applications[profile.application_id].name, ("", ("enabled",)))[1]
    number = profile.latest_version_number + 1
    version = store.create_hosted_version(
        profile,
        content=_flags_document(flags, rng, number),
        content_type="application/json",
        description=f"Flag changes, revision {number}",
        version_label=f"v{number}.0",
    )
    return str(version.number)


def seed_demo(store: Store, now: float, rng: random.Random) -> None:
    with store.lock:
        for name, description, minutes, growth_type, factor, bake in STRATEGIES:
            store.create_strategy(
                name=name,
                description=description,
                duration_minutes=minutes,
                growth_type=growth_type,
                growth_factor=factor,
                bake_minutes=bake,
            )
        strategies = _demo_strategies(store)
        for app_name, (app_description, _) in APPLICATIONS.items():
            application = store.create_application(name=app_name, description=app_description)
            profile = store.create_profile(
                application,
                name="feature-flags",
                description=f"Feature flags of {app_name}",
                location_uri=HOSTED_LOCATION,
                profile_type="AWS.AppConfig.FeatureFlags",
            )
            for _ in range(3):
                _new_version(store, profile, rng)
            for env_name in ENVIRONMENTS:
                monitors = (
                    [
                        {
                            "AlarmArn": _alarm_arn(store, app_name),
                            "AlarmRoleArn": f"arn:aws:iam::{store.account_id}:role/appconfig-alarm-reader",
                        }
                    ]
                    if env_name == "prod"
                    else []
                )
                environment = store.create_environment(
                    application, name=env_name, description=f"{app_name} {env_name}", monitors=monitors
                )
                _seed_history(store, environment, profile, strategies, now, rng)
        store.changes += 1


def _seed_history(
    store: Store,
    environment: Environment,
    profile: ConfigurationProfile,
    strategies: list[DeploymentStrategy],
    now: float,
    rng: random.Random,
) -> None:
    """A few days of backdated deployments, each finished (or stopped) before the next one starts."""
    # Six rounds of at most ~13 hours each fit well inside five days, so the history ends before now.
    moment = now - 5 * 86400 + rng.uniform(0, 3600)
    for outcome in PROD_HISTORY if environment.monitors else HISTORY:
        strategy = rng.choice(strategies)
        deployment = store.start_deployment(
            environment,
            strategy=strategy,
            profile=profile,
            configuration_version=str(rng.randint(1, profile.latest_version_number)),
            started_at=moment,
            description="Routine flag change",
        )
        end = deployment.completed_at
        if outcome in ("operator", "alarm"):
            end = moment + strategy.duration_minutes * 60 * rng.uniform(0.3, 0.9)
            triggered_by, initiator = (
                (CLOUDWATCH_ALARM, _alarm_arn(store, store.applications[environment.application_id].name))
                if outcome == "alarm"
                else (USER, rng.choice(OPERATORS))
            )
            store.stop_deployment(
                deployment, now=end, allow_revert=False, triggered_by=triggered_by, initiator=initiator
            )
        elif outcome == "revert":
            end += rng.uniform(1800, 4 * 3600)
            store.stop_deployment(
                deployment, now=end, allow_revert=True, triggered_by=USER, initiator=rng.choice(OPERATORS)
            )
        moment = end + rng.uniform(2 * 3600, 8 * 3600)


class DemoActivity:
    """Rounds of activity every PASS_INTERVAL_SECONDS of emulated time, checked once a wall-clock second."""

    def __init__(self, store: Store, clock: Clock, stopping: threading.Event, rng: random.Random) -> None:
        self.store = store
        self.clock = clock
        self.stopping = stopping
        self.rng = rng

    def run(self) -> None:
        next_round = self.clock.now() + PASS_INTERVAL_SECONDS  # the first round ran when the demo started
        while not self.stopping.wait(1.0):
            now = self.clock.now()
            if now >= next_round:
                # The demo must outlive any oddity, such as a reset in the middle of a round.
                try:
                    self.round(now)
                except Exception:
                    log.exception("Demo activity round failed")
                next_round = now + PASS_INTERVAL_SECONDS

    def round(self, now: float) -> None:
        """Starts a deployment on an idle environment (two if fewer than two are running) and, now and then,
        lets a prod alarm roll one back."""
        with self.store.lock:
            targets: dict[str, tuple[Environment, ConfigurationProfile]] = {}
            for application in self.store.applications.values():
                profile = next(
                    (
                        p
                        for p in application.profiles.values()
                        if p.location_uri == HOSTED_LOCATION and p.versions
                    ),
                    None,
                )
                for environment in application.environments.values():
                    if profile is not None:
                        targets[environment.id] = (environment, profile)
            running = [
                environment for environment, _ in targets.values() if environment.active_deployment(now)
            ]
            idle = [target for target in targets.values() if target[0].active_deployment(now) is None]
            self.rng.shuffle(idle)
            wanted = max(1, MIN_ACTIVE_DEPLOYMENTS - len(running))
            for environment, profile in idle[:wanted]:
                self.store.start_deployment(
                    environment,
                    strategy=self.rng.choice(_demo_strategies(self.store)),
                    profile=profile,
                    configuration_version=_new_version(self.store, profile, self.rng),
                    started_at=now,
                    description="Flag change from the demo",
                )
            running_prod = [environment for environment in running if environment.monitors]
            if running_prod and self.rng.random() < ALARM_CHANCE:
                environment = self.rng.choice(running_prod)
                self.store.fire_alarm(environment, alarm_arn=environment.monitors[0]["AlarmArn"], now=now)
            self.store.changes += 1
