"""The stop rules, stated once: the services enforce them, the selectors show what they allow (the Stop
button, the approve/reject/cancel buttons, the queue), so a button is never offered for an action the service
would refuse, and never missing for one it would allow. Pure functions of rows already read: no queries."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from deployments.access import APPROVE_STOP, BREAK_GLASS, REQUEST_STOP, holds
from deployments.models import (
    STOPPABLE_STATES,
    Deployment,
    DeploymentState,
    StopKind,
    StopRequest,
    StopStatus,
)
from portal.authn import Authentication

REVERT_WINDOW = timedelta(hours=72)  # AppConfig accepts Allow-Revert this long after completion
REASON_MAX_LENGTH = 2000
OPEN_STATUSES = (StopStatus.PENDING, StopStatus.APPROVED, StopStatus.EXECUTING)


def covers(kind: str, state: str) -> bool:
    """Whether a request of `kind` can still act on a deployment in `state`."""
    if kind == StopKind.REVERT:
        return state == DeploymentState.COMPLETE
    return state in STOPPABLE_STATES


def revert_window_open(deployment: Deployment, now: datetime | None = None) -> bool:
    if deployment.state != DeploymentState.COMPLETE or deployment.completed_at is None:
        return False
    return (now or timezone.now()) - deployment.completed_at < REVERT_WINDOW


def available_kind(deployment: Deployment) -> str | None:
    """The one action AppConfig would accept now: stop while deploying or baking, revert while COMPLETE and
    inside the 72-hour window, nothing otherwise."""
    if deployment.is_stoppable:
        return StopKind.STOP
    if revert_window_open(deployment):
        return StopKind.REVERT
    return None


def start_permission(*, break_glass: bool) -> str:
    """The permission a new request rests on."""
    return BREAK_GLASS if break_glass else REQUEST_STOP


def may_start(permissions: set[str], *, break_glass: bool = False) -> bool:
    return holds(permissions, start_permission(break_glass=break_glass))


def may_start_now(kind: str | None, permissions: set[str], open_request: StopRequest | None) -> bool:
    """Whether to offer the Stop (or Revert) button: AppConfig would accept one now, and the viewer may ask
    for it while nothing is open, or may break glass while what is open still waits for approvals (break-glass
    supersedes it)."""
    if kind is None:
        return False
    if open_request is None:
        return may_start(permissions) or may_start(permissions, break_glass=True)
    return open_request.status == StopStatus.PENDING and may_start(permissions, break_glass=True)


def decide_refusal(stop_request: StopRequest, user, permissions: set[str]) -> str:
    """Why `user` may not approve or reject `stop_request` as far as roles go ("" when they may): the
    approve_stop role on its application, and never on their own request (two-person rule)."""
    if not holds(permissions, APPROVE_STOP):
        return "Your roles do not allow approving or rejecting stops here."
    if stop_request.requested_by_id == user.pk:
        return "You cannot approve or reject your own request (two-person rule); you may cancel it."
    return ""


def may_decide(stop_request: StopRequest, user, permissions: set[str], decided_by: set[int]) -> bool:
    """Whether the approve/reject buttons apply: a pending request, the role, not their own, and no decision
    of theirs on it yet (`decided_by`: ids of the users who decided)."""
    return (
        stop_request.status == StopStatus.PENDING
        and not decide_refusal(stop_request, user, permissions)
        and user.pk not in decided_by
    )


def may_cancel(stop_request: StopRequest, user) -> bool:
    """Only the requester, and only while the request waits for approval."""
    return stop_request.status == StopStatus.PENDING and stop_request.requested_by_id == user.pk


# ---------------------------------------------------------------------------------------------------------
# Step-up: a fresh authentication before the riskiest actions (the CLI, run with operating-system access,
# keeps its own rules and records os_user)

# An auth_time this far in the future (clock skew between the provider and the console) still counts.
CLOCK_SKEW_SECONDS = 60


def needs_step_up(*, break_glass: bool, critical: bool) -> bool:
    """A break-glass stop, and any stop request or approval on a critical environment."""
    return break_glass or critical


def step_up_satisfied(authentication: Authentication | None, *, now: float, max_age: int) -> bool:
    """Whether the session's last authentication is recent enough (at most `max_age` seconds old); an unknown
    time (a provider that did not say) never is."""
    if authentication is None or authentication.at is None:
        return False
    return -CLOCK_SKEW_SECONDS <= now - authentication.at <= max_age


def step_up_why(*, break_glass: bool, environment_name: str, max_age: int) -> str:
    """What the step-up dialog and the audit record say about why."""
    what = "A break-glass stop" if break_glass else f"Stopping on the critical environment {environment_name}"
    minutes = max_age // 60
    limit = f"{minutes} minute{'s' if minutes != 1 else ''}" if max_age % 60 == 0 else f"{max_age} seconds"
    return f"{what} needs you to have signed in within the last {limit}."
