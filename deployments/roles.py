"""Services that grant and revoke roles. A role is one of the Groups made by migration 0002, held for every
application (application None) or for one application."""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from audit.records import record
from deployments.access import PERMISSION_MODELS, ROLE_PERMISSIONS
from deployments.models import Application, Role, RoleGrant


def ensure_roles(**kwargs) -> None:
    """Create any missing role group or permission, idempotently (a post_migrate receiver):
    migrations create the groups, and this keeps them whole after a database flush (which sends it too)."""
    for role, permissions in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for dotted in permissions:
            app_label, codename = dotted.split(".")
            model = PERMISSION_MODELS[app_label]
            names = dict(apps.get_model(app_label, model)._meta.permissions)
            content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
            permission, _ = Permission.objects.get_or_create(
                content_type=content_type, codename=codename, defaults={"name": names[codename]}
            )
            group.permissions.add(permission)


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
    if created:  # a grant already held changes nothing and records nothing
        record(
            action="role.granted",
            actor=granted_by,
            target=_audit_target(user, role, application),
            details=_audit_details(user, role, application, via),
            source=via,
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
    if deleted:
        record(
            action="role.revoked",
            actor=revoked_by,
            target=_audit_target(user, role, application),
            details=_audit_details(user, role, application, via),
            source=via,
        )
    return deleted


def _audit_target(user: AbstractBaseUser, role: str, application: Application | None) -> dict:
    scope = application.name if application else "all applications"
    return {
        "application_id": application.application_id if application else "",
        "label": f"{role} for {user.get_username()} on {scope}",
    }


def _audit_details(user: AbstractBaseUser, role: str, application: Application | None, via: str) -> dict:
    details = {
        "user": user.get_username(),
        "user_id": user.pk,
        "role": role,
        "all_applications": not application,
    }
    return details
