"""Extensions, extension associations, and what they add to a deployment: AppliedExtensions and the
ActionInvocations of its events. Also the ARNs the emulator makes up, and KmsKeyArn.

The emulator runs no extension code. What an action would do is not emulated; that it was invoked is. A
deployment takes a snapshot, when it starts, of the extensions associated with its application, environment
or configuration profile (AppliedExtensions), and every event at an action point lists one invocation per
action there. An invocation fails (ErrorCode, ErrorMessage) when the action's Uri was marked as failing
(`Emulator.fail_action`, `/_emulator/action-failures`) before the deployment started.

Which event carries which action point is an inference from the names (the model does not say):

| event | action points |
|---|---|
| DEPLOYMENT_STARTED | PRE_START_DEPLOYMENT, ON_DEPLOYMENT_START |
| PERCENTAGE_UPDATED | ON_DEPLOYMENT_STEP |
| BAKE_TIME_STARTED | ON_DEPLOYMENT_BAKING |
| DEPLOYMENT_COMPLETED | ON_DEPLOYMENT_COMPLETE |
| ROLLBACK_COMPLETED, REVERT_COMPLETED | ON_DEPLOYMENT_ROLLED_BACK |

AT_DEPLOYMENT_TICK (every minute of a deployment) and PRE_CREATE_HOSTED_CONFIGURATION_VERSION belong to no
event and are not invoked. A failing PRE_START_DEPLOYMENT action refuses StartDeployment (400), as a PRE_
action's failure stops the operation in AppConfig.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ACTION_POINTS_BY_EVENT: dict[str, tuple[str, ...]] = {
    "DEPLOYMENT_STARTED": ("PRE_START_DEPLOYMENT", "ON_DEPLOYMENT_START"),
    "PERCENTAGE_UPDATED": ("ON_DEPLOYMENT_STEP",),
    "BAKE_TIME_STARTED": ("ON_DEPLOYMENT_BAKING",),
    "DEPLOYMENT_COMPLETED": ("ON_DEPLOYMENT_COMPLETE",),
    "ROLLBACK_COMPLETED": ("ON_DEPLOYMENT_ROLLED_BACK",),
    "REVERT_COMPLETED": ("ON_DEPLOYMENT_ROLLED_BACK",),
}
INVOKED_ACTION_POINTS = frozenset(point for points in ACTION_POINTS_BY_EVENT.values() for point in points)
APPLIED_MEMBERS = ("ExtensionId", "ExtensionAssociationId", "VersionNumber", "Parameters")
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


# --- ARNs ---------------------------------------------------------------------------------------------------


def appconfig_arn(region: str, account_id: str, resource: str) -> str:
    return f"arn:aws:appconfig:{region}:{account_id}:{resource}"


def resource_path(
    application_id: str, environment_id: str | None = None, profile_id: str | None = None
) -> str:
    """The resource part of an application's, environment's or configuration profile's ARN."""
    if environment_id:
        return f"application/{application_id}/environment/{environment_id}"
    if profile_id:
        return f"application/{application_id}/configurationprofile/{profile_id}"
    return f"application/{application_id}"


def parse_resource_arn(arn: str) -> tuple[str, str | None, str | None] | None:
    """(application id, environment id, profile id) of an AppConfig resource ARN; None for anything else."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "appconfig":
        return None
    path = parts[5].split("/")
    if len(path) == 2 and path[0] == "application" and path[1]:
        return path[1], None, None
    if len(path) == 4 and path[0] == "application" and path[1] and path[3]:
        if path[2] == "environment":
            return path[1], path[3], None
        if path[2] == "configurationprofile":
            return path[1], None, path[3]
    return None


def kms_key_arn(identifier: str, region: str, account_id: str) -> str:
    """KmsKeyArn for StartDeployment's KmsKeyIdentifier (a key id, a key ARN, an alias name or an alias ARN).

    There is no KMS behind the emulator to resolve an alias, so an alias stands for a made-up key whose id is
    derived from the alias: the same alias always names the same key.
    """
    if identifier.startswith("arn:") and ":alias/" not in identifier:
        return identifier
    if identifier.startswith("arn:") or identifier.startswith("alias/"):
        alias_arn = (
            identifier if identifier.startswith("arn:") else f"arn:aws:kms:{region}:{account_id}:{identifier}"
        )
        key_id = str(uuid.uuid5(uuid.NAMESPACE_URL, alias_arn))
        region, account_id = alias_arn.split(":")[3:5]
        return f"arn:aws:kms:{region}:{account_id}:key/{key_id}"
    return f"arn:aws:kms:{region}:{account_id}:key/{identifier}"


# --- resources ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ExtensionVersion:
    number: int
    description: str | None
    actions: dict[str, list[dict[str, str]]]  # action point -> [{Name, Description?, Uri, RoleArn?}]
    parameters: dict[str, dict[str, Any]]  # name -> {Description?, Required?, Dynamic?}


@dataclass(slots=True)
class Extension:
    id: str
    name: str
    arn_prefix: str  # the ARN without its version: arn:aws:appconfig:<region>:<account>:extension/<id>
    seq: int
    versions: dict[int, ExtensionVersion] = field(default_factory=dict)

    @property
    def latest_version_number(self) -> int:
        return max(self.versions)

    def arn(self, version_number: int) -> str:
        return f"{self.arn_prefix}/{version_number}"

    def describe(self, version_number: int) -> dict[str, Any]:
        version = self.versions[version_number]
        return {
            "Id": self.id,
            "Name": self.name,
            "VersionNumber": version.number,
            "Arn": self.arn(version.number),
            "Description": version.description,
            "Actions": version.actions,
            "Parameters": version.parameters,
        }


@dataclass(slots=True)
class ExtensionAssociation:
    id: str
    arn: str
    extension_id: str
    extension_version: int
    extension_arn: str
    resource_arn: str
    application_id: str
    environment_id: str | None
    profile_id: str | None
    parameters: dict[str, str]
    seq: int

    def applies_to(self, application_id: str, environment_id: str, profile_id: str) -> bool:
        if self.application_id != application_id:
            return False
        if self.environment_id is not None:
            return self.environment_id == environment_id
        if self.profile_id is not None:
            return self.profile_id == profile_id
        return True

    def describe(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Arn": self.arn,
            "ExtensionArn": self.extension_arn,
            "ResourceArn": self.resource_arn,
            "Parameters": self.parameters,
            "ExtensionVersionNumber": self.extension_version,
        }


# --- what a deployment records and reports ------------------------------------------------------------------


def applied_extension(
    extension: Extension, association: ExtensionAssociation, failures: dict[str, tuple[str, str]]
) -> dict[str, Any]:
    """The snapshot a deployment keeps of one associated extension: AppliedExtension's members plus the
    actions to invoke (with their failure, if their Uri was marked as failing). Plain JSON-ready data, so that
    the state file saves it as it is."""
    version = extension.versions[association.extension_version]
    actions: dict[str, list[dict[str, str]]] = {}
    for point, point_actions in version.actions.items():
        if point not in INVOKED_ACTION_POINTS:
            continue
        actions[point] = []
        for action in point_actions:
            invoked = {key: action[key] for key in ("Name", "Uri", "RoleArn") if action.get(key)}
            if action.get("Uri") in failures:
                invoked["ErrorCode"], invoked["ErrorMessage"] = failures[action["Uri"]]
            actions[point].append(invoked)
    return {
        "ExtensionId": extension.id,
        "ExtensionAssociationId": association.id,
        "VersionNumber": version.number,
        "Parameters": dict(association.parameters),
        "ExtensionArn": extension.arn(version.number),
        "Actions": actions,
    }


def pre_start_failure(applied: list[dict[str, Any]]) -> str | None:
    """Why StartDeployment must be refused: a failing PRE_START_DEPLOYMENT action, if any."""
    for extension in applied:
        for action in extension["Actions"].get("PRE_START_DEPLOYMENT", ()):
            if "ErrorCode" in action:
                return (
                    f"Extension {extension['ExtensionArn']} action {action['Name']} failed at "
                    f"PRE_START_DEPLOYMENT: {action['ErrorCode']}: {action['ErrorMessage']}"
                )
    return None


@lru_cache(maxsize=8192)  # pollers read the same deployments over and over
def invocation_id(*parts: str) -> str:
    """7 characters of [a-z0-9], the same on every read of the same invocation (events are re-derived)."""
    number = int.from_bytes(hashlib.blake2b("|".join(parts).encode(), digest_size=8).digest())
    characters = []
    for _ in range(7):
        number, digit = divmod(number, 36)
        characters.append(_BASE36[digit])
    return "".join(characters)


def action_invocations(applied: list[dict[str, Any]], event_type: str, key: str) -> list[dict[str, str]]:
    """The ActionInvocations of one event; `key` identifies the event within the account."""
    invocations = []
    for point in ACTION_POINTS_BY_EVENT.get(event_type, ()):
        for extension in applied:
            for action in extension["Actions"].get(point, ()):
                invocation = {
                    "ExtensionIdentifier": extension["ExtensionArn"],
                    "ActionName": action["Name"],
                    "Uri": action["Uri"],
                    "InvocationId": invocation_id(
                        key, extension["ExtensionAssociationId"], point, action["Name"]
                    ),
                }
                for member in ("RoleArn", "ErrorCode", "ErrorMessage"):
                    if member in action:
                        invocation[member] = action[member]
                invocations.append(invocation)
    return invocations
