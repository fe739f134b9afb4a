"""The stop state machine: request, approve, reject, cancel, expire, execute, reconcile.

    pending --approve x N--> approved --claim--> executing --> succeeded | failed | superseded
       |  \\--reject--> rejected                     ^   |
       |  \\--cancel--> cancelled                    |   \\-- transient error: back to approved (retry)
       \\--TTL / state not covered--> expired        \\-- lease lapsed (worker died): taken over

Every transition is a compare-and-swap UPDATE on `status`, so concurrent posts, duplicate task deliveries and
the relay can all race without two of them acting. Each step writes its audit record in the same transaction
as the change; refused attempts are recorded in their own transaction before the refusal is raised, so they
survive it. Nothing here calls AppConfig inside a transaction.

StopDeployment is not safely repeatable (a retry after a call that did succeed answers 400) and its 202 body
is nearly empty, so execution reads GetDeployment before acting and after, and marks `stop_called_at` before
the call so that any later attempt reconciles instead of guessing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.records import record
from deployments import sync
from deployments.access import APPROVE_STOP, BREAK_GLASS, REQUEST_STOP, permissions_on, user_may
from deployments.appconfig import (
    AppConfigError,
    BadRequestError,
    OutcomeUnknownError,
    PermanentAppConfigError,
    TransientAppConfigError,
    client_for,
)
from deployments.models import (
    Deployment,
    DeploymentState,
    Environment,
    StopDecision,
    StopKind,
    StopRequest,
    StopStatus,
)
from portal.authn import Authentication
from portal.queue import publish_on_commit
from stops import tasks
from stops.rules import (
    OPEN_STATUSES,
    REASON_MAX_LENGTH,
    covers,
    decide_refusal,
    may_start,
    needs_step_up,
    revert_window_open,
    start_permission,
    step_up_satisfied,
    step_up_why,
)

logger = logging.getLogger(__name__)


class StopError(Exception):
    """A stop action that cannot be done; the message is meant for the person who tried."""

    status = 400


class StopForbidden(StopError):
    status = 403


class StopConflict(StopError):
    status = 409


class StepUpRequired(StopError):
    """The action needs a fresher authentication (`rules.needs_step_up`); nothing was done. The message says
    why; the view keeps the action's data for after the step-up."""

    status = 403


def open_request_for(deployment: Deployment) -> StopRequest | None:
    return (
        StopRequest.objects.filter(deployment=deployment, status__in=[s.value for s in OPEN_STATUSES])
        .select_related("requested_by")
        .first()
    )


# ---------------------------------------------------------------------------------------------------------
# Helpers


def _refuse(
    *, request, user, permission: str, target, attempted: str, message: str, source: str
) -> StopForbidden:
    """Record a refused attempt in its own transaction (it must outlive the refusal), return the error."""
    record(
        action="access.denied",
        outcome="denied",
        actor=user,
        request=request,
        target=target,
        details={"permission": permission, "attempted": attempted, "why": message},
        source=source,
    )
    return StopForbidden(message)


def _require_step_up(
    *,
    environment: Environment,
    break_glass: bool,
    authentication: Authentication | None,
    user,
    request,
    target,
    attempted: str,
    source: str,
) -> None:
    """A break-glass stop, and a stop or approval on a critical environment, need an authentication at most
    STEP_UP_MAX_AGE old. The CLI keeps its own rules (it runs with operating-system access; its events carry
    os_user). A refusal is audited (`auth.step_up`, denied) in its own transaction and raised."""
    if source == "command" or not needs_step_up(break_glass=break_glass, critical=environment.is_critical):
        return
    max_age = settings.STEP_UP_MAX_AGE
    if step_up_satisfied(authentication, now=timezone.now().timestamp(), max_age=max_age):
        return
    why = step_up_why(break_glass=break_glass, environment_name=environment.name, max_age=max_age)
    record(
        action="auth.step_up",
        outcome="denied",
        actor=user,
        request=request,
        target=target,
        reason=why,
        details={
            "attempted": attempted,
            "step_up_max_age": max_age,
            **(
                authentication.audit_details() if authentication else {"auth_time": None, "auth_method": None}
            ),
        },
        source=source,
    )
    raise StepUpRequired(why)


def _authentication_details(authentication: Authentication | None) -> dict:
    """When and how the person last authenticated, for the audit record of what they did (web only)."""
    return authentication.audit_details() if authentication else {}


def _execute_on_commit(stop_request_id: int) -> None:
    """Publish the execution after commit. A broker that is down must not turn a committed approval into an
    error page: the relay re-enqueues approved requests that nobody claimed."""
    publish_on_commit(tasks.stop_execute, stop_request_id=stop_request_id)


def _notify_on_commit(stop_request_id: int, event: str) -> None:
    # Notifications never block or fail a stop.
    publish_on_commit(tasks.notify_stop_request, stop_request_id=stop_request_id, event=event)


def _transition(
    stop_request: StopRequest, *, from_statuses, to_status: str, where: Q | None = None, **fields
) -> bool:
    """Compare-and-swap the status (and `where`, when given); True if this caller made the transition."""
    rows = StopRequest.objects.filter(pk=stop_request.pk, status__in=list(from_statuses))
    if where is not None:
        rows = rows.filter(where)
    changed = rows.update(status=to_status, version=F("version") + 1, **fields)
    if changed:
        stop_request.refresh_from_db()
    return changed == 1


def _expire(stop_request: StopRequest, *, why: str, source: str, where: Q | None = None) -> bool:
    """End a request whose time ran out (pending or approved, never one already sent to AppConfig): the
    compare-and-swap, its audit record (system actor) and the requester's notification. True if this caller
    expired it. Runs in the caller's transaction, or its own."""
    with transaction.atomic():
        if not _transition(
            stop_request,
            from_statuses=[StopStatus.PENDING, StopStatus.APPROVED],
            to_status=StopStatus.EXPIRED,
            where=where,
            finished_at=timezone.now(),
            outcome=why,
        ):
            return False
        record(action="stop.expired", target=stop_request, reason=why, source=source)
        _notify_on_commit(stop_request.pk, "outcome")
    return True


def _has_expired(stop_request: StopRequest, now=None) -> bool:
    return stop_request.expires_at <= (now or timezone.now())


EXPIRED_WHY = "No quorum of approvals before the request expired."


# ---------------------------------------------------------------------------------------------------------
# Request


def _authorise_request(
    *, deployment: Deployment, user: AbstractBaseUser, kind: str, break_glass: bool, request, source: str
) -> None:
    """Step 1: the role the request rests on, read afresh; a refusal is audited."""
    permissions = permissions_on(user, deployment.environment.application)
    if not may_start(permissions, break_glass=break_glass):
        raise _refuse(
            request=request,
            user=user,
            permission=start_permission(break_glass=break_glass),
            target=deployment,
            attempted=f"{'break-glass ' if break_glass else ''}{kind} request",
            message="Your roles do not allow "
            + ("a break-glass stop here." if break_glass else "requesting a stop here."),
            source=source,
        )


def _validate_request(*, deployment: Deployment, reason: str, kind: str, confirmation: str) -> str:
    """Step 2: the request makes sense now; returns the cleaned reason."""
    environment = deployment.environment
    reason = (reason or "").strip()
    if not reason:
        raise StopError("A reason is required.")
    if len(reason) > REASON_MAX_LENGTH:
        raise StopError(f"The reason is longer than {REASON_MAX_LENGTH} characters.")
    if kind not in StopKind.values:
        raise StopError(f"Unknown kind of stop {kind!r}.")
    if kind == StopKind.STOP and not deployment.is_stoppable:
        raise StopConflict(
            f"Deployment {deployment.deployment_number} is {deployment.state}: "
            "only a deploying or baking deployment can be stopped."
        )
    if kind == StopKind.REVERT and not revert_window_open(deployment):
        raise StopConflict("Only a COMPLETE deployment within 72 hours of completion can be reverted.")
    if environment.is_critical and confirmation.strip() != environment.name:
        raise StopError(f"{environment.name} is a critical environment: type its name to confirm.")
    return reason


def _create_request(
    *,
    deployment: Deployment,
    environment: Environment,
    user: AbstractBaseUser,
    reason: str,
    kind: str,
    break_glass: bool,
    request,
    source: str,
    authentication: Authentication | None,
) -> StopRequest:
    """Step 4: the row and its audit records in one transaction, the follow-up published on commit."""
    required = 0 if break_glass else environment.approvals_required
    now = timezone.now()
    with transaction.atomic():
        superseded = (
            _supersede_pending(deployment, user=user, request=request, source=source) if break_glass else None
        )
        stop_request = StopRequest.objects.create(
            deployment=deployment,
            kind=kind,
            status=StopStatus.APPROVED if required == 0 else StopStatus.PENDING,
            state_at_request=deployment.state,
            requested_by=user,
            reason=reason,
            break_glass=break_glass,
            source=source,
            approvals_required=required,
            expires_at=now + timedelta(seconds=settings.STOP_REQUEST_TTL),
            approved_at=now if required == 0 else None,
        )
        record(
            action="stop.break_glass" if break_glass else "stop.requested",
            actor=user,
            request=request,
            target=stop_request,
            reason=reason,
            details={
                "kind": kind,
                "state": deployment.state,
                "approvals_required": required,
                **({"supersedes": superseded.pk} if superseded else {}),
                **_authentication_details(authentication),
            },
            source=source,
        )
        if required == 0:
            record(
                action="stop.approved",
                actor=user,
                request=request,
                target=stop_request,
                details={"automatic": "break-glass" if break_glass else "no approval required here"},
                source=source,
            )
            _execute_on_commit(stop_request.pk)
            if break_glass:
                _notify_on_commit(stop_request.pk, "break_glass")
        else:
            _notify_on_commit(stop_request.pk, "pending")
    return stop_request


def _supersede_pending(deployment: Deployment, *, user, request, source: str) -> StopRequest | None:
    """A break-glass stop does not wait behind a request still waiting for approvals: that request ends
    superseded (audited, its requester told) in the break-glass request's transaction. One already approved
    or running is left alone: a stop is on its way."""
    pending = (
        StopRequest.objects.select_for_update()
        .filter(deployment=deployment, status=StopStatus.PENDING)
        .select_related("deployment__environment__application")
        .first()
    )
    if pending is None:
        return None
    why = f"Superseded by a break-glass stop by {user.get_username()}."
    if not _transition(
        pending,
        from_statuses=[StopStatus.PENDING],
        to_status=StopStatus.SUPERSEDED,
        finished_at=timezone.now(),
        outcome=why,
    ):
        return None
    record(action="stop.superseded", actor=user, request=request, target=pending, reason=why, source=source)
    _notify_on_commit(pending.pk, "outcome")
    return pending


def stop_request_create(
    *,
    deployment: Deployment,
    user: AbstractBaseUser,
    reason: str,
    kind: str = StopKind.STOP,
    break_glass: bool = False,
    confirmation: str = "",
    request=None,
    source: str = "web",
    authentication: Authentication | None = None,
) -> StopRequest:
    """Ask for a deployment to be stopped (or reverted).

    1. Authorise: request_stop on the application (stop_without_approval for break-glass); refusals audited.
    2. Validate: a reason; the deployment in a state the kind covers (revert: inside 72 hours); on a
       critical environment, the environment's name typed as confirmation.
    3. Step-up: break-glass, or a critical environment, needs `authentication` (the session's last, see
       `portal.authn`) at most STEP_UP_MAX_AGE old, except from the CLI; refusals audited (StepUpRequired).
    4. Transact: the request row (approved at once when no approval is needed or for break-glass; the
       database allows one open request per deployment) and its audit records, which say when and how the
       requester last authenticated; after commit, the execution task or the approvers' notification.
    """
    _authorise_request(
        deployment=deployment, user=user, kind=kind, break_glass=break_glass, request=request, source=source
    )
    reason = _validate_request(deployment=deployment, reason=reason, kind=kind, confirmation=confirmation)
    _require_step_up(
        environment=deployment.environment,
        break_glass=break_glass,
        authentication=authentication,
        user=user,
        request=request,
        target=deployment,
        attempted=f"{'break-glass ' if break_glass else ''}{kind} request",
        source=source,
    )
    try:
        return _create_request(
            deployment=deployment,
            environment=deployment.environment,
            user=user,
            reason=reason,
            kind=kind,
            break_glass=break_glass,
            request=request,
            source=source,
            authentication=authentication,
        )
    except IntegrityError:
        existing = open_request_for(deployment)
        raise StopConflict(
            f"A stop request for this deployment is already open (#{existing.pk if existing else '?'})."
        ) from None


# ---------------------------------------------------------------------------------------------------------
# Approve, reject, cancel


def _locked(stop_request: StopRequest) -> StopRequest:
    # Row lock on PostgreSQL; on SQLite the IMMEDIATE transaction already serialises writers.
    return (
        StopRequest.objects.select_for_update()
        .select_related("deployment__environment__application")
        .get(pk=stop_request.pk)
    )


def _decide(
    stop_request: StopRequest,
    user: AbstractBaseUser,
    verdict: str,
    comment: str,
    request,
    source: str,
    authentication: Authentication | None = None,
) -> StopRequest:
    """Approve or reject a pending request.

    1. The rules (`decide_refusal`): approve_stop on the application, read afresh, and not the requester's
       own request; refusals audited. A rejection needs a comment.
    2. One transaction, the request row locked: still pending; one decision per person (database
       constraint); the audit record. An approval that reaches the snapshot threshold moves the request to
       approved and publishes its execution after commit; a rejection ends it.
    """
    attempted = "approve" if verdict == StopDecision.Verdict.APPROVE else "reject"
    refusal = decide_refusal(
        stop_request, user, permissions_on(user, stop_request.deployment.environment.application)
    )
    if refusal:
        own = stop_request.requested_by_id == user.pk
        raise _refuse(
            request=request,
            user=user,
            permission=APPROVE_STOP,
            target=stop_request,
            attempted=f"{attempted} of own request" if own else attempted,
            message=refusal,
            source=source,
        )
    comment = comment.strip()
    if verdict == StopDecision.Verdict.REJECT and not comment:
        raise StopError("Say why you reject the request.")
    if verdict == StopDecision.Verdict.APPROVE:
        _require_step_up(
            environment=stop_request.deployment.environment,
            break_glass=False,
            authentication=authentication,
            user=user,
            request=request,
            target=stop_request,
            attempted="approve",
            source=source,
        )
    expired = False
    try:
        with transaction.atomic():
            locked = _locked(stop_request)
            if locked.status == StopStatus.PENDING and _has_expired(locked):
                # Beat may not have got to it yet: expire it here, under the lock; the refusal is raised
                # once the expiry has committed.
                expired = _expire(locked, why=EXPIRED_WHY, source=source)
            elif locked.status != StopStatus.PENDING:
                raise StopConflict(
                    f"This request is {locked.get_status_display().lower()}; it cannot be {attempted}d."
                )
            else:
                StopDecision.objects.create(stop_request=locked, user=user, verdict=verdict, comment=comment)
                # A decision changes what the panel and the queue show, even when it moves no status.
                StopRequest.objects.filter(pk=locked.pk).update(version=F("version") + 1)
                if verdict == StopDecision.Verdict.APPROVE:
                    _approved(
                        locked,
                        user=user,
                        comment=comment,
                        request=request,
                        source=source,
                        authentication=authentication,
                    )
                else:
                    _rejected(locked, user=user, comment=comment, request=request, source=source)
    except IntegrityError:
        raise StopConflict("You have already decided on this request.") from None
    if expired:
        raise StopConflict(
            f"This request expired before it was {attempted}d; ask for the stop again if needed."
        )
    stop_request.refresh_from_db()
    return stop_request


def _approved(
    locked: StopRequest, *, user, comment: str, request, source: str, authentication: Authentication | None
) -> None:
    approvals = locked.decisions.filter(verdict=StopDecision.Verdict.APPROVE).count()
    record(
        action="stop.approved",
        actor=user,
        request=request,
        target=locked,
        reason=comment,
        details={
            "approvals": approvals,
            "approvals_required": locked.approvals_required,
            **_authentication_details(authentication),
        },
        source=source,
    )
    if approvals >= locked.approvals_required and _transition(
        locked, from_statuses=[StopStatus.PENDING], to_status=StopStatus.APPROVED, approved_at=timezone.now()
    ):
        _execute_on_commit(locked.pk)


def _rejected(locked: StopRequest, *, user, comment: str, request, source: str) -> None:
    _transition(
        locked,
        from_statuses=[StopStatus.PENDING],
        to_status=StopStatus.REJECTED,
        finished_at=timezone.now(),
        outcome=f"Rejected by {user.get_username()}: {comment}",
    )
    record(action="stop.rejected", actor=user, request=request, target=locked, reason=comment, source=source)
    _notify_on_commit(locked.pk, "outcome")


def stop_request_approve(
    *,
    stop_request: StopRequest,
    user: AbstractBaseUser,
    comment: str = "",
    request=None,
    source: str = "web",
    authentication: Authentication | None = None,
) -> StopRequest:
    """Approve a pending request; the approval that completes the quorum publishes its execution. On a
    critical environment it needs a recent `authentication` (step-up), except from the CLI."""
    return _decide(stop_request, user, StopDecision.Verdict.APPROVE, comment, request, source, authentication)


def stop_request_reject(
    *, stop_request: StopRequest, user: AbstractBaseUser, comment: str = "", request=None, source: str = "web"
) -> StopRequest:
    """Reject a pending request, saying why; it ends at once."""
    return _decide(stop_request, user, StopDecision.Verdict.REJECT, comment, request, source)


def stop_request_cancel(
    *, stop_request: StopRequest, user: AbstractBaseUser, request=None, source: str = "web"
) -> StopRequest:
    """The requester withdraws a request that is still waiting for approval."""
    if stop_request.requested_by_id != user.pk:
        raise _refuse(
            request=request,
            user=user,
            permission="owner",
            target=stop_request,
            attempted="cancel someone else's request",
            message="Only the person who asked for the stop can cancel it.",
            source=source,
        )
    with transaction.atomic():
        if not _transition(
            stop_request,
            from_statuses=[StopStatus.PENDING],
            to_status=StopStatus.CANCELLED,
            finished_at=timezone.now(),
            outcome=f"Cancelled by {user.get_username()}",
        ):
            raise StopConflict("Only a request that is still waiting for approval can be cancelled.")
        record(action="stop.cancelled", actor=user, request=request, target=stop_request, source=source)
    return stop_request


def stop_requests_expire() -> int:
    """Expire pending requests past their TTL or whose deployment reached a state they do not cover. Run by
    beat; each expiry is its own compare-and-swap and audit record (system actor)."""
    now = timezone.now()
    expired = 0
    pending = StopRequest.objects.filter(status=StopStatus.PENDING).select_related(
        "deployment__environment__application"
    )
    for stop_request in pending:
        if stop_request.expires_at <= now:
            why = EXPIRED_WHY
        elif not covers(stop_request.kind, stop_request.deployment.state):
            why = f"The deployment is now {stop_request.deployment.state}, which this request does not cover."
        else:
            continue
        if _expire(stop_request, why=why, source="beat", where=Q(status=StopStatus.PENDING)):
            expired += 1
    return expired


# ---------------------------------------------------------------------------------------------------------
# Execution


@dataclass(frozen=True)
class _Verdict:
    status: str  # a final StopStatus, or "" when the stop may (still) be sent
    message: str = ""


def _user_rollback(answer: dict) -> dict | None:
    for event in answer.get("EventLog", []):  # newest first
        if event.get("EventType") == "ROLLBACK_STARTED" and event.get("TriggeredBy") == "USER":
            return event
    return None


def _alarm_rollback(answer: dict) -> dict | None:
    for event in answer.get("EventLog", []):
        if event.get("EventType") == "ROLLBACK_STARTED" and event.get("TriggeredBy") == "CLOUDWATCH_ALARM":
            return event
    return None


def _judge(stop_request: StopRequest, answer: dict) -> _Verdict:
    """Read a GetDeployment answer against the request: already done by us, not ours to do any more, or
    still to do."""
    state = answer.get("State", "")
    called = stop_request.stop_called_at is not None
    applied = (
        state == DeploymentState.REVERTED
        if stop_request.kind == StopKind.REVERT
        else state in (DeploymentState.ROLLED_BACK, DeploymentState.ROLLING_BACK) and _user_rollback(answer)
    )
    if called and applied:
        return _Verdict(StopStatus.SUCCEEDED, f"AppConfig reports {state}.")
    if covers(stop_request.kind, state):
        return _Verdict("")
    alarm = _alarm_rollback(answer)
    if alarm is not None:
        return _Verdict(
            StopStatus.SUPERSEDED,
            f"Rolled back by alarm before the stop ran: {alarm.get('Description', '')}".strip(),
        )
    if state == DeploymentState.COMPLETE:
        return _Verdict(StopStatus.FAILED, "Completed before the stop ran: request a revert instead.")
    if state in (DeploymentState.ROLLED_BACK, DeploymentState.ROLLING_BACK):
        who = (_user_rollback(answer) or {}).get("Description", "")
        return _Verdict(StopStatus.SUPERSEDED, f"Already rolled back before the stop ran. {who}".strip())
    if state == DeploymentState.REVERTED:
        return _Verdict(StopStatus.SUPERSEDED, "Already reverted before the stop ran.")
    return _Verdict(
        StopStatus.FAILED, f"The deployment is {state or 'in an unknown state'}; the stop was not sent."
    )


def _claim(stop_request_id: int, now) -> StopRequest | None:
    """approved -> executing, or take over an executing request whose worker fell silent past the lease.
    An approved request whose time ran out before any worker took it (a broker down for longer than the
    request's lifetime) ends expired instead: the situation it was approved for may be long gone. One that
    was already sent to AppConfig is always taken over and reconciled, never expired."""
    lease_lapsed = now - timedelta(seconds=settings.STOP_EXECUTION_LEASE_SECONDS)
    stale = StopRequest.objects.filter(
        pk=stop_request_id, status=StopStatus.APPROVED, expires_at__lte=now
    ).first()
    if stale is not None:
        _expire(
            stale,
            why="Approved, but no worker could run it before the request expired; ask again if still needed.",
            source="worker",
            where=Q(status=StopStatus.APPROVED, expires_at__lte=now),
        )
        return None
    claimed = StopRequest.objects.filter(
        Q(status=StopStatus.APPROVED) | Q(status=StopStatus.EXECUTING, claimed_at__lt=lease_lapsed),
        pk=stop_request_id,
    ).update(
        status=StopStatus.EXECUTING, claimed_at=now, attempts=F("attempts") + 1, version=F("version") + 1
    )
    if not claimed:
        return None
    return StopRequest.objects.select_related(
        "deployment__environment__application__account", "requested_by"
    ).get(pk=stop_request_id)


def _finish(stop_request: StopRequest, status: str, message: str, *, answer: dict | None = None) -> None:
    action = {
        StopStatus.SUCCEEDED: "stop.succeeded",
        StopStatus.SUPERSEDED: "stop.superseded",
    }.get(status, "stop.failed")
    if answer is not None:
        sync.deployment_store_answer(deployment=stop_request.deployment, answer=answer)
    with transaction.atomic():
        if not _transition(
            stop_request,
            from_statuses=[StopStatus.EXECUTING],
            to_status=status,
            finished_at=timezone.now(),
            outcome=message,
        ):
            return
        record(
            action=action,
            outcome="success" if status == StopStatus.SUCCEEDED else "failed",
            target=stop_request,
            reason=message,
            details={"stop_calls": stop_request.stop_calls, "attempts": stop_request.attempts},
            source="worker",
        )
        _notify_on_commit(stop_request.pk, "outcome")


def _release(stop_request: StopRequest) -> None:
    """Hand a claimed request back for a later attempt (a transient error)."""
    _transition(stop_request, from_statuses=[StopStatus.EXECUTING], to_status=StopStatus.APPROVED)


def _void_approvals(stop_request: StopRequest) -> str:
    """Re-check every permission the request rests on; a message when one no longer holds."""
    application = stop_request.deployment.environment.application
    requester = stop_request.requested_by
    needed = BREAK_GLASS if stop_request.break_glass else REQUEST_STOP
    if not requester.is_active or not user_may(requester, needed, application):
        return f"The requester {requester.get_username()} no longer holds {needed.split('.')[1]} here."
    approvals = stop_request.decisions.filter(verdict=StopDecision.Verdict.APPROVE).select_related("user")
    valid = [d for d in approvals if d.user.is_active and user_may(d.user, APPROVE_STOP, application)]
    if len(valid) < stop_request.approvals_required:
        void = sorted({d.user.get_username() for d in approvals} - {d.user.get_username() for d in valid})
        return f"Approval by {', '.join(void)} is void: the approve_stop role was revoked."
    return ""


def stop_request_execute(*, stop_request_id: int) -> StopRequest | None:
    """Carry out an approved request; safe to run any number of times, concurrently.

    1. Claim it (approved -> executing, or a lapsed lease); otherwise another run has it: do nothing.
    2. Re-check the requester's and approvers' permissions; a revoked one voids the request.
    3. GetDeployment; if a previous attempt already stopped it, succeed; if its state is no longer one the
       request covers, end as superseded or failed with a message a person understands.
    4. Mark stop_called_at (committed), then StopDeployment with Allow-Revert only for a revert.
    5. GetDeployment again (the 202 body is near-empty), store the deployment and its events, end the request.
    Transient errors hand the request back (approved) and re-raise for the task to retry with backoff;
    ambiguous ones (timeout, 400 after an earlier call) are reconciled with GetDeployment first.
    """
    now = timezone.now()
    stop_request = _claim(stop_request_id, now)
    if stop_request is None:
        return None
    if stop_request.attempts > settings.STOP_MAX_ATTEMPTS:
        _finish(stop_request, StopStatus.FAILED, f"Gave up after {settings.STOP_MAX_ATTEMPTS} attempts.")
        return stop_request
    void = _void_approvals(stop_request)
    if void:
        _finish(stop_request, StopStatus.FAILED, void)
        return stop_request

    deployment = stop_request.deployment
    environment = deployment.environment
    ids = (environment.application.application_id, environment.environment_id, deployment.deployment_number)
    client = client_for(environment.application.account)
    try:
        answer = client.get_deployment(*ids)
        verdict = _judge(stop_request, answer)
        if verdict.status:
            _finish(stop_request, verdict.status, verdict.message, answer=answer)
            return stop_request

        StopRequest.objects.filter(pk=stop_request.pk).update(
            stop_called_at=timezone.now(), stop_calls=F("stop_calls") + 1, version=F("version") + 1
        )
        stop_request.refresh_from_db()
        call_error: AppConfigError | None = None
        try:
            client.stop_deployment(*ids, allow_revert=stop_request.kind == StopKind.REVERT)
        except (OutcomeUnknownError, BadRequestError, TransientAppConfigError) as exc:
            # Ambiguous or refused: what AppConfig did is read back below, never assumed.
            call_error = exc

        answer = client.get_deployment(*ids)
        verdict = _judge(stop_request, answer)
        if verdict.status:
            _finish(stop_request, verdict.status, verdict.message, answer=answer)
            return stop_request
        # Still in a state the request covers: the stop did not take effect.
        if isinstance(call_error, TransientAppConfigError):
            raise call_error
        message = (
            str(call_error) if call_error else "AppConfig accepted the stop but the deployment did not stop."
        )
        _finish(stop_request, StopStatus.FAILED, message, answer=answer)
        return stop_request
    except TransientAppConfigError:
        _release(stop_request)
        raise
    except PermanentAppConfigError as exc:
        _finish(stop_request, StopStatus.FAILED, str(exc))
        return stop_request


def stop_requests_relay() -> list[int]:
    """The outbox relay (beat): ids of approved requests that nobody claimed within a short delay, and of
    executing requests whose worker fell silent past the lease. The task re-enqueues them; the claim's
    compare-and-swap makes a duplicate harmless."""
    now = timezone.now()
    stale_approval = now - timedelta(seconds=settings.STOP_RELAY_DELAY_SECONDS)
    lease_lapsed = now - timedelta(seconds=settings.STOP_EXECUTION_LEASE_SECONDS)
    return list(
        StopRequest.objects.filter(
            Q(status=StopStatus.APPROVED, approved_at__lt=stale_approval)
            | Q(status=StopStatus.EXECUTING, claimed_at__lt=lease_lapsed)
        ).values_list("pk", flat=True)
    )
