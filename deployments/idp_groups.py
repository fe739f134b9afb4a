"""Which console roles the identity provider's groups give: the mapping file named by OIDC_GROUP_ROLES_FILE
(YAML, or JSON, which YAML reads too), read and checked once per process.

    # IdP group: a role for every application,
    appconfig-viewers: viewer
    # or one or more roles, each for every application or for some (ApplicationId or name).
    appconfig-approvers-payments:
      - role: approver
        applications: [payments-api]
    appconfig-oncall:
      - operator
      - {role: break-glass, applications: [pay1234, checkout]}

Single sign-on reconciles a user's SSO grants with this mapping at every sign-on (`deployments.roles`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from deployments.models import Role

MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class GroupRole:
    role: str
    application: str | None = None  # an ApplicationId or name; None: every application


GroupRoles = dict[str, tuple[GroupRole, ...]]


def parse_group_roles(data: object, *, where: str = "OIDC_GROUP_ROLES_FILE") -> GroupRoles:
    """The mapping from its parsed YAML/JSON; ImproperlyConfigured saying what is wrong and where."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ImproperlyConfigured(f"{where}: expected a mapping of identity provider groups to roles")
    mapping: GroupRoles = {}
    for group, entries in data.items():
        if not isinstance(group, str) or not group.strip():
            raise ImproperlyConfigured(f"{where}: group names must be non-empty text, not {group!r}")
        if isinstance(entries, str | dict):
            entries = [entries]
        if not isinstance(entries, list) or not entries:
            raise ImproperlyConfigured(f"{where}: {group}: expected a role or a list of roles")
        rules: list[GroupRole] = []
        for entry in entries:
            if isinstance(entry, str):
                entry = {"role": entry}
            if not isinstance(entry, dict) or set(entry) - {"role", "applications"}:
                raise ImproperlyConfigured(
                    f"{where}: {group}: each entry is a role or {{role, applications}}"
                )
            role = entry.get("role")
            if role not in Role.values:
                raise ImproperlyConfigured(
                    f"{where}: {group}: unknown role {role!r}; roles are: {', '.join(Role.values)}"
                )
            applications = entry.get("applications")
            if applications is None:
                rules.append(GroupRole(role))
                continue
            if isinstance(applications, str):
                applications = [applications]
            if not isinstance(applications, list) or not applications:
                raise ImproperlyConfigured(f"{where}: {group}: applications must be a non-empty list")
            for application in applications:
                if not isinstance(application, str) or not application.strip():
                    raise ImproperlyConfigured(f"{where}: {group}: application names must be non-empty text")
                rules.append(GroupRole(role, application.strip()))
        mapping[group.strip()] = tuple(rules)
    return mapping


def load_group_roles(path: str | Path) -> GroupRoles:
    path = Path(path)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ImproperlyConfigured(f"OIDC_GROUP_ROLES_FILE: cannot read {path}: {error.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ImproperlyConfigured(f"OIDC_GROUP_ROLES_FILE: {path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise ImproperlyConfigured(f"OIDC_GROUP_ROLES_FILE: {path} is not YAML or JSON: {error}") from None
    return parse_group_roles(data, where=f"OIDC_GROUP_ROLES_FILE ({path})")


@cache
def _cached(path: str) -> GroupRoles:
    return load_group_roles(path) if path else {}


def group_roles() -> GroupRoles:
    """The configured mapping (empty without OIDC_GROUP_ROLES_FILE: nobody gets a role from the provider)."""
    return _cached(str(settings.OIDC_GROUP_ROLES_FILE or ""))
