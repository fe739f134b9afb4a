"""The emulated account: resources, the store that holds them, and how a deployment is derived from the clock.

A deployment stores only what was decided when it started (a copy of its strategy) and, if it was stopped,
when and by whom. Its state, percentage and event log are re-derived from the clock on every read through
`progress.progress`, which keeps a deployment small (10,000 of them take a few megabytes) and needs no
background thread to move deployments along.
"""

from __future__ import annotations

import random
import string
import threading
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import extensions, progress
from .errors import ApiError, bad_request, conflict, not_found, quota_exceeded
from .extensions import Extension, ExtensionAssociation, ExtensionVersion

# Quotas of a default AWS account (the real ones are adjustable; the emulator's are not).
MAX_APPLICATIONS = 100
MAX_ENVIRONMENTS_PER_APPLICATION = 20
MAX_PROFILES_PER_APPLICATION = 100
MAX_CUSTOM_STRATEGIES = 20

# AWS's documentation account id, so that nothing looks like a real account; `--account-id` changes it.
DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"  # for ARNs made without a request (demo, estate); requests bring their own

HOSTED_LOCATION = "hosted"
MAX_HOSTED_CONTENT_BYTES = 2 * 1024 * 1024
REVERT_WINDOW_SECONDS = 72 * 3600

DEPLOYING, BAKING, COMPLETE = progress.DEPLOYING, progress.BAKING, progress.COMPLETE
ROLLED_BACK, REVERTED = "ROLLED_BACK", "REVERTED"
# The states in which AppConfig refuses a second deployment on the same environment. The emulator itself
# only ever reaches DEPLOYING and BAKING (its rollbacks complete at once), but the rule is AppConfig's.
ACTIVE_STATES = frozenset({DEPLOYING, BAKING, "VALIDATING", "ROLLING_BACK"})

USER, APPCONFIG, CLOUDWATCH_ALARM = "USER", "APPCONFIG", "CLOUDWATCH_ALARM"

_ID_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(slots=True)
class DeploymentStrategy:
    id: str
    name: str
    description: str | None
    duration_minutes: int
    growth_type: str
    growth_factor: float
    bake_minutes: int
    replicate_to: str
    seq: int
    predefined: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Name": self.name,
            "Description": self.description,
            "DeploymentDurationInMinutes": self.duration_minutes,
            "GrowthType": self.growth_type,
            "GrowthFactor": self.growth_factor,
            "FinalBakeTimeInMinutes": self.bake_minutes,
            "ReplicateTo": self.replicate_to,
        }


def _predefined(
    seq: int, name: str, duration: int, growth_type: str, factor: float, bake: int
) -> DeploymentStrategy:
    return DeploymentStrategy(
        name, name, None, duration, growth_type, factor, bake, "NONE", seq, predefined=True
    )


# Present in every account, listed after the account's own strategies, never deletable.
PREDEFINED_STRATEGIES: dict[str, DeploymentStrategy] = {
    strategy.id: strategy
    for strategy in (
        _predefined(1, "AppConfig.AllAtOnce", 0, "LINEAR", 100.0, 10),
        _predefined(2, "AppConfig.Linear50PercentEvery30Seconds", 1, "LINEAR", 50.0, 1),
        _predefined(3, "AppConfig.Canary10Percent20Minutes", 20, "EXPONENTIAL", 10.0, 10),
        _predefined(4, "AppConfig.Linear20PercentEvery6Minutes", 30, "LINEAR", 20.0, 30),
    )
}


class Stop(NamedTuple):
    at: float
    outcome: str  # ROLLED_BACK or REVERTED
    triggered_by: str
    description: str  # who or what stopped it, for the ROLLBACK_STARTED event


def _event(event_type: str, triggered_by: str, description: str, occurred_at: float) -> dict[str, Any]:
    return {
        "EventType": event_type,
        "TriggeredBy": triggered_by,
        "Description": description,
        "OccurredAt": occurred_at,
        "ActionInvocations": [],
    }


_STEP_TEXTS = {
    progress.BAKE_TIME_STARTED: "Deployment bake time started",
    progress.DEPLOYMENT_COMPLETED: "Deployment completed",
}


class Deployment:
    # __slots__ rather than a dataclass with a __dict__: an estate holds tens of thousands of these.
    __slots__ = (
        "application_id",
        "environment_id",
        "number",
        "strategy_id",
        "profile_id",
        "configuration_name",
        "location_uri",
        "configuration_version",
        "version_label",
        "description",
        "duration_minutes",
        "growth_type",
        "growth_factor",
        "bake_minutes",
        "kms_key_identifier",
        "kms_key_arn",
        "applied_extensions",
        "started_at",
        "stop",
    )

    def __init__(
        self,
        *,
        application_id: str,
        environment_id: str,
        number: int,
        strategy_id: str,
        profile_id: str,
        configuration_name: str,
        location_uri: str,
        configuration_version: str,
        version_label: str | None,
        description: str | None,
        duration_minutes: int,
        growth_type: str,
        growth_factor: float,
        bake_minutes: int,
        kms_key_identifier: str | None,
        started_at: float,
        stop: Stop | None = None,
        kms_key_arn: str | None = None,
        applied_extensions: list[dict[str, Any]] | tuple[()] = (),
    ) -> None:
        self.application_id = application_id
        self.environment_id = environment_id
        self.number = number
        self.strategy_id = strategy_id
        self.profile_id = profile_id
        self.configuration_name = configuration_name
        self.location_uri = location_uri
        self.configuration_version = configuration_version
        self.version_label = version_label
        self.description = description
        self.duration_minutes = duration_minutes
        self.growth_type = growth_type
        self.growth_factor = growth_factor
        self.bake_minutes = bake_minutes
        self.kms_key_identifier = kms_key_identifier
        self.kms_key_arn = kms_key_arn
        # Snapshots of the extensions associated when it started (extensions.applied_extension); most
        # deployments have none and share the empty tuple.
        self.applied_extensions = applied_extensions
        self.started_at = started_at
        self.stop = stop

    def progress(self, now: float) -> progress.Progress:
        """Progress as of `now`, frozen at the moment it was stopped, if it was."""
        until = self.stop.at if self.stop else now
        return progress.progress(
            self.duration_minutes,
            self.growth_type,
            self.growth_factor,
            self.bake_minutes,
            until - self.started_at,
        )

    def state(self, now: float) -> str:
        return self.stop.outcome if self.stop else self.progress(now).state

    @property
    def completed_at(self) -> float:
        """When DEPLOYMENT_COMPLETED happens (or happened) if nobody stops it."""
        return self.started_at + (self.duration_minutes + self.bake_minutes) * 60.0

    def describe(self, now: float, *, just_started: bool = False) -> dict[str, Any]:
        """The full Deployment member set; DeploymentSummary is a subset of it.

        `just_started` renders the answer to StartDeployment, which AppConfig gives before any step has been
        taken: DEPLOYING with a single DEPLOYMENT_STARTED event, even for a 0-minute strategy.
        """
        events = [_event("DEPLOYMENT_STARTED", USER, "Deployment started", self.started_at)]
        state, percentage, completed_at = DEPLOYING, 0.0, None
        if not just_started:
            current = self.progress(now)
            for step in current.events:
                text = (
                    _STEP_TEXTS.get(step.event_type)
                    or f"Configuration available to {step.percentage:.2f}% of clients"
                )
                events.append(_event(step.event_type, APPCONFIG, text, self.started_at + step.offset))
            state, percentage = current.state, current.percentage
            if current.state == COMPLETE:
                completed_at = self.completed_at
            if self.stop:
                state = self.stop.outcome
                finished = "REVERT_COMPLETED" if self.stop.outcome == REVERTED else "ROLLBACK_COMPLETED"
                finished_text = "Revert completed" if self.stop.outcome == REVERTED else "Rollback completed"
                events.append(
                    _event("ROLLBACK_STARTED", self.stop.triggered_by, self.stop.description, self.stop.at)
                )
                events.append(_event(finished, APPCONFIG, finished_text, self.stop.at))
        if self.applied_extensions:
            prefix = f"{self.application_id}/{self.environment_id}/{self.number}"
            for event in events:
                key = f"{prefix}/{event['EventType']}/{event['OccurredAt']}"
                event["ActionInvocations"] = extensions.action_invocations(
                    self.applied_extensions, event["EventType"], key
                )
        events.reverse()  # AppConfig lists the newest event first
        return {
            "ApplicationId": self.application_id,
            "EnvironmentId": self.environment_id,
            "DeploymentStrategyId": self.strategy_id,
            "ConfigurationProfileId": self.profile_id,
            "DeploymentNumber": self.number,
            "ConfigurationName": self.configuration_name,
            "ConfigurationLocationUri": self.location_uri,
            "ConfigurationVersion": self.configuration_version,
            "VersionLabel": self.version_label,
            "Description": self.description,
            "DeploymentDurationInMinutes": self.duration_minutes,
            "GrowthType": self.growth_type,
            "GrowthFactor": self.growth_factor,
            "FinalBakeTimeInMinutes": self.bake_minutes,
            "State": state,
            "EventLog": events,
            "PercentageComplete": percentage,
            "StartedAt": self.started_at,
            "CompletedAt": completed_at,
            "KmsKeyIdentifier": self.kms_key_identifier,
            "KmsKeyArn": self.kms_key_arn,
            "AppliedExtensions": [
                {member: applied[member] for member in extensions.APPLIED_MEMBERS}
                for applied in self.applied_extensions
            ],
        }


@dataclass(slots=True)
class HostedConfigurationVersion:
    application_id: str
    profile_id: str
    number: int
    description: str | None
    content: bytes
    content_type: str
    version_label: str | None

    def describe(self, *, with_content: bool = True) -> dict[str, Any]:
        described = {
            "ApplicationId": self.application_id,
            "ConfigurationProfileId": self.profile_id,
            "VersionNumber": self.number,
            "Description": self.description,
            "ContentType": self.content_type,
            "VersionLabel": self.version_label,
        }
        if with_content:
            described["Content"] = self.content
        return described


@dataclass(slots=True)
class ConfigurationProfile:
    application_id: str
    id: str
    name: str
    description: str | None
    location_uri: str
    retrieval_role_arn: str | None
    validators: list[dict[str, str]]
    type: str
    kms_key_identifier: str | None
    seq: int
    versions: dict[int, HostedConfigurationVersion] = field(default_factory=dict)
    latest_version_number: int = 0  # numbers are never reused, even after a delete

    def describe(self) -> dict[str, Any]:
        return {
            "ApplicationId": self.application_id,
            "Id": self.id,
            "Name": self.name,
            "Description": self.description,
            "LocationUri": self.location_uri,
            "RetrievalRoleArn": self.retrieval_role_arn,
            "Validators": self.validators,
            "ValidatorTypes": [validator["Type"] for validator in self.validators],
            "Type": self.type,
            "KmsKeyIdentifier": self.kms_key_identifier,
        }


@dataclass(slots=True)
class Environment:
    application_id: str
    id: str
    name: str
    description: str | None
    monitors: list[dict[str, str]]
    seq: int
    deployments: list[Deployment] = field(default_factory=list)  # deployments[n - 1] is number n

    def active_deployment(self, now: float) -> Deployment | None:
        # Only the latest deployment can be running: a new one is refused while another is active.
        latest = self.deployments[-1] if self.deployments else None
        return latest if latest and latest.state(now) in ACTIVE_STATES else None

    def state(self, now: float) -> str:
        """AppConfig's environment state follows the latest deployment."""
        if not self.deployments:
            return "READY_FOR_DEPLOYMENT"
        latest = self.deployments[-1].state(now)
        if latest in (DEPLOYING, BAKING, "VALIDATING"):
            return DEPLOYING
        return "READY_FOR_DEPLOYMENT" if latest == COMPLETE else latest

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "ApplicationId": self.application_id,
            "Id": self.id,
            "Name": self.name,
            "Description": self.description,
            "State": self.state(now),
            "Monitors": self.monitors,
        }


@dataclass(slots=True)
class Application:
    id: str
    name: str
    description: str | None
    seq: int
    environments: dict[str, Environment] = field(default_factory=dict)
    profiles: dict[str, ConfigurationProfile] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"Id": self.id, "Name": self.name, "Description": self.description}


class Store:
    """Everything the account holds, behind one lock.

    One coarse lock keeps every check-then-act (quotas, one deployment per environment, stopping) atomic;
    each request holds it for microseconds, so it is not the bottleneck next to HTTP and JSON.
    """

    def __init__(self, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
        if not (len(account_id) == 12 and account_id.isascii() and account_id.isdigit()):
            raise ValueError("an AWS account id is 12 digits")
        self.account_id = account_id  # not saved in the state file: the command line decides it
        self.lock = threading.RLock()
        self.applications: dict[str, Application] = {}
        self.strategies: dict[str, DeploymentStrategy] = {}  # the account's own; predefined ones live above
        self.extensions: dict[str, Extension] = {}
        self.associations: dict[str, ExtensionAssociation] = {}
        # Action Uri -> (ErrorCode, ErrorMessage): invocations of these actions fail (see extensions.py).
        self.action_failures: dict[str, tuple[str, str]] = {}
        self.changes = 0  # bumped by every write, so the state-file saver knows when there is news
        self.last_seq = 0
        self._ids: set[str] = set()
        self._random = random.Random()

    def clear(self) -> None:
        with self.lock:
            self.applications.clear()
            self.strategies.clear()
            self.extensions.clear()
            self.associations.clear()
            self.action_failures.clear()
            self._ids.clear()
            self.changes += 1

    def shift_times(self, seconds: float) -> None:
        """Moves every stored moment (deployment starts and stops; the rest is derived) by `seconds`."""
        with self.lock:
            for application in self.applications.values():
                for environment in application.environments.values():
                    for deployment in environment.deployments:
                        deployment.started_at += seconds
                        if deployment.stop:
                            deployment.stop = deployment.stop._replace(at=deployment.stop.at + seconds)
            self.changes += 1

    def next_seq(self) -> int:
        """Creation order, used to list resources oldest first and to page through them."""
        self.last_seq += 1
        return self.last_seq

    def new_id(self) -> str:
        while True:
            candidate = "".join(self._random.choices(_ID_ALPHABET, k=7))
            if candidate not in self._ids:
                self._ids.add(candidate)
                return candidate

    def claim_id(self, identifier: str) -> None:
        """Records an id that comes from a saved state, so that new ids never collide with it."""
        self._ids.add(identifier)

    def application(self, application_id: str) -> Application:
        application = self.applications.get(application_id)
        if application is None:
            raise not_found("Application", application_id)
        return application

    def environment(self, application_id: str, environment_id: str) -> Environment:
        environment = self.application(application_id).environments.get(environment_id)
        if environment is None:
            raise not_found("Environment", environment_id)
        return environment

    def profile(self, application_id: str, profile_id: str) -> ConfigurationProfile:
        profile = self.application(application_id).profiles.get(profile_id)
        if profile is None:
            raise not_found("ConfigurationProfile", profile_id)
        return profile

    def strategy(self, strategy_id: str) -> DeploymentStrategy:
        strategy = PREDEFINED_STRATEGIES.get(strategy_id) or self.strategies.get(strategy_id)
        if strategy is None:
            raise not_found("DeploymentStrategy", strategy_id)
        return strategy

    def extension(self, identifier: str, version_number: int | None = None) -> tuple[Extension, int]:
        """The extension named by its id, name or ARN (which may end in a version), and the version meant:
        `version_number`, else the ARN's, else the latest."""
        extension = self.extensions.get(identifier) or next(
            (candidate for candidate in self.extensions.values() if candidate.name == identifier), None
        )
        if extension is None and identifier.startswith("arn:"):
            prefix, _, tail = identifier.rpartition("/")
            for candidate in self.extensions.values():
                if identifier == candidate.arn_prefix:
                    extension = candidate
                elif prefix == candidate.arn_prefix and tail.isdigit():
                    extension, version_number = candidate, version_number or int(tail)
        if extension is None:
            raise not_found("Extension", identifier)
        number = version_number or extension.latest_version_number
        if number not in extension.versions:
            raise not_found("Extension", f"{identifier} version {number}")
        return extension, number

    def association(self, association_id: str) -> ExtensionAssociation:
        association = self.associations.get(association_id)
        if association is None:
            raise not_found("ExtensionAssociation", association_id)
        return association

    def forget_associations(
        self, application_id: str, *, environment_id: str | None = None, profile_id: str | None = None
    ) -> None:
        """Drops the associations of a deleted application, environment or profile."""
        for association in list(self.associations.values()):
            if association.application_id == application_id and (
                (environment_id is None and profile_id is None)
                or (environment_id is not None and association.environment_id == environment_id)
                or (profile_id is not None and association.profile_id == profile_id)
            ):
                del self.associations[association.id]

    def deployment(self, application_id: str, environment_id: str, number: int) -> Deployment:
        deployments = self.environment(application_id, environment_id).deployments
        if not 1 <= number <= len(deployments):
            raise not_found("Deployment", number)
        return deployments[number - 1]

    # --- writes shared by the API handlers, the estate and the demo -----------------------------------------

    def create_application(self, *, name: str, description: str | None = None) -> Application:
        with self.lock:
            if len(self.applications) >= MAX_APPLICATIONS:
                raise quota_exceeded(f"An account can have at most {MAX_APPLICATIONS} applications")
            application = Application(self.new_id(), name, description, self.next_seq())
            self.applications[application.id] = application
            return application

    def create_environment(
        self,
        application: Application,
        *,
        name: str,
        description: str | None = None,
        monitors: list[dict[str, str]] | None = None,
    ) -> Environment:
        with self.lock:
            if len(application.environments) >= MAX_ENVIRONMENTS_PER_APPLICATION:
                raise quota_exceeded(
                    f"An application can have at most {MAX_ENVIRONMENTS_PER_APPLICATION} environments"
                )
            environment = Environment(
                application.id, self.new_id(), name, description, monitors or [], self.next_seq()
            )
            application.environments[environment.id] = environment
            return environment

    def create_profile(
        self,
        application: Application,
        *,
        name: str,
        location_uri: str = HOSTED_LOCATION,
        description: str | None = None,
        retrieval_role_arn: str | None = None,
        validators: list[dict[str, str]] | None = None,
        profile_type: str = "AWS.Freeform",
        kms_key_identifier: str | None = None,
    ) -> ConfigurationProfile:
        with self.lock:
            if len(application.profiles) >= MAX_PROFILES_PER_APPLICATION:
                raise quota_exceeded(
                    f"An application can have at most {MAX_PROFILES_PER_APPLICATION} configuration profiles"
                )
            profile = ConfigurationProfile(
                application.id,
                self.new_id(),
                name,
                description,
                location_uri,
                retrieval_role_arn,
                validators or [],
                profile_type,
                kms_key_identifier,
                self.next_seq(),
            )
            application.profiles[profile.id] = profile
            return profile

    def create_strategy(
        self,
        *,
        name: str,
        duration_minutes: int,
        growth_factor: float,
        growth_type: str = "LINEAR",
        bake_minutes: int = 0,
        description: str | None = None,
        replicate_to: str = "NONE",
    ) -> DeploymentStrategy:
        with self.lock:
            if len(self.strategies) >= MAX_CUSTOM_STRATEGIES:
                raise quota_exceeded(
                    f"An account can have at most {MAX_CUSTOM_STRATEGIES} deployment strategies"
                )
            strategy = DeploymentStrategy(
                self.new_id(),
                name,
                description,
                duration_minutes,
                growth_type,
                growth_factor,
                bake_minutes,
                replicate_to,
                self.next_seq(),
            )
            self.strategies[strategy.id] = strategy
            return strategy

    def create_hosted_version(
        self,
        profile: ConfigurationProfile,
        *,
        content: bytes,
        content_type: str,
        description: str | None = None,
        version_label: str | None = None,
        latest_version_number: int | None = None,
    ) -> HostedConfigurationVersion:
        with self.lock:
            if profile.location_uri != HOSTED_LOCATION:
                raise bad_request(
                    f"Configuration profile {profile.id} is not stored in the hosted configuration store"
                )
            if len(content) > MAX_HOSTED_CONTENT_BYTES:
                raise ApiError(
                    "PayloadTooLargeException",
                    f"A hosted configuration can be at most {MAX_HOSTED_CONTENT_BYTES // 1024} KB",
                    Measure="KILOBYTES",
                    Limit=MAX_HOSTED_CONTENT_BYTES / 1024,
                    Size=len(content) / 1024,
                )
            # LatestVersionNumber is AppConfig's optimistic-concurrency guard for two writers of one profile.
            if latest_version_number is not None and latest_version_number != profile.latest_version_number:
                raise conflict(
                    f"LatestVersionNumber {latest_version_number} does not match the latest version "
                    f"{profile.latest_version_number} of configuration profile {profile.id}"
                )
            profile.latest_version_number += 1
            version = HostedConfigurationVersion(
                profile.application_id,
                profile.id,
                profile.latest_version_number,
                description,
                content,
                content_type,
                version_label,
            )
            profile.versions[version.number] = version
            return version

    def create_extension(
        self,
        *,
        name: str,
        actions: dict[str, list[dict[str, str]]],
        parameters: dict[str, dict[str, Any]] | None = None,
        description: str | None = None,
        latest_version_number: int | None = None,
        region: str = DEFAULT_REGION,
    ) -> tuple[Extension, int]:
        """A new extension, or a new version of the one with that name when `latest_version_number` names
        its latest version (AppConfig's guard against two writers). Answers the extension and the version."""
        with self.lock:
            extension = next((e for e in self.extensions.values() if e.name == name), None)
            if extension is None and latest_version_number is not None:
                raise conflict(f"Extension {name} does not exist; omit LatestVersionNumber to create it")
            if extension is not None and latest_version_number != extension.latest_version_number:
                raise conflict(
                    f"Extension {name} already exists at version {extension.latest_version_number}; "
                    "give that number as LatestVersionNumber to create the next version"
                )
            if extension is None:
                identifier = self.new_id()
                extension = Extension(
                    identifier,
                    name,
                    extensions.appconfig_arn(region, self.account_id, f"extension/{identifier}"),
                    self.next_seq(),
                )
                self.extensions[extension.id] = extension
            number = extension.latest_version_number + 1 if extension.versions else 1
            extension.versions[number] = ExtensionVersion(number, description, actions, parameters or {})
            return extension, number

    def create_association(
        self,
        *,
        extension_identifier: str,
        resource_arn: str,
        extension_version: int | None = None,
        parameters: dict[str, str] | None = None,
        region: str = DEFAULT_REGION,
    ) -> ExtensionAssociation:
        """Associates an extension version (the latest unless given) with an application, environment or
        configuration profile, named by its ARN. Required parameters that are not dynamic must be given."""
        with self.lock:
            extension, number = self.extension(extension_identifier, extension_version)
            resource = extensions.parse_resource_arn(resource_arn)
            if resource is None:
                raise bad_request(
                    f"ResourceIdentifier {resource_arn} is not the ARN of an application, environment or "
                    "configuration profile"
                )
            application_id, environment_id, profile_id = resource
            if environment_id:
                self.environment(application_id, environment_id)
            elif profile_id:
                self.profile(application_id, profile_id)
            else:
                self.application(application_id)
            declared = extension.versions[number].parameters
            given = parameters or {}
            unknown = sorted(set(given) - set(declared))
            if unknown:
                raise bad_request(f"Extension {extension.name} has no parameter {unknown[0]}")
            for parameter, definition in declared.items():
                if definition.get("Required") and not definition.get("Dynamic") and parameter not in given:
                    raise bad_request(f"Parameter {parameter} of extension {extension.name} is required")
            identifier = self.new_id()
            association = ExtensionAssociation(
                id=identifier,
                arn=extensions.appconfig_arn(region, self.account_id, f"extensionassociation/{identifier}"),
                extension_id=extension.id,
                extension_version=number,
                extension_arn=extension.arn(number),
                resource_arn=resource_arn,
                application_id=application_id,
                environment_id=environment_id,
                profile_id=profile_id,
                parameters=dict(given),
                seq=self.next_seq(),
            )
            self.associations[association.id] = association
            return association

    def start_deployment(
        self,
        environment: Environment,
        *,
        strategy: DeploymentStrategy,
        profile: ConfigurationProfile,
        configuration_version: str,
        started_at: float,
        description: str | None = None,
        kms_key_identifier: str | None = None,
        latest_deployment_number: int | None = None,
        region: str = DEFAULT_REGION,
    ) -> Deployment:
        """Steps: 1. refuse while another deployment is active on the environment (409), 2. check the
        optimistic-concurrency guard LatestDeploymentNumber, 3. resolve a hosted version, 4. take a snapshot
        of the associated extensions and refuse if a PRE_START_DEPLOYMENT action fails (400), 5. append."""
        with self.lock:
            active = environment.active_deployment(started_at)
            if active is not None:
                raise conflict(
                    f"Deployment {active.number} is {active.state(started_at)} on environment "
                    f"{environment.id}; only one deployment at a time can run on an environment"
                )
            if latest_deployment_number is not None and latest_deployment_number != len(
                environment.deployments
            ):
                raise conflict(
                    f"LatestDeploymentNumber {latest_deployment_number} does not match the latest deployment "
                    f"{len(environment.deployments)} of environment {environment.id}"
                )
            version_label = None
            if profile.location_uri == HOSTED_LOCATION:
                version = (
                    profile.versions.get(int(configuration_version))
                    if configuration_version.isdigit()
                    else None
                )
                if version is None:
                    raise not_found("HostedConfigurationVersion", configuration_version)
                version_label = version.version_label
            applied = [
                extensions.applied_extension(
                    self.extensions[association.extension_id], association, self.action_failures
                )
                for association in self.associations.values()
                if association.applies_to(environment.application_id, environment.id, profile.id)
                and association.extension_id in self.extensions
            ]
            failure = extensions.pre_start_failure(applied)
            if failure:
                raise bad_request(failure)
            deployment = Deployment(
                application_id=environment.application_id,
                environment_id=environment.id,
                number=len(environment.deployments) + 1,
                strategy_id=strategy.id,
                profile_id=profile.id,
                configuration_name=profile.name,
                location_uri=profile.location_uri,
                configuration_version=configuration_version,
                version_label=version_label,
                description=description,
                # A copy of the strategy as it is now: a later UpdateDeploymentStrategy must not change it.
                duration_minutes=strategy.duration_minutes,
                growth_type=strategy.growth_type,
                growth_factor=strategy.growth_factor,
                bake_minutes=strategy.bake_minutes,
                kms_key_identifier=kms_key_identifier,
                kms_key_arn=(
                    extensions.kms_key_arn(kms_key_identifier, region, self.account_id)
                    if kms_key_identifier
                    else None
                ),
                applied_extensions=applied or (),
                started_at=started_at,
            )
            environment.deployments.append(deployment)
            return deployment

    def stop_deployment(
        self, deployment: Deployment, *, now: float, allow_revert: bool, triggered_by: str, initiator: str
    ) -> None:
        """StopDeployment's rules: a running deployment is rolled back; a complete one is reverted only when
        the caller allows it and it completed at most 72 hours ago; a stopped one cannot be stopped again.

        `initiator` names who stopped it (an access key id, an alarm ARN) in the ROLLBACK_STARTED event.
        """
        with self.lock:
            state = deployment.state(now)
            if state in ACTIVE_STATES:
                by = f"CloudWatch alarm {initiator}" if triggered_by == CLOUDWATCH_ALARM else initiator
                deployment.stop = Stop(now, ROLLED_BACK, triggered_by, f"Rollback initiated by {by}")
            elif state == COMPLETE and not allow_revert:
                raise bad_request(
                    f"Deployment {deployment.number} is already COMPLETE; set AllowRevert to revert it"
                )
            elif state == COMPLETE and now - deployment.completed_at > REVERT_WINDOW_SECONDS:
                raise bad_request(
                    f"Deployment {deployment.number} completed more than 72 hours ago "
                    "and can no longer be reverted"
                )
            elif state == COMPLETE:
                deployment.stop = Stop(now, REVERTED, triggered_by, f"Revert initiated by {initiator}")
            else:
                raise bad_request(f"Deployment {deployment.number} has already been stopped ({state})")

    def fire_alarm(self, environment: Environment, *, alarm_arn: str, now: float) -> Deployment | None:
        """A CloudWatch alarm of one of the environment's monitors goes off: AppConfig rolls back whatever is
        DEPLOYING or BAKING there. Returns the deployment rolled back, if any."""
        with self.lock:
            deployment = environment.active_deployment(now)
            if deployment is not None:
                self.stop_deployment(
                    deployment,
                    now=now,
                    allow_revert=False,
                    triggered_by=CLOUDWATCH_ALARM,
                    initiator=alarm_arn,
                )
                self.changes += 1
            return deployment
