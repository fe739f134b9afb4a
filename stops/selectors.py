"""Reads of the stop workflow: the Stop dialog's preview, the deployment page's stop panel, the approval
queue and the count of requests waiting for someone. Each is built from the rules the services enforce
(`stops.rules`) and scoped through `deployments.access`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Max, QuerySet, Sum

from deployments import clock
from deployments.access import (
    APPROVE_STOP,
    BREAK_GLASS,
    REQUEST_STOP,
    applications_for,
    holds,
    permissions_on,
)
from deployments.models import Deployment, DeploymentState, StopKind, StopRequest, StopStatus
from stops.rules import OPEN_STATUSES, REVERT_WINDOW, available_kind, may_cancel, may_decide, may_start_now


@dataclass(frozen=True)
class StopPreview:
    """What the Stop dialog shows before anyone commits to anything."""

    deployment: Deployment
    kind: str | None
    outcome_state: str
    approvals_required: int
    may_request: bool
    may_break_glass: bool
    may_approve: bool
    critical: bool
    bake_time_left: timedelta | None
    revert_deadline: datetime | None
    open_request: StopRequest | None
    may_start: bool  # offer the Stop / Revert button (rules.may_start_now)


def stop_preview(
    *,
    deployment: Deployment,
    user: AbstractBaseUser,
    open_request: StopRequest | None | bool = False,
    permissions: set[str] | None = None,
) -> StopPreview:
    """`open_request`: pass what the caller already read (None for "there is none") to spare a query;
    `permissions`: the user's on the deployment's application (`permissions_on`), likewise."""
    if permissions is None:
        permissions = permissions_on(user, deployment.environment.application)
    kind = available_kind(deployment)
    bake_left = None
    if deployment.state == DeploymentState.BAKING and deployment.started_at:
        # Bake ends final_bake minutes after the deployment phase, which lasts its full duration. AppConfig's
        # StartedAt against the console's one clock (deployments.clock); clamped to the bake time itself,
        # so a skew between the two clocks can never show more bake left than the strategy has.
        bake = timedelta(minutes=deployment.final_bake_time_in_minutes)
        bake_end = deployment.started_at + timedelta(minutes=deployment.deployment_duration_in_minutes) + bake
        bake_left = min(max(bake_end - clock.now(), timedelta(0)), bake)
    revert_deadline = deployment.completed_at + REVERT_WINDOW if kind == StopKind.REVERT else None
    if open_request is False:
        open_request = (
            StopRequest.objects.filter(deployment=deployment, status__in=[s.value for s in OPEN_STATUSES])
            .select_related("requested_by")
            .first()
        )
    return StopPreview(
        deployment=deployment,
        kind=kind,
        outcome_state=DeploymentState.REVERTED if kind == StopKind.REVERT else DeploymentState.ROLLED_BACK,
        approvals_required=deployment.environment.approvals_required,
        may_request=holds(permissions, REQUEST_STOP),
        may_break_glass=holds(permissions, BREAK_GLASS),
        may_approve=holds(permissions, APPROVE_STOP),
        critical=deployment.environment.is_critical,
        bake_time_left=bake_left,
        revert_deadline=revert_deadline,
        open_request=open_request,
        may_start=may_start_now(kind, permissions, open_request),
    )


def stop_panel(deployment: Deployment, user, permissions: set[str] | None = None) -> dict:
    """Everything the deployment page's stop panel shows, in at most three queries (two when the caller
    passes the user's `permissions` on the application, none more when the deployment page's lookup found no
    stop request); `panel_version` changes whenever any of it does."""
    if permissions is None:
        permissions = permissions_on(user, deployment.environment.application)
    # At most one request is open per deployment, and it is always the newest. The deployment page's lookup
    # already says whether there is any (`latest_stop_request_pk`, None if never): most have none.
    if getattr(deployment, "latest_stop_request_pk", False) is None:
        latest = None
    else:
        latest = StopRequest.objects.filter(deployment=deployment).select_related("requested_by").first()
    preview = stop_preview(
        deployment=deployment,
        user=user,
        open_request=latest if latest and latest.is_open else None,
        permissions=permissions,
    )
    decisions = list(latest.decisions.select_related("user")) if latest else []
    return {
        "deployment": deployment,
        "preview": preview,
        "stop_request": latest,
        "decisions": decisions,
        "approvals": [d for d in decisions if d.verdict == "approve"],
        "may_decide": bool(latest) and may_decide(latest, user, permissions, {d.user_id for d in decisions}),
        "may_cancel": bool(latest) and may_cancel(latest, user),
        "live": bool(latest and latest.is_open),
        "panel_version": f"{latest.pk}.{latest.version}.{deployment.version}"
        if latest
        else f"0.{deployment.version}",
    }


def _requests() -> QuerySet[StopRequest]:
    return StopRequest.objects.select_related("deployment__environment__application__account", "requested_by")


def waiting_for(user) -> QuerySet[StopRequest]:
    """Pending requests this user could approve now (the rules of `may_decide`, as a query): on applications
    where they hold approve_stop, not their own, not already decided by them. Oldest first."""
    return (
        _requests()
        .filter(
            status=StopStatus.PENDING,
            deployment__environment__application__in=applications_for(user, APPROVE_STOP),
        )
        .exclude(requested_by=user)
        .exclude(decisions__user=user)
        .order_by("created_at")
    )


def open_requests_of(user) -> QuerySet[StopRequest]:
    return (
        _requests()
        .filter(requested_by=user, status__in=[s.value for s in OPEN_STATUSES])
        .order_by("-created_at")
    )


def history_for(user, limit: int = 50) -> list[StopRequest]:
    return list(
        _requests()
        .filter(deployment__environment__application__in=applications_for(user))
        .order_by("-created_at")[:limit]
    )


def queue_version(user) -> str:
    """A cheap token (one aggregate query) that changes whenever the queue may have changed: every
    transition and every decision bumps a request's `version`, and a new request brings a new id."""
    row = (
        StopRequest.objects.filter(deployment__environment__application__in=applications_for(user))
        .order_by()
        .aggregate(last=Max("pk"), versions=Sum("version"))
    )
    return f"{row['last'] or 0}-{row['versions'] or 0}"
