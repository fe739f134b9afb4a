"""The console pages' reads, already scoped through `deployments.access`. Each is a fixed number of queries,
whatever the number of rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery
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


def dashboard_active(user, limit: int = 50) -> list[Deployment]:
    """Deployments in progress, as far as the cache knows: a disabled Account's are left out, since nothing
    refreshes them any more (their last known state would read "in progress" for ever)."""
    return list(
        visible_deployments(user)
        .filter(state__in=ACTIVE_STATES, environment__application__account__enabled=True)
        .order_by("-started_at")[:limit]
    )


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
            environment__application__account__enabled=True,
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
