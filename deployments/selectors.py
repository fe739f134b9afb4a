"""The console pages' reads, already scoped through `deployments.access`. Each is a fixed number of queries,
whatever the number of rows."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import NamedTuple

from django.conf import settings
from django.db import connection
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.utils import timezone

from deployments.access import VIEW, Access, applications_for, deployments_by_key
from deployments.models import (
    ACTIVE_STATES,
    Account,
    Application,
    Deployment,
    DeploymentEvent,
    Environment,
    StopRequest,
    SyncRun,
)


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
    def first_sync_in_progress(self) -> bool:
        return (
            self.last_success is None
            and self.last_run is not None
            and self.last_run.status == SyncRun.Status.RUNNING
        )

    @property
    def problem(self) -> str:
        """Empty when healthy; otherwise one sentence for the dashboard."""
        if self.last_run is not None and self.last_run.status == SyncRun.Status.FAILED:
            return f"last sync failed: {self.last_run.error}"
        if self.first_sync_in_progress:
            return "first sync in progress"
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
# The console's pages


def deployment_page(access: Access, application_id: str, environment_id: str, deployment_number: int):
    """The deployment page's lookup, in one query: the deployment, with its environment, its application and
    `latest_stop_request_pk` (its newest stop request's id, None if it never had one: the stop panel then
    needs no query of its own), if `access` lets the viewer see it.

    The page reads the viewer's `Access` anyway (its buttons, the audit aside, the navigation), so the role
    check is done in Python rather than as a subquery, which Django would have to compile: query
    compilation, not the database, is most of a lookup's cost here."""
    newest = StopRequest.objects.filter(deployment=OuterRef("pk")).order_by("-pk").values("pk")[:1]
    deployments = deployments_by_key(application_id, environment_id, deployment_number).select_related(
        "environment__application__account"
    )
    # Application ids are unique per account, so two accounts may both answer: the first visible one, by pk
    # (sorted here: an ORDER BY is one more clause to compile). `account_count` rides along (a scalar
    # subquery) so the page can say which account without a query of its own.
    found = deployments.annotate(
        latest_stop_request_pk=Subquery(newest),
        account_count=RawSQL(_ACCOUNT_COUNT_SQL, ()),  # noqa: S611 - constant SQL, no parameters
    ).order_by()
    visible = [d for d in found if access.may(VIEW, d.environment.application)]
    return min(visible, key=lambda d: d.pk) if visible else None


_ACCOUNT_COUNT_SQL = f"SELECT COUNT(*) FROM {Account._meta.db_table}"  # noqa: S608 - a table name only


def deployment_is_live(deployment: Deployment) -> bool:
    """Whether the detail page can still change without anyone acting: AppConfig is moving it, or its event
    log is on its way (the lazy fetch has been asked for and has neither arrived nor failed). Never for a
    disabled Account's deployment: nothing refreshes its cache any more."""
    if not deployment.environment.application.account.enabled:
        return False
    return not deployment.is_terminal or (
        deployment.details_fetched_at is None and not deployment.details_error
    )


def visible_deployments(user) -> QuerySet[Deployment]:
    return Deployment.objects.filter(
        environment__application__in=applications_for(user),
        environment__deleted_at__isnull=True,
    ).select_related("environment__application__account")


def _in_scope(scope: frozenset[int] | None) -> QuerySet[Deployment]:
    """Deployments of live environments on the applications `scope` names (`Access.applications`; None:
    every application). Plain ids rather than the role subquery, so the database walks the index of each
    list's order and stops at its limit."""
    deployments = Deployment.objects.filter(environment__deleted_at__isnull=True)
    if scope is not None:
        deployments = deployments.filter(environment__application_id__in=scope)
    return deployments.select_related("environment__application__account")


def dashboard_active(scope: frozenset[int] | None, limit: int = 50) -> list[Deployment]:
    """Deployments in progress, as far as the cache knows: a disabled Account's are left out, since nothing
    refreshes them any more (their last known state would read "in progress" for ever)."""
    return list(
        _in_scope(scope)
        .filter(state__in=ACTIVE_STATES, environment__application__account__enabled=True)
        .order_by("-started_at")[:limit]
    )


def dashboard_recent(scope: frozenset[int] | None, limit: int = 10) -> list[Deployment]:
    return list(
        _in_scope(scope)
        .exclude(state__in=ACTIVE_STATES)
        .filter(completed_at__isnull=False)
        .order_by("-completed_at")[:limit]
    )


class DashboardVersion(NamedTuple):
    """`token`: changes whenever anything the dashboard's live region shows may have changed, for any
    viewer; `active`: deployments in progress (the region polls faster while there are some);
    `several_accounts`: whether rows name their account."""

    token: str
    active: int
    several_accounts: bool


def dashboard_version(now: datetime | None = None) -> DashboardVersion:
    """One query, the same for every viewer: the poll's whole question, so an unchanged poll costs no more
    than the session and the user. The token changes when a deployment in progress changes (sync sets
    `updated_at` on every change), starts or ends (the count, or a newer `updated_at`), finishes (the newest
    `completed_at`), when an environment is deleted, an account added, disabled or edited, a sync run
    starts, or a stop request is made or moves (which the approver's banner counts). The half-minute bucket
    refreshes the sync health ages and states even when nothing else moves.

    One token for everyone means a change outside a viewer's applications answers them 200 too; the region
    they get is then the one cached for their scope (`dashboard`), not a new render."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_dashboard_version_sql(), [*ACTIVE_STATES, True, *ACTIVE_STATES, True])
        row = cursor.fetchone()
    digest = int.from_bytes(hashlib.blake2b(repr(row).encode(), digest_size=8).digest(), "big")
    return DashboardVersion(f"{digest}-{int(now.timestamp()) // 30}", row[0], row[5] > 1)


@cache
def _dashboard_version_sql() -> str:
    """`dashboard_version`'s query, written out like `access._grants_sql`: compiling its ORM form would cost
    more than the database takes to answer it. Each part reads an index or a small table."""
    # Only table and column names are interpolated, from the models' metadata; values are parameters.
    deployment, environment = Deployment._meta, Environment._meta
    application, account = Application._meta, Account._meta
    states = ", ".join(["%s"] * len(ACTIVE_STATES))
    return (
        "SELECT"  # noqa: S608
        f" (SELECT COUNT(*) FROM {deployment.db_table} d"
        f" JOIN {environment.db_table} e ON e.id = d.{deployment.get_field('environment').column}"
        f" JOIN {application.db_table} a ON a.id = e.{environment.get_field('application').column}"
        f" JOIN {account.db_table} c ON c.id = a.{application.get_field('account').column}"
        f" WHERE d.state IN ({states}) AND e.deleted_at IS NULL AND c.enabled = %s),"
        f" (SELECT MAX(updated_at) FROM {deployment.db_table} WHERE state IN ({states})),"
        f" (SELECT MAX(completed_at) FROM {deployment.db_table}),"
        f" (SELECT COUNT(*) FROM {environment.db_table} WHERE deleted_at IS NOT NULL),"
        f" (SELECT COUNT(*) FROM {account.db_table} WHERE enabled = %s),"
        f" (SELECT COUNT(*) FROM {account.db_table}),"
        f" (SELECT MAX(updated_at) FROM {account.db_table}),"
        f" (SELECT MAX(id) FROM {SyncRun._meta.db_table}),"
        f" (SELECT COUNT(*) FROM {StopRequest._meta.db_table}),"
        f" (SELECT SUM(version) FROM {StopRequest._meta.db_table})"
    )


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
        # Known already: set, so links (get_absolute_url) cost no query per row.
        environment.application = application
        environment.latest = deployments.get(environment.latest_pk)
        if environment.latest is not None:
            environment.latest.environment = environment
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
