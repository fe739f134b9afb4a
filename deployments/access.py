"""Who may see or do what: the one answer, used by every view, task, command, notification and audit selector.

Roles are Django groups whose permissions are the constants below; a role is granted for every application
or for one (`RoleGrant`). This module only reads: granting and revoking (which are audited) live in
`deployments.roles`. Nothing else in the project spells a permission string.

- `applications_for(user, perm)`: the applications on which the user holds `perm` (a lazy queryset).
- `user_may(user, perm, application)`, `users_holding(perm, application)`: yes/no and who.
- `Access` (`access_of`, `request_access`): every permission a user holds, by scope, read in one query for
  pages that ask several questions.
- `visible_application / visible_environment / visible_deployment / visible_stop_request`: the object, or
  `Http404` for what does not exist and for what the user may not see alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404, HttpRequest

from deployments.models import (
    ACTIVE_STATES,
    Account,
    Application,
    Deployment,
    Environment,
    Role,
    RoleGrant,
    StopRequest,
)

# ---------------------------------------------------------------------------------------------------------
# Permissions ("app_label.codename") and the roles that carry them

VIEW = "deployments.view_console"
SYNC_NOW = "deployments.sync_now"
REQUEST_STOP = "deployments.request_stop"
APPROVE_STOP = "deployments.approve_stop"
BREAK_GLASS = "deployments.stop_without_approval"
REVIEW_AUDIT = "audit.review_audit"
EXPORT_AUDIT = "audit.export_audit"

# Who may export a deployment's evidence pack: the application's auditors and operators (either permission).
EVIDENCE_PERMISSIONS = (EXPORT_AUDIT, REQUEST_STOP)

# The model each app's permissions are declared on (Application.Meta / AuditEvent.Meta).
PERMISSION_MODELS = {"deployments": "application", "audit": "auditevent"}

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.VIEWER: (VIEW,),
    Role.OPERATOR: (VIEW, SYNC_NOW, REQUEST_STOP),
    Role.APPROVER: (VIEW, APPROVE_STOP),
    Role.AUDITOR: (VIEW, REVIEW_AUDIT, EXPORT_AUDIT),
    Role.BREAK_GLASS: (VIEW, REQUEST_STOP, BREAK_GLASS),
}

User = AbstractBaseUser | AnonymousUser


def holds(permissions: set[str] | frozenset[str], perm: str) -> bool:
    """Whether a set of held permissions (from `Access.on`) includes `perm` ("*": a superuser's)."""
    return "*" in permissions or perm in permissions


def may_export_evidence(permissions: set[str] | frozenset[str]) -> bool:
    """Whether held permissions on an application (from `Access.on`) allow exporting its evidence packs."""
    return any(holds(permissions, perm) for perm in EVIDENCE_PERMISSIONS)


# ---------------------------------------------------------------------------------------------------------
# Querysets


def grants_holding(user, perm: str) -> QuerySet[RoleGrant]:
    """The user's role grants (for every application or for one) whose role carries `perm`."""
    app_label, codename = perm.split(".", 1)
    return RoleGrant.objects.filter(
        user=user,
        user__is_active=True,
        group__permissions__codename=codename,
        group__permissions__content_type__app_label=app_label,
    )


def applications_for(user: User, perm: str = VIEW) -> QuerySet[Application]:
    """Applications on which `user` holds `perm`: through a role granted for every application, or for that
    application. Superusers hold every permission everywhere. A lazy queryset (no query here)."""
    if not user.is_authenticated or not user.is_active:
        return Application.objects.none()
    if user.is_superuser:
        return Application.objects.all()
    return Application.objects.filter(holds_on(user, perm, "pk"))


def holds_on(user: User, perm: str, application: str) -> Exists | Q:
    """A filter: `user` holds `perm` on the application that the outer query's `application` path names
    ("pk" on Application, "environment__application" on Deployment). Lookups of one object filter with it
    directly, so the role check rides in the object's own query as one correlated subquery."""
    if not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if user.is_superuser:
        return Q()
    return Exists(
        grants_holding(user, perm).filter(Q(application__isnull=True) | Q(application=OuterRef(application)))
    )


def user_may(user: User, perm: str, application: Application | None = None) -> bool:
    """Whether `user` holds `perm` on `application`, or (application None) on at least one application."""
    scoped = applications_for(user, perm)
    if application is None:
        return scoped.exists()
    return scoped.filter(pk=application.pk).exists()


def users_holding(perm: str, application: Application) -> QuerySet:
    """Active users holding `perm` on `application` through a role (superusers are not approvers by
    default: they hold no role, and the two-person rule is about people with the role)."""
    app_label, codename = perm.split(".", 1)
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            role_grants__group__permissions__codename=codename,
            role_grants__group__permissions__content_type__app_label=app_label,
        )
        .filter(Q(role_grants__application__isnull=True) | Q(role_grants__application=application))
        .distinct()
    )


# ---------------------------------------------------------------------------------------------------------
# A user's whole access, read once


@dataclass(frozen=True)
class Access:
    """Every permission of every role a user holds, by scope, read in one query (`access_of`). Pages that
    ask several questions (may they see this, which buttons, may they review the audit trail) ask it once
    instead of once per question. A snapshot: services that act re-read (`user_may`)."""

    everywhere: frozenset[str] = frozenset()
    by_application: dict[int, frozenset[str]] = field(default_factory=dict)

    def on(self, application: Application) -> set[str]:
        """Every "app_label.codename" held on `application` ("*" for a superuser)."""
        return set(self.everywhere | self.by_application.get(application.pk, frozenset()))

    def may(self, perm: str, application: Application) -> bool:
        return holds(self.everywhere, perm) or perm in self.by_application.get(application.pk, ())

    def anywhere(self, perm: str) -> bool:
        """Held for every application or for at least one (the navigation's question)."""
        return holds(self.everywhere, perm) or any(perm in p for p in self.by_application.values())

    def applications(self, perm: str) -> frozenset[int] | None:
        """The ids of the applications on which `perm` is held, or None for every application: a filter
        on plain ids, which the database can answer from an index where the role subquery of
        `applications_for` makes it scan (the dashboard's lists)."""
        if holds(self.everywhere, perm):
            return None
        return frozenset(pk for pk, perms in self.by_application.items() if perm in perms)


NO_ACCESS = Access()


def access_of(user: User) -> Access:
    """The user's `Access`: one query (none for a superuser or an anonymous or inactive user)."""
    if not user.is_authenticated or not user.is_active:
        return NO_ACCESS
    if user.is_superuser:
        return Access(everywhere=frozenset({"*"}))
    everywhere: set[str] = set()
    scoped: dict[int, set[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_grants_sql(), [user.pk])
        for application_id, app_label, codename in cursor.fetchall():
            perms = everywhere if application_id is None else scoped.setdefault(application_id, set())
            perms.add(f"{app_label}.{codename}")
    return Access(frozenset(everywhere), {pk: frozenset(p) for pk, p in scoped.items()})


@cache
def _grants_sql() -> str:
    """`access_of`'s query, written out: it runs on every full page (the navigation asks it), and compiling
    its ORM form (four joins) costs far more than the database takes to answer (see bench/bench_pages.py).
    Tests check its answer against the ORM's role filter (`holds_on`) for every role, scoped and unscoped."""
    # Only table names are interpolated, from the models' metadata; the user's id is a bound parameter.
    return (
        "SELECT g.application_id, ct.app_label, p.codename"  # noqa: S608
        f" FROM {RoleGrant._meta.db_table} g"
        f" JOIN {Group.permissions.through._meta.db_table} gp ON gp.group_id = g.group_id"
        f" JOIN {Permission._meta.db_table} p ON p.id = gp.permission_id"
        f" JOIN {ContentType._meta.db_table} ct ON ct.id = p.content_type_id"
        " WHERE g.user_id = %s"
    )


def request_access(request: HttpRequest) -> Access:
    """`access_of(request.user)`, read at most once per request: the page's view, its stop panel and the
    layout's navigation share it."""
    try:
        return request._console_access  # type: ignore[attr-defined]
    except AttributeError:
        request._console_access = access_of(request.user)  # type: ignore[attr-defined]
        return request._console_access  # type: ignore[attr-defined]


def permissions_on(user: User, application: Application) -> set[str]:
    """Every "app_label.codename" the user holds on one application, in one query."""
    return access_of(user).on(application)


# ---------------------------------------------------------------------------------------------------------
# One object, if the user may see it (None / Http404 otherwise). `user=None`: no user to scope by (a
# management command run by someone who already holds the database).


def deployments_by_key(
    application_id: str, environment_id: str, deployment_number: int
) -> QuerySet[Deployment]:
    """The deployment named by AppConfig's keys (one per account that has them), with its environment and
    application."""
    return Deployment.objects.select_related("environment__application").filter(
        environment__application__application_id=application_id,
        environment__environment_id=environment_id,
        deployment_number=deployment_number,
    )


def find_environment(user: User | None, application_id: str, environment_id: str) -> Environment | None:
    """One query: the environment, with its application and account, if `user` may see it."""
    environments = Environment.objects.select_related("application__account").filter(
        application__application_id=application_id, environment_id=environment_id
    )
    if user is not None:
        environments = environments.filter(holds_on(user, VIEW, "application"))
    return environments.order_by("pk").first()


def find_deployment(
    user: User | None, application_id: str, environment_id: str, deployment_number: int
) -> Deployment | None:
    """One query: the deployment, with its environment, application and account, if `user` may see it. The
    live poll's only query besides session and user."""
    deployments = deployments_by_key(application_id, environment_id, deployment_number).select_related(
        "environment__application__account"
    )
    if user is not None:
        deployments = deployments.filter(holds_on(user, VIEW, "environment__application"))
    return deployments.order_by("pk").first()


class PollState(NamedTuple):
    """What a live region's poll compares with the version it holds, read without building the deployment:
    `version` (the progress region's), `panel_version` (the stop panel's: its newest stop request and the
    deployment), whether the page can still change (`live`) and whether its lazily fetched details are
    settled (arrived or failed)."""

    version: int
    panel_version: str
    live: bool
    details_settled: bool


def find_poll_state(
    user: User, application_id: str, environment_id: str, deployment_number: int
) -> PollState | None:
    """One query, written out (compiling the ORM form of `find_deployment`, with its joins and role
    subquery, costs several times what the database takes, on the request every open deployment page sends
    twice every two seconds): the deployment's `PollState`, if `user` may see it. None when it does not
    exist or is not visible: the caller then takes the full path, which answers 404 (and records a refusal)
    as for any lookup."""
    if not user.is_authenticated or not user.is_active:
        return None
    app_label, codename = VIEW.split(".", 1)
    with connection.cursor() as cursor:
        cursor.execute(
            _poll_sql(),
            [
                application_id,
                environment_id,
                deployment_number,
                user.is_superuser,
                user.pk,
                app_label,
                codename,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    version, state, details_fetched, details_error, enabled, stop_pk, stop_version = row
    terminal = state not in ACTIVE_STATES
    details_settled = details_fetched is not None or bool(details_error)
    return PollState(
        version=version,
        panel_version=f"{stop_pk}.{stop_version}.{version}" if stop_pk else f"0.{version}",
        live=bool(enabled) and (not terminal or not details_settled),
        details_settled=details_settled,
    )


@cache
def _poll_sql() -> str:
    """`find_poll_state`'s query: the lookup of `deployments_by_key`, the newest stop request as the stop
    panel reads it (`stops.selectors.stop_panel`), and the role check of `holds_on` (a superuser, or a grant
    for every application or this one whose role carries the permission). Tests hold it to the ORM's
    answers."""
    deployment, environment, application = Deployment._meta, Environment._meta, Application._meta
    stop, account = StopRequest._meta, Account._meta
    newest = (
        f"FROM {stop.db_table} s WHERE s.{stop.get_field('deployment').column} = d.id"
        " ORDER BY s.created_at DESC, s.id DESC LIMIT 1"
    )
    # Only table and column names are interpolated, from the models' metadata; values are parameters.
    return (
        "SELECT d.version, d.state, d.details_fetched_at, d.details_error, c.enabled,"  # noqa: S608
        f" (SELECT s.id {newest}), (SELECT s.version {newest})"
        f" FROM {deployment.db_table} d"
        f" JOIN {environment.db_table} e ON e.id = d.{deployment.get_field('environment').column}"
        f" JOIN {application.db_table} a ON a.id = e.{environment.get_field('application').column}"
        f" JOIN {account.db_table} c ON c.id = a.{application.get_field('account').column}"
        " WHERE a.application_id = %s AND e.environment_id = %s AND d.deployment_number = %s"
        " AND (%s OR EXISTS (SELECT 1"
        f" FROM {RoleGrant._meta.db_table} g"
        f" JOIN {Group.permissions.through._meta.db_table} gp ON gp.group_id = g.group_id"
        f" JOIN {Permission._meta.db_table} p ON p.id = gp.permission_id"
        f" JOIN {ContentType._meta.db_table} ct ON ct.id = p.content_type_id"
        " WHERE g.user_id = %s AND (g.application_id IS NULL OR g.application_id = a.id)"
        " AND ct.app_label = %s AND p.codename = %s))"
        " ORDER BY d.id LIMIT 1"
    )


class OutOfScope(Http404):
    """The 404 answered for an object that exists but that the user may not see: the same answer as for
    one that does not exist (nothing leaks), but the attempt is recorded (`access.denied`, by
    `audit.middleware.DeniedAccessMiddleware`), as every refusal is. `target` is the object."""

    def __init__(self, target, what: str) -> None:
        super().__init__(f"no such {what}, or not visible to this user")
        self.target = target


def _not_visible(what: str, existing) -> Http404:
    # Only the refusal path pays for this query: the same lookup without the user's scope.
    found = existing.first()
    if found is not None:
        return OutOfScope(found, what)
    return Http404(f"no such {what}, or not visible to this user")


def visible_application(user: User, application_id: str) -> Application:
    application = applications_for(user).filter(application_id=application_id).order_by("pk").first()
    if application is None:
        raise _not_visible("application", Application.objects.filter(application_id=application_id))
    return application


def visible_environment(user: User, application_id: str, environment_id: str) -> Environment:
    environment = find_environment(user, application_id, environment_id)
    if environment is None:
        raise _not_visible(
            "environment",
            Environment.objects.select_related("application").filter(
                application__application_id=application_id, environment_id=environment_id
            ),
        )
    return environment


def visible_deployment(
    user: User, application_id: str, environment_id: str, deployment_number: int
) -> Deployment:
    deployment = find_deployment(user, application_id, environment_id, deployment_number)
    if deployment is None:
        raise _not_visible(
            "deployment", deployments_by_key(application_id, environment_id, deployment_number)
        )
    return deployment


def visible_stop_request(user: User, stop_request_id: int) -> StopRequest:
    requests = StopRequest.objects.select_related(
        "deployment__environment__application__account", "requested_by"
    ).filter(pk=stop_request_id)
    stop_request = requests.filter(deployment__environment__application__in=applications_for(user)).first()
    if stop_request is None:
        raise _not_visible("stop request", requests)
    return stop_request
