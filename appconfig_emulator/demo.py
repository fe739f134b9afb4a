"""Demo data and demo activity, for `--demo`.

The seed builds a small but lived-in account: four applications with dev/staging/prod environments (prod
watched by a CloudWatch alarm), each with a feature-flag profile and a JSON settings profile (and, for
`search`, a YAML one) holding realistic hosted versions (demo_content.py), a deployment-notification
extension associated with `payments-api` whose paging action fails, and five days of backdated history with
completed, rolled-back (by an operator and by an alarm) and reverted deployments.

Everything runs in real time: the demo's own short strategies (`Demo.*`) make a rollout visibly move within
seconds and finish within two or three minutes, so the emulator needs no `--time-scale` and its clock agrees
with the wall clock. The history uses AppConfig's predefined strategies and ends before the seed's "now".
The activity thread then keeps starting deployments (every PASS_INTERVAL_SECONDS, on idle environments, with
a `Demo.*` strategy) so that something is always DEPLOYING or BAKING. Every deployment deploys the next
version of a profile after the one the environment last received, so consecutive deployments of a profile
in an environment always differ.
"""

from __future__ import annotations

import logging
import random
import threading

from .clock import Clock
from .demo_content import APPLICATIONS
from .state import (
    CLOUDWATCH_ALARM,
    DEFAULT_REGION,
    PREDEFINED_STRATEGIES,
    USER,
    Application,
    ConfigurationProfile,
    DeploymentStrategy,
    Environment,
    Store,
)

log = logging.getLogger("appconfig_emulator")

OPERATORS = ("AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE")  # AWS's documentation access key ids
ENVIRONMENTS = ("dev", "staging", "prod")

# (name, description, minutes, growth type, factor, bake minutes). Minutes are whole numbers in AppConfig, so
# a minute of rollout and a minute of bake is the shortest visible rollout. Under the step model (progress.py)
# step k of n happens at k * duration / (n + 1), which is what the names say.
QUICK_STRATEGIES = (
    (
        "Demo.Linear20PercentEvery10Seconds",
        "Demo: 20 % steps every 10 s, 1 minute bake",
        1,
        "LINEAR",
        20.0,
        1,
    ),
    ("Demo.Linear50PercentEvery20Seconds", "Demo: two 50 % steps, 1 minute bake", 1, "LINEAR", 50.0, 1),
    (
        "Demo.Exponential10PercentEvery20Seconds",
        "Demo: 10, 20, 40, 80, 100 % every 20 s, 1 minute bake",
        2,
        "EXPONENTIAL",
        10.0,
        1,
    ),
)
# The history's strategies: what a real account would have used days ago.
HISTORY_STRATEGIES = (
    "AppConfig.Canary10Percent20Minutes",
    "AppConfig.Linear20PercentEvery6Minutes",
    "AppConfig.Linear50PercentEvery30Seconds",
    "AppConfig.AllAtOnce",
)

# How each environment's past deployments ended, oldest first: a fixed pattern rather than chance, so that
# every demo shows each kind of ending (prod's alarm rollback included) and tests can rely on it.
HISTORY = ("complete", "complete", "operator", "complete", "revert", "complete")
PROD_HISTORY = ("complete", "alarm", "complete", "operator", "complete", "revert")
PASS_INTERVAL_SECONDS = 45.0  # emulated time between two rounds of demo activity
MIN_ACTIVE_DEPLOYMENTS = 2
ALARM_CHANCE = 0.02  # per round, that a running prod deployment is rolled back by its alarm

# payments-api's deployments are encrypted with a customer managed key (KmsKeyIdentifier/KmsKeyArn).
KMS_KEYS = {"payments-api": "alias/payments-appconfig"}

EXTENSION_NAME = "deployment-notifications"
EXTENSION_APPLICATION = "payments-api"
EXTENSION_CHANNEL = "#payments-deploys"


def _notifier_uri(store: Store) -> str:
    return f"arn:aws:lambda:{DEFAULT_REGION}:{store.account_id}:function:appconfig-deployment-notifier"


def _pager_uri(store: Store) -> str:
    return f"arn:aws:sns:{DEFAULT_REGION}:{store.account_id}:payments-oncall"


def _pager_role(store: Store) -> str:
    return f"arn:aws:iam::{store.account_id}:role/appconfig-extension-sns-publisher"


def _alarm_arn(store: Store, application: str) -> str:
    return f"arn:aws:cloudwatch:{DEFAULT_REGION}:{store.account_id}:alarm:{application}-prod-5xx-rate"


def _quick_strategies(store: Store) -> list[DeploymentStrategy]:
    names = {name for name, *_ in QUICK_STRATEGIES}
    strategies = [strategy for strategy in store.strategies.values() if strategy.name in names]
    # Someone may have deleted them through the API; the demo must go on.
    return strategies or [PREDEFINED_STRATEGIES["AppConfig.Linear50PercentEvery30Seconds"]]


def next_version(environment: Environment, profile: ConfigurationProfile) -> str:
    """The version after the one of `profile` that `environment` received last (after the newest, the
    oldest again): never the same version twice in a row."""
    numbers = sorted(profile.versions)
    last = next(
        (d.configuration_version for d in reversed(environment.deployments) if d.profile_id == profile.id),
        None,
    )
    if last is None or not last.isdigit() or int(last) not in numbers:
        return str(numbers[0])
    return str(numbers[(numbers.index(int(last)) + 1) % len(numbers)])


def next_profile(application: Application, environment: Environment) -> ConfigurationProfile | None:
    """The hosted profile after the one deployed last to `environment`, so that an environment's
    deployments take turns among its application's profiles."""
    profiles = [p for p in application.profiles.values() if p.versions]
    if not profiles:
        return None
    last = environment.deployments[-1].profile_id if environment.deployments else None
    ids = [profile.id for profile in profiles]
    return profiles[(ids.index(last) + 1) % len(profiles)] if last in ids else profiles[0]


def _seed_extension(store: Store, application: Application) -> None:
    """A notification extension on `payments-api`: Slack on start and completion (works), paging on-call on
    rollback (fails: its role may not publish to the topic), so that the console has extension errors to
    show."""
    extension, _ = store.create_extension(
        name=EXTENSION_NAME,
        description="Posts deployment events to Slack and pages on-call when a deployment is rolled back",
        actions={
            "ON_DEPLOYMENT_START": [{"Name": "notify-slack", "Uri": _notifier_uri(store)}],
            "ON_DEPLOYMENT_COMPLETE": [{"Name": "notify-slack", "Uri": _notifier_uri(store)}],
            "ON_DEPLOYMENT_ROLLED_BACK": [
                {"Name": "page-on-call", "Uri": _pager_uri(store), "RoleArn": _pager_role(store)}
            ],
        },
        parameters={"channel": {"Description": "Slack channel for deployment events", "Required": True}},
    )
    store.create_association(
        extension_identifier=extension.id,
        resource_arn=f"arn:aws:appconfig:{DEFAULT_REGION}:{store.account_id}:application/{application.id}",
        parameters={"channel": EXTENSION_CHANNEL},
    )
    store.action_failures[_pager_uri(store)] = (
        "AuthorizationError",
        f"User: arn:aws:sts::{store.account_id}:assumed-role/appconfig-extension-sns-publisher/AppConfig is "
        f"not authorized to perform: SNS:Publish on resource: {_pager_uri(store)}",
    )


def seed_demo(store: Store, now: float, rng: random.Random) -> None:
    with store.lock:
        for name, description, minutes, growth_type, factor, bake in QUICK_STRATEGIES:
            store.create_strategy(
                name=name,
                description=description,
                duration_minutes=minutes,
                growth_type=growth_type,
                growth_factor=factor,
                bake_minutes=bake,
            )
        for app_name, (app_description, contents) in APPLICATIONS.items():
            application = store.create_application(name=app_name, description=app_description)
            for content in contents:
                profile = store.create_profile(
                    application,
                    name=content.name,
                    description=content.description,
                    profile_type=content.type,
                )
                for number, (description, document) in enumerate(content.versions, start=1):
                    store.create_hosted_version(
                        profile,
                        content=document,
                        content_type=content.content_type,
                        description=description,
                        version_label=f"v{number}",
                    )
            if app_name == EXTENSION_APPLICATION:
                _seed_extension(store, application)
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
                _seed_history(store, application, environment, now, rng)
        store.changes += 1


def _seed_history(
    store: Store, application: Application, environment: Environment, now: float, rng: random.Random
) -> None:
    """A few days of backdated deployments, each finished (or stopped) before the next one starts."""
    # A round takes at most 60 minutes of rollout and bake, 4 hours before a revert and 8 hours of pause:
    # six of them fit well inside five days, so the whole history lies before now.
    moment = now - 5 * 86400 + rng.uniform(0, 3600)
    for outcome in PROD_HISTORY if environment.monitors else HISTORY:
        strategy = PREDEFINED_STRATEGIES[rng.choice(HISTORY_STRATEGIES)]
        profile = next_profile(application, environment)
        if profile is None:
            return
        version = next_version(environment, profile)
        deployment = store.start_deployment(
            environment,
            strategy=strategy,
            profile=profile,
            configuration_version=version,
            started_at=moment,
            description=profile.versions[int(version)].description,
            kms_key_identifier=KMS_KEYS.get(application.name),
        )
        end = deployment.completed_at
        if outcome in ("operator", "alarm"):
            # Stopped while DEPLOYING (or, with a 0-minute strategy, while BAKING).
            running = strategy.duration_minutes or strategy.bake_minutes
            end = moment + running * 60 * rng.uniform(0.3, 0.9)
            triggered_by, initiator = (
                (CLOUDWATCH_ALARM, _alarm_arn(store, application.name))
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
        # Set by the emulator's reset (under the store's lock): an emptied account gets no demo activity, so
        # applications made after a reset are left alone.
        self.cancelled = threading.Event()

    def run(self) -> None:
        next_round = self.clock.now() + PASS_INTERVAL_SECONDS  # the first round ran when the demo started
        while not self.stopping.wait(1.0) and not self.cancelled.is_set():
            now = self.clock.now()
            if now >= next_round:
                # The demo must outlive any oddity, such as a reset in the middle of a round.
                try:
                    self.round(now)
                except Exception:
                    log.exception("Demo activity round failed")
                next_round = now + PASS_INTERVAL_SECONDS

    def round(self, now: float) -> None:
        """Starts a deployment on an idle environment (more while fewer than MIN_ACTIVE_DEPLOYMENTS are
        running) and, now and then, lets a prod alarm roll one back."""
        with self.store.lock:
            if self.cancelled.is_set():
                return
            environments = [
                (application, environment)
                for application in self.store.applications.values()
                for environment in application.environments.values()
            ]
            running = [environment for _, environment in environments if environment.active_deployment(now)]
            idle = [
                (application, environment)
                for application, environment in environments
                if environment.active_deployment(now) is None
            ]
            self.rng.shuffle(idle)
            wanted = max(1, MIN_ACTIVE_DEPLOYMENTS - len(running))
            for application, environment in idle:
                if wanted == 0:
                    break
                profile = next_profile(application, environment)
                if profile is None:
                    continue
                version = next_version(environment, profile)
                self.store.start_deployment(
                    environment,
                    strategy=self.rng.choice(_quick_strategies(self.store)),
                    profile=profile,
                    configuration_version=version,
                    started_at=now,
                    description=profile.versions[int(version)].description,
                    kms_key_identifier=KMS_KEYS.get(application.name),
                )
                wanted -= 1
            running_prod = [environment for environment in running if environment.monitors]
            if running_prod and self.rng.random() < ALARM_CHANCE:
                environment = self.rng.choice(running_prod)
                self.store.fire_alarm(environment, alarm_arn=environment.monitors[0]["AlarmArn"], now=now)
            self.store.changes += 1
