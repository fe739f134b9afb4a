"""Shared reads, already scoped to what the user may see or do.

`applications_for(user, perm)` is the one answer to "which applications may this user see / act on": every
view, task and command asks it (or `user_may`) rather than testing roles itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest
from django.utils import timezone

from deployments.models import (
    ACTIVE_STATES,
    Account,
    Application,
    Deployment,
    DeploymentEvent,
    Environment,
    RoleGrant,
    StopRequest,
    SyncRun,
)

VIEW = "deployments.view_console"


def grants_holding(user, perm: str) -> QuerySet[RoleGrant]:
    """The user's role grants (for every application or for one) whose role carries `perm`."""
    app_label, codename = perm.split(".", 1)
    return RoleGrant.objects.filter(
        user=user,
        user__is_active=True,
        group__permissions__codename=codename,
        group__permissions__content_type__app_label=app_label,
    )


def applications_for(user: AbstractBaseUser | AnonymousUser, perm: str = VIEW) -> QuerySet[Application]:
    """Applications on which `user` holds `perm` ("app_label.codename"): through a role granted for every
    application, or for that application. Superusers hold every permission everywhere."""
    if not user.is_authenticated or not user.is_active:
        return Application.objects.none()
    if user.is_superuser:
        return Application.objects.all()
    # One lazy queryset (no query here).
    return Application.objects.filter(holds_on(user, perm, "pk"))


def holds_on(user: AbstractBaseUser | AnonymousUser, perm: str, application: str) -> Exists | Q:
    """A filter: `user` holds `perm` on the application that the outer query's `application` path names
    ("pk" on Application, "environment__application" on Deployment). Pages that fetch one object filter
    with it directly, so an unchanged live poll answering 204 stays within session + user + that object, and
    the query has one correlated subquery to build (Django's query compilation, not the database, is most
    of such a page's cost)."""
    if not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if user.is_superuser:
        return Q()
    return Exists(
        grants_holding(user, perm).filter(Q(application__isnull=True) | Q(application=OuterRef(application)))
    )


def user_may(
    user: AbstractBaseUser | AnonymousUser, perm: str, application: Application | None = None
) -> bool:
    """Whether `user` holds `perm` on `application`, or (application None) on at least one application."""
    scoped = applications_for(user, perm)
    if application is None:
        return scoped.exists()
    return scoped.filter(pk=application.pk).exists()


@dataclass(frozen=True)
class AccountHealth:
    account: Account
    last_run: SyncRun | None
    last_success: SyncRun | None
    failing_applications: int

    @property
    def stale(self) -> bool:
        if self.last_success is None:
            return True
        age = timezone.now() - (self.last_success.finished_at or self.last_success.started_at)
        return age > timedelta(seconds=settings.SYNC_STALE_AFTER_SECONDS)

    @property
    def last_synced_at(self) -> datetime | None:
        return self.last_success.finished_at if self.last_success else None

    @property
    def problem(self) -> str:
        """Empty when healthy; otherwise one sentence for the dashboard and /readyz."""
        if self.last_run is not None and self.last_run.status == SyncRun.Status.FAILED:
            return f"last sync failed: {self.last_run.error}"
        if self.last_success is None:
            return "never synced yet"
        if self.stale:
            return "sync is stale"
        if self.failing_applications:
            return f"{self.failing_applications} application sync(s) failed in the last pass"
        return ""


def sync_health() -> list[AccountHealth]:
    """Per enabled account: latest account-level run, latest successful one, and applications whose sync
    failed since that success started. Two queries whatever the number of accounts and runs."""
    runs = SyncRun.objects.filter(account=OuterRef("pk"), scope=SyncRun.Scope.ACCOUNT).order_by("-started_at")
    accounts = list(
        Account.objects.filter(enabled=True).annotate(
            last_run_id=Subquery(runs.values("pk")[:1]),
            last_success_id=Subquery(runs.filter(status=SyncRun.Status.SUCCEEDED).values("pk")[:1]),
            last_success_started_at=Subquery(
                runs.filter(status=SyncRun.Status.SUCCEEDED).values("started_at")[:1]
            ),
            failing=Subquery(
                SyncRun.objects.filter(
                    account=OuterRef("pk"),
                    scope=SyncRun.Scope.APPLICATION,
                    status=SyncRun.Status.FAILED,
                    started_at__gte=OuterRef("last_success_started_at"),
                )
                .order_by()
                .values("account")
                .annotate(n=Count("application", distinct=True))
                .values("n")[:1]
            ),
        )
    )
    ids = {a.last_run_id for a in accounts} | {a.last_success_id for a in accounts}
    found = SyncRun.objects.in_bulk([pk for pk in ids if pk is not None]) if accounts else {}
    return [
        AccountHealth(
            account,
            found.get(account.last_run_id),
            found.get(account.last_success_id),
            (account.failing or 0) if account.last_success_id else 0,
        )
        for account in accounts
    ]


# ---------------------------------------------------------------------------------------------------------
# The console's pages. Each is a fixed number of queries, whatever the number of rows.


def visible_environment(user, application_id: str, environment_id: str) -> Environment | None:
    """One query: the environment, with its application, if `user` may see that application."""
    return (
        Environment.objects.select_related("application")
        .filter(
            holds_on(user, VIEW, "application"),
            application__application_id=application_id,
            environment_id=environment_id,
        )
        .first()
    )


def _deployment_by_key(
    application_id: str, environment_id: str, deployment_number: int
) -> QuerySet[Deployment]:
    return Deployment.objects.select_related("environment__application").filter(
        environment__application__application_id=application_id,
        environment__environment_id=environment_id,
        deployment_number=deployment_number,
    )


def visible_deployment(user, application_id: str, environment_id: str, deployment_number: int):
    """One query: the deployment, with its environment and application, if `user` may see it. The live
    poll's only query besides session and user: the role check rides in it as a correlated subquery."""
    deployments = _deployment_by_key(application_id, environment_id, deployment_number)
    return deployments.filter(holds_on(user, VIEW, "environment__application")).first()


def deployment_page(access: Access, application_id: str, environment_id: str, deployment_number: int):
    """The deployment page's lookup, in one query: the deployment, with its environment, its application and
    `latest_stop_request_pk` (its newest stop request's id, None if it never had one: the stop panel then
    needs no query of its own), if `access` lets the viewer see it.

    The page reads the viewer's `Access` anyway (its buttons, the audit aside, the navigation), so the role
    check is done in Python rather than as a subquery, which Django would have to compile: query
    compilation, not the database, is most of a lookup's cost here."""
    newest = StopRequest.objects.filter(deployment=OuterRef("pk")).order_by("-pk").values("pk")[:1]
    deployments = _deployment_by_key(application_id, environment_id, deployment_number)
    # Application ids are unique per account, so two accounts may both answer: the first visible one, by pk
    # (sorted here: an ORDER BY is one more clause to compile).
    found = deployments.annotate(latest_stop_request_pk=Subquery(newest)).order_by()
    visible = [d for d in found if access.may(VIEW, d.environment.application)]
    return min(visible, key=lambda d: d.pk) if visible else None


def deployment_is_live(deployment: Deployment) -> bool:
    """Whether the detail page can still change without anyone acting: AppConfig is moving it, or its event
    log is on its way (the lazy fetch has been asked for and has neither arrived nor failed)."""
    return not deployment.is_terminal or (
        deployment.details_fetched_at is None and not deployment.details_error
    )


def visible_deployments(user) -> QuerySet[Deployment]:
    return Deployment.objects.filter(
        environment__application__in=applications_for(user),
        environment__deleted_at__isnull=True,
    ).select_related("environment__application")


def dashboard_active(user, limit: int = 50) -> list[Deployment]:
    return list(visible_deployments(user).filter(state__in=ACTIVE_STATES).order_by("-started_at")[:limit])


def dashboard_recent(user, limit: int = 10) -> list[Deployment]:
    return list(
        visible_deployments(user)
        .exclude(state__in=ACTIVE_STATES)
        .filter(completed_at__isnull=False)
        .order_by("-completed_at")[:limit]
    )


def dashboard_version(user, now: datetime | None = None) -> str:
    """A cheap token (one aggregate query) that changes whenever the dashboard's tables may have changed:
    a deployment in progress changed (sync sets `updated_at` on every change), started (count up, or a newer
    `updated_at`) or ended (count down, unless another started, which brings a newer `updated_at`). The
    half-minute bucket refreshes the sync health ages even when nothing deploys."""
    now = now or timezone.now()
    row = (
        Deployment.objects.filter(
            environment__application__in=applications_for(user),
            environment__deleted_at__isnull=True,
            state__in=ACTIVE_STATES,
        )
        .order_by()
        .aggregate(n=Count("pk"), last=Max("updated_at"))
    )
    last = int(row["last"].timestamp() * 1000) if row["last"] else 0
    return f"{row['n']}-{last}-{int(now.timestamp()) // 30}"


def application_environments(application: Application) -> list[Environment]:
    """The application's live environments, each with `latest` (its newest deployment or None): two
    queries whatever the number of environments and deployments."""
    latest = Deployment.objects.filter(environment=OuterRef("pk")).order_by("-deployment_number")
    environments = list(
        application.environments.filter(deleted_at__isnull=True).annotate(
            latest_pk=Subquery(latest.values("pk")[:1])
        )
    )
    deployments = Deployment.objects.in_bulk([e.latest_pk for e in environments if e.latest_pk])
    for environment in environments:
        environment.latest = deployments.get(environment.latest_pk)
    return environments


def environment_deployments(environment: Environment, state: str = "") -> QuerySet[Deployment]:
    """Newest first, optionally in one state (index deployment_env_state_idx)."""
    deployments = Deployment.objects.filter(environment=environment)
    if state:
        deployments = deployments.filter(state=state)
    return deployments.order_by("-deployment_number")


def application_list(user, query: str = "") -> QuerySet[Application]:
    """Live applications visible to `user`, with their live environment counts, optionally filtered by a
    case-insensitive match on name or id."""
    applications = (
        applications_for(user)
        .filter(deleted_at__isnull=True)
        .select_related("account")
        .annotate(environment_count=Count("environments", filter=Q(environments__deleted_at__isnull=True)))
    )
    if query:
        applications = applications.filter(Q(name__icontains=query) | Q(application_id__icontains=query))
    return applications


@dataclass(frozen=True)
class Access:
    """Every permission of every role a user holds, by scope, read in one query (`access_of`). Pages that
    ask several questions (may they see this, which buttons, may they review the audit trail) ask it once
    instead of once per question. A snapshot: services that act re-read (`user_may`, `permissions_on`)."""

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


NO_ACCESS = Access()


def access_of(user: AbstractBaseUser | AnonymousUser) -> Access:
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
    """`access_of`'s query, written out. It runs on every full page (the navigation asks it), and Django
    compiling its ORM form (four joins: grant, group permissions, permission, content type) took fifteen
    times as long as the database took to answer it (0.20 ms against 0.013 ms on SQLite). Tests check its
    answer against the ORM's role filter (`holds_on`) for every role, scoped and unscoped."""
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


def permissions_on(user: AbstractBaseUser | AnonymousUser, application: Application) -> set[str]:
    """Every "app_label.codename" the user holds on one application, in one query (pages that show several
    buttons ask this once instead of `user_may` per button)."""
    return access_of(user).on(application)


def holds(permissions: set[str] | frozenset[str], perm: str) -> bool:
    return "*" in permissions or perm in permissions


class TimelineEvent(NamedTuple):
    """One EventLog entry as the detail page reads it: plain values, no model instance to build."""

    sequence: int
    event_type: str
    triggered_by: str
    description: str
    occurred_at: datetime | None
    action_invocations: list


def deployment_events(deployment: Deployment) -> list[TimelineEvent]:
    """The deployment's events, newest first as AppConfig orders them; one query."""
    rows = DeploymentEvent.objects.filter(deployment=deployment).order_by("-sequence")
    return [TimelineEvent(*row) for row in rows.values_list(*TimelineEvent._fields)]


def stop_requests_waiting_for(user) -> int:
    """Pending stop requests this user could approve now: on applications where they hold approve_stop, not
    their own, not already decided by them."""
    approvable = applications_for(user, "deployments.approve_stop")
    return (
        StopRequest.objects.filter(status="pending", deployment__environment__application__in=approvable)
        .exclude(requested_by=user)
        .exclude(decisions__user=user)
        .count()
    )
