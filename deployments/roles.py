"""Services that grant and revoke roles. A role is one of the Groups made by migration 0002, held for every
application (application None) or for one application."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction

from deployments.models import Application, Role, RoleGrant


class RoleError(ValueError):
    """A grant or revocation that cannot be done; the message says why."""


def _group(role: str) -> Group:
    if role not in Role.values:
        raise RoleError(f"unknown role {role!r}; roles are: {', '.join(Role.values)}")
    return Group.objects.get(name=role)


@transaction.atomic
def role_grant(
    *,
    user: AbstractBaseUser,
    role: str,
    application: Application | None = None,
    granted_by: AbstractBaseUser | None = None,
    via: str = "command",
) -> tuple[RoleGrant, bool]:
    """Grant `role` to `user` for `application` (None: all applications). Returns (grant, created)."""
    grant, created = RoleGrant.objects.get_or_create(
        user=user, group=_group(role), application=application, defaults={"granted_by": granted_by}
    )
    return grant, created


@transaction.atomic
def role_revoke(
    *,
    user: AbstractBaseUser,
    role: str,
    application: Application | None = None,
    revoked_by: AbstractBaseUser | None = None,
    via: str = "command",
) -> int:
    """Revoke `role` from `user` for `application` (None: the all-applications grant). Returns how many grants
    were removed (0 when there was nothing to revoke)."""
    deleted, _ = RoleGrant.objects.filter(user=user, group=_group(role), application=application).delete()
    return deleted
