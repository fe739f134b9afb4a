"""The optional state file: the whole account as one JSON document, so that a restarted emulator (a second
`make run`) keeps its applications and deployment history.

Written atomically (a temporary file in the same directory, then a rename), so a crash mid-save leaves the
previous file intact rather than half a document.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .extensions import Extension, ExtensionAssociation, ExtensionVersion
from .state import (
    Application,
    ConfigurationProfile,
    Deployment,
    DeploymentStrategy,
    Environment,
    HostedConfigurationVersion,
    Stop,
    Store,
)

FORMAT = "appconfig_emulator/1"


def _deployment_document(deployment: Deployment) -> dict[str, Any]:
    document = {name: getattr(deployment, name) for name in Deployment.__slots__}
    document["stop"] = deployment.stop._asdict() if deployment.stop else None
    return document


def to_document(store: Store, now: float) -> dict[str, Any]:
    """The store as JSON-ready data; the caller holds no lock, this takes the store's."""
    with store.lock:
        return {
            "format": FORMAT,
            "saved_at": now,
            "last_seq": store.last_seq,
            "strategies": [
                {
                    "id": strategy.id,
                    "name": strategy.name,
                    "description": strategy.description,
                    "duration_minutes": strategy.duration_minutes,
                    "growth_type": strategy.growth_type,
                    "growth_factor": strategy.growth_factor,
                    "bake_minutes": strategy.bake_minutes,
                    "replicate_to": strategy.replicate_to,
                    "seq": strategy.seq,
                }
                for strategy in store.strategies.values()
            ],
            "extensions": [
                {
                    "id": extension.id,
                    "name": extension.name,
                    "arn_prefix": extension.arn_prefix,
                    "seq": extension.seq,
                    "versions": [
                        {
                            "number": version.number,
                            "description": version.description,
                            "actions": version.actions,
                            "parameters": version.parameters,
                        }
                        for version in extension.versions.values()
                    ],
                }
                for extension in store.extensions.values()
            ],
            "associations": [
                {name: getattr(association, name) for name in ExtensionAssociation.__slots__}
                for association in store.associations.values()
            ],
            "action_failures": [
                {"uri": uri, "error_code": code, "error_message": message}
                for uri, (code, message) in store.action_failures.items()
            ],
            "applications": [
                {
                    "id": application.id,
                    "name": application.name,
                    "description": application.description,
                    "seq": application.seq,
                    "environments": [
                        {
                            "id": environment.id,
                            "name": environment.name,
                            "description": environment.description,
                            "monitors": environment.monitors,
                            "seq": environment.seq,
                            "deployments": [_deployment_document(d) for d in environment.deployments],
                        }
                        for environment in application.environments.values()
                    ],
                    "profiles": [
                        {
                            "id": profile.id,
                            "name": profile.name,
                            "description": profile.description,
                            "location_uri": profile.location_uri,
                            "retrieval_role_arn": profile.retrieval_role_arn,
                            "validators": profile.validators,
                            "type": profile.type,
                            "kms_key_identifier": profile.kms_key_identifier,
                            "seq": profile.seq,
                            "latest_version_number": profile.latest_version_number,
                            "versions": [
                                {
                                    "number": version.number,
                                    "description": version.description,
                                    "content": base64.b64encode(version.content).decode("ascii"),
                                    "content_type": version.content_type,
                                    "version_label": version.version_label,
                                }
                                for version in profile.versions.values()
                            ],
                        }
                        for profile in application.profiles.values()
                    ],
                }
                for application in store.applications.values()
            ],
        }


def load_document(store: Store, document: dict[str, Any]) -> float:
    """Fills an empty store from `document`; returns the emulated time at which it was saved."""
    if document.get("format") != FORMAT:
        raise ValueError(f"not an appconfig_emulator state file (format {document.get('format')!r})")
    with store.lock:
        for item in document["strategies"]:
            strategy = DeploymentStrategy(**item)
            store.strategies[strategy.id] = strategy
            store.claim_id(strategy.id)
        for item in document["applications"]:
            application = Application(item["id"], item["name"], item["description"], item["seq"])
            store.applications[application.id] = application
            store.claim_id(application.id)
            for env in item["environments"]:
                environment = Environment(
                    application.id, env["id"], env["name"], env["description"], env["monitors"], env["seq"]
                )
                for saved in env["deployments"]:
                    stop = saved.pop("stop", None)
                    environment.deployments.append(Deployment(**saved, stop=Stop(**stop) if stop else None))
                application.environments[environment.id] = environment
                store.claim_id(environment.id)
            for saved_profile in item["profiles"]:
                profile = ConfigurationProfile(
                    application.id,
                    saved_profile["id"],
                    saved_profile["name"],
                    saved_profile["description"],
                    saved_profile["location_uri"],
                    saved_profile["retrieval_role_arn"],
                    saved_profile["validators"],
                    saved_profile["type"],
                    saved_profile["kms_key_identifier"],
                    saved_profile["seq"],
                    latest_version_number=saved_profile["latest_version_number"],
                )
                for version in saved_profile["versions"]:
                    profile.versions[version["number"]] = HostedConfigurationVersion(
                        application.id,
                        profile.id,
                        version["number"],
                        version["description"],
                        base64.b64decode(version["content"]),
                        version["content_type"],
                        version["version_label"],
                    )
                application.profiles[profile.id] = profile
                store.claim_id(profile.id)
        # Files saved before extensions existed have none of these keys.
        for item in document.get("extensions", ()):
            extension = Extension(item["id"], item["name"], item["arn_prefix"], item["seq"])
            for version in item["versions"]:
                extension.versions[version["number"]] = ExtensionVersion(
                    version["number"], version["description"], version["actions"], version["parameters"]
                )
            store.extensions[extension.id] = extension
            store.claim_id(extension.id)
        for item in document.get("associations", ()):
            association = ExtensionAssociation(**item)
            store.associations[association.id] = association
            store.claim_id(association.id)
        for item in document.get("action_failures", ()):
            store.action_failures[item["uri"]] = (item["error_code"], item["error_message"])
        store.last_seq = document["last_seq"]
    return float(document["saved_at"])


def save(path: Path, store: Store, now: float) -> None:
    document = to_document(store, now)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(document, file, separators=(",", ":"))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load(path: Path, store: Store) -> float:
    with path.open(encoding="utf-8") as file:
        return load_document(store, json.load(file))
