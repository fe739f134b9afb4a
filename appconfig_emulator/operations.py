"""AppConfig operations: one handler per implemented operation, taking and returning model member dicts.

Handlers receive input members already parsed and validated by `model.parse_request` and return a dict of
output members for `model.serialize_output` (which writes only what the output shape models). Every handler
runs under the store's lock, so each operation is atomic with respect to every other.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from . import extensions
from .errors import bad_request, conflict, not_found
from .state import DEFAULT_REGION, PREDEFINED_STRATEGIES, USER, HostedConfigurationVersion, Store

T = TypeVar("T")
Params = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    now: float  # emulated time of the request
    caller: str  # the access key id from the SigV4 signature, which names who stopped a deployment
    full_stop_response: bool  # answer StopDeployment with the whole Deployment instead of AWS's sparse body
    region: str = DEFAULT_REGION  # the region of the SigV4 signature, which the ARNs made for this call name


Handler = Callable[[Store, Params, Call], dict[str, Any] | None]
_HANDLERS: dict[str, Handler] = {}

# What AWS's own StopDeployment examples show: the numeric members, all zero, and nothing else.
SPARSE_STOP_RESPONSE = {
    "DeploymentNumber": 0,
    "DeploymentDurationInMinutes": 0,
    "GrowthFactor": 0.0,
    "FinalBakeTimeInMinutes": 0,
    "PercentageComplete": 0.0,
}

DEFAULT_PAGE_SIZE = 50


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _HANDLERS[name] = handler
        return handler

    return register


def handler_for(name: str) -> Handler:
    if name not in _HANDLERS:
        raise bad_request(f"Operation {name} is not implemented by appconfig_emulator")
    return _HANDLERS[name]


def run(store: Store, name: str, params: Params, call: Call, *, writes: bool) -> dict[str, Any] | None:
    handler = handler_for(name)
    with store.lock:
        result = handler(store, params, call)
        if writes:
            store.changes += 1
        return result


# --- pagination ---------------------------------------------------------------------------------------------


# Tokens are base64 of "v1:<key>", deliberately not of JSON: botocore's paginators take a base64 JSON
# StartingToken for one of their own and would misread it.
def _encode_token(key: tuple[int, ...]) -> str:
    return base64.urlsafe_b64encode(("v1:" + ",".join(map(str, key))).encode("ascii")).decode("ascii")


def _decode_token(token: str) -> tuple[int, ...]:
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii")
        if not text.startswith("v1:"):
            raise ValueError(text)
        return tuple(int(part) for part in text[3:].split(","))
    except (ValueError, UnicodeError, binascii.Error):
        raise bad_request("The NextToken is invalid") from None


def _page(
    items: Sequence[T], key: Callable[[T], tuple[int, ...]], params: Params
) -> tuple[list[T], str | None]:
    """One page of `items` (already in listing order, `key` ascending along it).

    The token holds the key of the last item returned rather than an offset, so that a deployment started
    between two pages (it goes to the front of ListDeployments) neither repeats nor hides an item.
    """
    limit = params.get("MaxResults") or DEFAULT_PAGE_SIZE
    remaining: Sequence[T] = items
    if params.get("NextToken"):
        after = _decode_token(params["NextToken"])
        remaining = [item for item in items if key(item) > after]
    page = list(remaining[:limit])
    token = _encode_token(key(page[-1])) if len(remaining) > limit else None
    return page, token


# --- applications -------------------------------------------------------------------------------------------


@operation("CreateApplication")
def create_application(store: Store, params: Params, call: Call) -> dict[str, Any]:
    return store.create_application(name=params["Name"], description=params.get("Description")).describe()


@operation("GetApplication")
def get_application(store: Store, params: Params, call: Call) -> dict[str, Any]:
    return store.application(params["ApplicationId"]).describe()


@operation("ListApplications")
def list_applications(store: Store, params: Params, call: Call) -> dict[str, Any]:
    page, token = _page(list(store.applications.values()), lambda app: (app.seq,), params)
    return {"Items": [application.describe() for application in page], "NextToken": token}


@operation("UpdateApplication")
def update_application(store: Store, params: Params, call: Call) -> dict[str, Any]:
    application = store.application(params["ApplicationId"])
    application.name = params.get("Name", application.name)
    application.description = params.get("Description", application.description)
    return application.describe()


@operation("DeleteApplication")
def delete_application(store: Store, params: Params, call: Call) -> None:
    # The model gives DeleteApplication no ConflictException, so it takes its environments and profiles along.
    application = store.applications.pop(store.application(params["ApplicationId"]).id)
    store.forget_associations(application.id)


# --- environments -------------------------------------------------------------------------------------------


@operation("CreateEnvironment")
def create_environment(store: Store, params: Params, call: Call) -> dict[str, Any]:
    application = store.application(params["ApplicationId"])
    environment = store.create_environment(
        application,
        name=params["Name"],
        description=params.get("Description"),
        monitors=params.get("Monitors"),
    )
    return environment.describe(call.now)


@operation("GetEnvironment")
def get_environment(store: Store, params: Params, call: Call) -> dict[str, Any]:
    return store.environment(params["ApplicationId"], params["EnvironmentId"]).describe(call.now)


@operation("ListEnvironments")
def list_environments(store: Store, params: Params, call: Call) -> dict[str, Any]:
    environments = list(store.application(params["ApplicationId"]).environments.values())
    page, token = _page(environments, lambda environment: (environment.seq,), params)
    return {"Items": [environment.describe(call.now) for environment in page], "NextToken": token}


@operation("UpdateEnvironment")
def update_environment(store: Store, params: Params, call: Call) -> dict[str, Any]:
    environment = store.environment(params["ApplicationId"], params["EnvironmentId"])
    environment.name = params.get("Name", environment.name)
    environment.description = params.get("Description", environment.description)
    environment.monitors = params.get("Monitors", environment.monitors)
    return environment.describe(call.now)


@operation("DeleteEnvironment")
def delete_environment(store: Store, params: Params, call: Call) -> None:
    environment = store.environment(params["ApplicationId"], params["EnvironmentId"])
    if environment.active_deployment(call.now):
        raise conflict(f"Environment {environment.id} has a deployment in progress and cannot be deleted")
    del store.applications[environment.application_id].environments[environment.id]
    store.forget_associations(environment.application_id, environment_id=environment.id)


# --- configuration profiles and hosted versions ------------------------------------------------------------


@operation("CreateConfigurationProfile")
def create_configuration_profile(store: Store, params: Params, call: Call) -> dict[str, Any]:
    profile = store.create_profile(
        store.application(params["ApplicationId"]),
        name=params["Name"],
        location_uri=params["LocationUri"],
        description=params.get("Description"),
        retrieval_role_arn=params.get("RetrievalRoleArn"),
        validators=params.get("Validators"),
        profile_type=params.get("Type", "AWS.Freeform"),
        kms_key_identifier=params.get("KmsKeyIdentifier"),
    )
    return profile.describe()


@operation("GetConfigurationProfile")
def get_configuration_profile(store: Store, params: Params, call: Call) -> dict[str, Any]:
    return store.profile(params["ApplicationId"], params["ConfigurationProfileId"]).describe()


@operation("ListConfigurationProfiles")
def list_configuration_profiles(store: Store, params: Params, call: Call) -> dict[str, Any]:
    profiles = [
        profile
        for profile in store.application(params["ApplicationId"]).profiles.values()
        if params.get("Type") in (None, profile.type)
    ]
    page, token = _page(profiles, lambda profile: (profile.seq,), params)
    return {"Items": [profile.describe() for profile in page], "NextToken": token}


@operation("UpdateConfigurationProfile")
def update_configuration_profile(store: Store, params: Params, call: Call) -> dict[str, Any]:
    profile = store.profile(params["ApplicationId"], params["ConfigurationProfileId"])
    profile.name = params.get("Name", profile.name)
    profile.description = params.get("Description", profile.description)
    profile.retrieval_role_arn = params.get("RetrievalRoleArn", profile.retrieval_role_arn)
    profile.validators = params.get("Validators", profile.validators)
    if "KmsKeyIdentifier" in params:
        # An empty identifier is how UpdateConfigurationProfile removes the key.
        profile.kms_key_identifier = params["KmsKeyIdentifier"] or None
    return profile.describe()


@operation("DeleteConfigurationProfile")
def delete_configuration_profile(store: Store, params: Params, call: Call) -> None:
    profile = store.profile(params["ApplicationId"], params["ConfigurationProfileId"])
    del store.applications[profile.application_id].profiles[profile.id]
    store.forget_associations(profile.application_id, profile_id=profile.id)


@operation("CreateHostedConfigurationVersion")
def create_hosted_configuration_version(store: Store, params: Params, call: Call) -> dict[str, Any]:
    version = store.create_hosted_version(
        store.profile(params["ApplicationId"], params["ConfigurationProfileId"]),
        content=params["Content"],
        content_type=params["ContentType"],
        description=params.get("Description"),
        version_label=params.get("VersionLabel"),
        latest_version_number=params.get("LatestVersionNumber"),
    )
    return version.describe()


def _hosted_version(store: Store, params: Params) -> HostedConfigurationVersion:
    profile = store.profile(params["ApplicationId"], params["ConfigurationProfileId"])
    version = profile.versions.get(params["VersionNumber"])
    if version is None:
        raise not_found("HostedConfigurationVersion", params["VersionNumber"])
    return version


@operation("GetHostedConfigurationVersion")
def get_hosted_configuration_version(store: Store, params: Params, call: Call) -> dict[str, Any]:
    return _hosted_version(store, params).describe()


@operation("DeleteHostedConfigurationVersion")
def delete_hosted_configuration_version(store: Store, params: Params, call: Call) -> None:
    version = _hosted_version(store, params)
    del store.profile(version.application_id, version.profile_id).versions[version.number]


@operation("ListHostedConfigurationVersions")
def list_hosted_configuration_versions(store: Store, params: Params, call: Call) -> dict[str, Any]:
    profile = store.profile(params["ApplicationId"], params["ConfigurationProfileId"])
    label = params.get("VersionLabel")

    def wanted(version_label: str | None) -> bool:
        # AppConfig matches a label exactly, or by prefix when the filter ends with "*".
        if label is None:
            return True
        if label.endswith("*"):
            return (version_label or "").startswith(label[:-1])
        return version_label == label

    # Newest first, like ListDeployments.
    versions = [version for version in reversed(profile.versions.values()) if wanted(version.version_label)]
    page, token = _page(versions, lambda version: (-version.number,), params)
    return {"Items": [version.describe(with_content=False) for version in page], "NextToken": token}


# --- deployment strategies ----------------------------------------------------------------------------------


@operation("CreateDeploymentStrategy")
def create_deployment_strategy(store: Store, params: Params, call: Call) -> dict[str, Any]:
    strategy = store.create_strategy(
        name=params["Name"],
        duration_minutes=params["DeploymentDurationInMinutes"],
        growth_factor=params["GrowthFactor"],
        growth_type=params.get("GrowthType", "LINEAR"),
        bake_minutes=params.get("FinalBakeTimeInMinutes", 0),
        description=params.get("Description"),
        replicate_to=params.get("ReplicateTo", "NONE"),
    )
    return strategy.describe()


@operation("GetDeploymentStrategy")
def get_deployment_strategy(store: Store, params: Params, call: Call) -> dict[str, Any]:
    return store.strategy(params["DeploymentStrategyId"]).describe()


@operation("ListDeploymentStrategies")
def list_deployment_strategies(store: Store, params: Params, call: Call) -> dict[str, Any]:
    # The account's own strategies first, then the predefined ones.
    strategies = [*store.strategies.values(), *PREDEFINED_STRATEGIES.values()]
    page, token = _page(strategies, lambda strategy: (int(strategy.predefined), strategy.seq), params)
    return {"Items": [strategy.describe() for strategy in page], "NextToken": token}


@operation("UpdateDeploymentStrategy")
def update_deployment_strategy(store: Store, params: Params, call: Call) -> dict[str, Any]:
    strategy = store.strategy(params["DeploymentStrategyId"])
    if strategy.predefined:
        raise bad_request(f"Cannot update predefined Deployment Strategy {strategy.id}.")
    strategy.description = params.get("Description", strategy.description)
    strategy.duration_minutes = params.get("DeploymentDurationInMinutes", strategy.duration_minutes)
    strategy.bake_minutes = params.get("FinalBakeTimeInMinutes", strategy.bake_minutes)
    strategy.growth_factor = params.get("GrowthFactor", strategy.growth_factor)
    strategy.growth_type = params.get("GrowthType", strategy.growth_type)
    return strategy.describe()


@operation("DeleteDeploymentStrategy")
def delete_deployment_strategy(store: Store, params: Params, call: Call) -> None:
    strategy = store.strategy(params["DeploymentStrategyId"])
    if strategy.predefined:
        raise bad_request(f"Cannot delete predefined Deployment Strategy {strategy.id}.")
    del store.strategies[strategy.id]


# --- deployments --------------------------------------------------------------------------------------------


@operation("StartDeployment")
def start_deployment(store: Store, params: Params, call: Call) -> dict[str, Any]:
    environment = store.environment(params["ApplicationId"], params["EnvironmentId"])
    deployment = store.start_deployment(
        environment,
        strategy=store.strategy(params["DeploymentStrategyId"]),
        profile=store.profile(params["ApplicationId"], params["ConfigurationProfileId"]),
        configuration_version=params["ConfigurationVersion"],
        started_at=call.now,
        description=params.get("Description"),
        kms_key_identifier=params.get("KmsKeyIdentifier"),
        latest_deployment_number=params.get("LatestDeploymentNumber"),
        region=call.region,
    )
    return deployment.describe(call.now, just_started=True)


@operation("GetDeployment")
def get_deployment(store: Store, params: Params, call: Call) -> dict[str, Any]:
    deployment = store.deployment(
        params["ApplicationId"], params["EnvironmentId"], params["DeploymentNumber"]
    )
    return deployment.describe(call.now)


@operation("ListDeployments")
def list_deployments(store: Store, params: Params, call: Call) -> dict[str, Any]:
    environment = store.environment(params["ApplicationId"], params["EnvironmentId"])
    # Newest first; the key is the negated number so that it still ascends along the listing.
    page, token = _page(environment.deployments[::-1], lambda deployment: (-deployment.number,), params)
    return {"Items": [deployment.describe(call.now) for deployment in page], "NextToken": token}


@operation("StopDeployment")
def stop_deployment(store: Store, params: Params, call: Call) -> dict[str, Any]:
    deployment = store.deployment(
        params["ApplicationId"], params["EnvironmentId"], params["DeploymentNumber"]
    )
    store.stop_deployment(
        deployment,
        now=call.now,
        allow_revert=params.get("AllowRevert", False),
        triggered_by=USER,
        initiator=call.caller,
    )
    return deployment.describe(call.now) if call.full_stop_response else SPARSE_STOP_RESPONSE


# --- extensions and extension associations ------------------------------------------------------------------


@operation("CreateExtension")
def create_extension(store: Store, params: Params, call: Call) -> dict[str, Any]:
    extension, number = store.create_extension(
        name=params["Name"],
        actions=params["Actions"],
        parameters=params.get("Parameters"),
        description=params.get("Description"),
        latest_version_number=params.get("LatestVersionNumber"),
        region=call.region,
    )
    return extension.describe(number)


@operation("GetExtension")
def get_extension(store: Store, params: Params, call: Call) -> dict[str, Any]:
    extension, number = store.extension(params["ExtensionIdentifier"], params.get("VersionNumber"))
    return extension.describe(number)


@operation("ListExtensions")
def list_extensions(store: Store, params: Params, call: Call) -> dict[str, Any]:
    # The latest version of each, oldest extension first.
    found = [e for e in store.extensions.values() if params.get("Name") in (None, e.name)]
    page, token = _page(found, lambda extension: (extension.seq,), params)
    return {"Items": [e.describe(e.latest_version_number) for e in page], "NextToken": token}


@operation("DeleteExtension")
def delete_extension(store: Store, params: Params, call: Call) -> None:
    """Deletes one version, the latest unless VersionNumber is given; the extension goes with its last one.
    As in AppConfig, an extension's associations must be deleted first."""
    extension, number = store.extension(params["ExtensionIdentifier"], params.get("VersionNumber"))
    associated = [a.id for a in store.associations.values() if a.extension_id == extension.id]
    if associated:
        raise bad_request(
            f"Extension {extension.id} has associations ({', '.join(associated)}); delete them first"
        )
    del extension.versions[number]
    if not extension.versions:
        del store.extensions[extension.id]


@operation("CreateExtensionAssociation")
def create_extension_association(store: Store, params: Params, call: Call) -> dict[str, Any]:
    association = store.create_association(
        extension_identifier=params["ExtensionIdentifier"],
        resource_arn=params["ResourceIdentifier"],
        extension_version=params.get("ExtensionVersionNumber"),
        parameters=params.get("Parameters"),
        region=call.region,
    )
    return association.describe()


@operation("GetExtensionAssociation")
def get_extension_association(store: Store, params: Params, call: Call) -> dict[str, Any]:
    return store.association(params["ExtensionAssociationId"]).describe()


@operation("ListExtensionAssociations")
def list_extension_associations(store: Store, params: Params, call: Call) -> dict[str, Any]:
    found = list(store.associations.values())
    if "ResourceIdentifier" in params:
        resource = extensions.parse_resource_arn(params["ResourceIdentifier"])
        found = [a for a in found if (a.application_id, a.environment_id, a.profile_id) == resource]
    if "ExtensionIdentifier" in params:
        extension, _ = store.extension(params["ExtensionIdentifier"])
        found = [a for a in found if a.extension_id == extension.id]
    if "ExtensionVersionNumber" in params:
        found = [a for a in found if a.extension_version == params["ExtensionVersionNumber"]]
    page, token = _page(found, lambda association: (association.seq,), params)
    return {"Items": [association.describe() for association in page], "NextToken": token}


@operation("DeleteExtensionAssociation")
def delete_extension_association(store: Store, params: Params, call: Call) -> None:
    del store.associations[store.association(params["ExtensionAssociationId"]).id]
