"""Services that grant and revoke roles. A role is one of the Groups made by migration 0002, held for every
application (application None) or for one application. Grants are made by hand (admin, `roles` command) or
by single sign-on, whose grants follow the identity provider's groups (`roles_reconcile_sso`)."""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q

from audit.records import record
from deployments.access import PERMISSION_MODELS, ROLE_PERMISSIONS
from deployments.idp_groups import GroupRoles
from deployments.models import Application, GrantSource, Role, RoleGrant


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
    idp_group: str = "",
) -> tuple[RoleGrant, bool]:
    """Grant `role` to `user` for `application` (None: all applications). Returns (grant, created).

    `via="sso"`: a grant that single sign-on made because of the identity provider group `idp_group`;
    every other way makes a grant by hand."""
    source = GrantSource.SSO if via == GrantSource.SSO else GrantSource.MANUAL
    grant, created = RoleGrant.objects.get_or_create(
        user=user,
        group=_group(role),
        application=application,
        defaults={"granted_by": granted_by, "source": source, "idp_group": idp_group},
    )
    if created:  # a grant already held changes nothing and records nothing
        record(
            action="role.granted",
            actor=granted_by,
            target=_audit_target(user, role, application),
            details=_audit_details(user, role, application, via, grant),
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
    were removed (0 when there was nothing to revoke). `via="sso"` revokes only a grant single sign-on made:
    one made by hand stays."""
    grants = RoleGrant.objects.filter(user=user, group=_group(role), application=application)
    if via == GrantSource.SSO:
        grants = grants.filter(source=GrantSource.SSO)
    grant = grants.first()
    if grant is None:
        return 0
    deleted, _ = RoleGrant.objects.filter(pk=grant.pk).delete()
    if deleted:
        record(
            action="role.revoked",
            actor=revoked_by,
            target=_audit_target(user, role, application),
            details=_audit_details(user, role, application, via, grant),
            source=via,
        )
    return deleted


@transaction.atomic
def roles_reconcile_sso(*, user: AbstractBaseUser, groups: list[str], group_roles: GroupRoles) -> bool:
    """Make the user's SSO grants match the identity provider groups of this sign-on; returns whether the user
    now holds any role (by SSO or by hand) or is a superuser.

    1. Wanted: every (role, application) that `group_roles` maps the token's groups to, each with the first
       group (in sorted order) that asks for it. A mapping to an application the console has not synced yet
       is skipped; the next sign-on after the sync grants it.
    2. Revoke the user's SSO grants that are no longer wanted (`role.revoked`, source sso, with the group that
       had caused them).
    3. Grant what is wanted and not held at all (`role.granted`, source sso, with the group). A grant the user
       already holds by hand is left as it is, and so is every grant made by hand.
    """
    wanted: dict[tuple[str, int | None], tuple[str, Application | None]] = {}
    for group in sorted(set(groups)):
        for mapping in group_roles.get(group, ()):
            for application in _applications(mapping.application):
                key = (mapping.role, application.pk if application else None)
                wanted.setdefault(key, (group, application))
    held = RoleGrant.objects.filter(user=user).select_related("group", "application")
    held_keys = set()
    for grant in held:
        key = (grant.group.name, grant.application_id)
        held_keys.add(key)
        if grant.source == GrantSource.SSO and key not in wanted:
            role_revoke(user=user, role=grant.group.name, application=grant.application, via=GrantSource.SSO)
            held_keys.discard(key)
    for (role, _), (group, application) in wanted.items():
        if (role, application.pk if application else None) not in held_keys:
            role_grant(user=user, role=role, application=application, via=GrantSource.SSO, idp_group=group)
    return user.is_superuser or RoleGrant.objects.filter(user=user).exists()


def _applications(application: str | None) -> list[Application | None]:
    """None (every application), or the applications whose ApplicationId or name is `application`."""
    if application is None:
        return [None]
    return list(
        Application.objects.filter(deleted_at__isnull=True)
        .filter(Q(application_id=application) | Q(name=application))
        .order_by("pk")
    )


def _audit_target(user: AbstractBaseUser, role: str, application: Application | None) -> dict:
    scope = application.name if application else "all applications"
    return {
        "application_id": application.application_id if application else "",
        "label": f"{role} for {user.get_username()} on {scope}",
    }


def _audit_details(
    user: AbstractBaseUser, role: str, application: Application | None, via: str, grant: RoleGrant
) -> dict:
    details = {
        "user": user.get_username(),
        "user_id": user.pk,
        "role": role,
        "all_applications": not application,
    }
    if grant.source == GrantSource.SSO:
        details.update(grant_source=GrantSource.SSO, idp_group=grant.idp_group)
    return details
