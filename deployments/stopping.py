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
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

import audit
from deployments import sync
from deployments.appconfig import (
    AppConfigError,
    BadRequestError,
    OutcomeUnknownError,
    PermanentAppConfigError,
    TransientAppConfigError,
    client_for,
)
from deployments.models import (
    STOPPABLE_STATES,
    Deployment,
    DeploymentState,
    StopDecision,
    StopKind,
    StopRequest,
    StopStatus,
)
from deployments.selectors import holds, permissions_on, user_may

logger = logging.getLogger(__name__)

REVERT_WINDOW = timedelta(hours=72)  # AppConfig accepts Allow-Revert this long after completion
REASON_MAX_LENGTH = 2000

PERM_REQUEST = "deployments.request_stop"
PERM_APPROVE = "deployments.approve_stop"
PERM_BREAK_GLASS = "deployments.stop_without_approval"


class StopError(Exception):
    """A stop action that cannot be done; the message is meant for the person who tried."""

    status = 400


class StopForbidden(StopError):
    status = 403


class StopConflict(StopError):
    status = 409


# ---------------------------------------------------------------------------------------------------------
# What a request covers


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
        # Bake ends final_bake minutes after the deployment phase, which lasts its full duration.
        bake_end = deployment.started_at + timedelta(
            minutes=deployment.deployment_duration_in_minutes + deployment.final_bake_time_in_minutes
        )
        bake_left = max(bake_end - timezone.now(), timedelta(0))
    revert_deadline = deployment.completed_at + REVERT_WINDOW if kind == StopKind.REVERT else None
    return StopPreview(
        deployment=deployment,
        kind=kind,
        outcome_state=DeploymentState.REVERTED if kind == StopKind.REVERT else DeploymentState.ROLLED_BACK,
        approvals_required=deployment.environment.approvals_required,
        may_request=holds(permissions, PERM_REQUEST),
        may_break_glass=holds(permissions, PERM_BREAK_GLASS),
        may_approve=holds(permissions, PERM_APPROVE),
        critical=deployment.environment.is_critical,
        bake_time_left=bake_left,
        revert_deadline=revert_deadline,
        open_request=open_request_for(deployment) if open_request is False else open_request,
    )


def open_request_for(deployment: Deployment) -> StopRequest | None:
    return (
        StopRequest.objects.filter(deployment=deployment, status__in=[s.value for s in _OPEN])
        .select_related("requested_by")
        .first()
    )


_OPEN = (StopStatus.PENDING, StopStatus.APPROVED, StopStatus.EXECUTING)


# ---------------------------------------------------------------------------------------------------------
# Helpers


def _refuse(
    *, request, user, permission: str, target, attempted: str, message: str, source: str
) -> StopForbidden:
    """Record a refused attempt in its own transaction (it must outlive the refusal), return the error."""
    audit.record(
        action="access.denied",
        outcome="denied",
        actor=user,
        request=request,
        target=target,
        details={"permission": permission, "attempted": attempted, "why": message},
        source=source,
    )
    return StopForbidden(message)


def _enqueue_execution(stop_request_id: int) -> None:
    """Publish the execution task. Runs after commit; a broker that is down must not turn a committed
    approval into an error page: the relay re-enqueues approved requests that nobody claimed."""
    from deployments.tasks import stop_execute

    try:
        stop_execute.apply_async(
            kwargs={"stop_request_id": stop_request_id},
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
        )
    except Exception as exc:  # the broker is down or unreachable; the outbox row is safe
        logger.warning("could not enqueue stop request %s (%s); the relay will", stop_request_id, exc)


def _enqueue_notification(stop_request_id: int, event: str) -> None:
    from deployments.tasks import notify_stop_request

    try:
        notify_stop_request.apply_async(
            kwargs={"stop_request_id": stop_request_id, "event": event},
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2},
        )
    except Exception as exc:  # notifications never block or fail a stop
        logger.warning("could not enqueue a notification for stop request %s (%s)", stop_request_id, exc)


def _transition(stop_request: StopRequest, *, from_statuses, to_status: str, **fields) -> bool:
    """Compare-and-swap the status; True if this caller made the transition."""
    changed = StopRequest.objects.filter(pk=stop_request.pk, status__in=list(from_statuses)).update(
        status=to_status, version=F("version") + 1, **fields
    )
    if changed:
        stop_request.refresh_from_db()
    return changed == 1


# ---------------------------------------------------------------------------------------------------------
# Request, approve, reject, cancel


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
) -> StopRequest:
    """Ask for a deployment to be stopped (or reverted).

    1. Permission: request_stop on the application (stop_without_approval for break-glass); refusals audited.
    2. Validation: a reason; the deployment in a state the kind covers (revert: inside 72 hours); on a
       critical environment, the environment's name typed as confirmation.
    3. One transaction: the request row (approved at once when no approval is needed or for break-glass;
       the database allows one open request per deployment) and its audit records.
    4. After commit: the execution task, or the approvers' notification.
    """
    environment = deployment.environment
    application = environment.application
    permission = PERM_BREAK_GLASS if break_glass else PERM_REQUEST
    if not user_may(user, permission, application):
        raise _refuse(
            request=request,
            user=user,
            permission=permission,
            target=deployment,
            attempted=f"{'break-glass ' if break_glass else ''}{kind} request",
            message="Your roles do not allow "
            + ("a break-glass stop here." if break_glass else "requesting a stop here."),
            source=source,
        )
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

    required = 0 if break_glass else environment.approvals_required
    now = timezone.now()
    try:
        with transaction.atomic():
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
            audit.record(
                action="stop.break_glass" if break_glass else "stop.requested",
                actor=user,
                request=request,
                target=stop_request,
                reason=reason,
                details={"kind": kind, "state": deployment.state, "approvals_required": required},
                source=source,
            )
            if required == 0:
                audit.record(
                    action="stop.approved",
                    actor=user,
                    request=request,
                    target=stop_request,
                    details={"automatic": "break-glass" if break_glass else "no approval required here"},
                    source=source,
                )
                transaction.on_commit(partial(_enqueue_execution, stop_request.pk))
                if break_glass:
                    transaction.on_commit(partial(_enqueue_notification, stop_request.pk, "break_glass"))
            else:
                transaction.on_commit(partial(_enqueue_notification, stop_request.pk, "pending"))
    except IntegrityError:
        existing = open_request_for(deployment)
        raise StopConflict(
            f"A stop request for this deployment is already open (#{existing.pk if existing else '?'})."
        ) from None
    return stop_request


def _locked(stop_request: StopRequest) -> StopRequest:
    # Row lock on PostgreSQL; on SQLite the IMMEDIATE transaction already serialises writers.
    return (
        StopRequest.objects.select_for_update()
        .select_related("deployment__environment__application")
        .get(pk=stop_request.pk)
    )


def _check_decider(stop_request: StopRequest, user, *, request, source: str, attempted: str) -> None:
    deployment = stop_request.deployment
    if not user_may(user, PERM_APPROVE, deployment.environment.application):
        raise _refuse(
            request=request,
            user=user,
            permission=PERM_APPROVE,
            target=stop_request,
            attempted=attempted,
            message="Your roles do not allow approving or rejecting stops here.",
            source=source,
        )
    if stop_request.requested_by_id == user.pk:
        raise _refuse(
            request=request,
            user=user,
            permission=PERM_APPROVE,
            target=stop_request,
            attempted=f"{attempted} of own request",
            message="You cannot approve or reject your own request (two-person rule); you may cancel it.",
            source=source,
        )


def stop_request_approve(
    *, stop_request: StopRequest, user: AbstractBaseUser, comment: str = "", request=None, source: str = "web"
) -> StopRequest:
    """Approve a pending request.

    1. Permission approve_stop on the application, and not the requester's own request (audited refusals).
    2. One transaction, the request row locked: still pending; one decision per person (database constraint);
       the audit record; when the approvals reach the snapshot threshold, pending -> approved.
    3. After commit, if this approval completed the quorum: the execution task.
    """
    _check_decider(stop_request, user, request=request, source=source, attempted="approve")
    try:
        with transaction.atomic():
            locked = _locked(stop_request)
            if locked.status != StopStatus.PENDING:
                raise StopConflict(
                    f"This request is {locked.get_status_display().lower()}; it cannot be approved."
                )
            StopDecision.objects.create(
                stop_request=locked, user=user, verdict=StopDecision.Verdict.APPROVE, comment=comment.strip()
            )
            approvals = locked.decisions.filter(verdict=StopDecision.Verdict.APPROVE).count()
            audit.record(
                action="stop.approved",
                actor=user,
                request=request,
                target=locked,
                reason=comment.strip(),
                details={"approvals": approvals, "approvals_required": locked.approvals_required},
                source=source,
            )
            if approvals >= locked.approvals_required and _transition(
                locked,
                from_statuses=[StopStatus.PENDING],
                to_status=StopStatus.APPROVED,
                approved_at=timezone.now(),
            ):
                transaction.on_commit(partial(_enqueue_execution, locked.pk))
    except IntegrityError:
        raise StopConflict("You have already decided on this request.") from None
    stop_request.refresh_from_db()
    return stop_request


def stop_request_reject(
    *, stop_request: StopRequest, user: AbstractBaseUser, comment: str = "", request=None, source: str = "web"
) -> StopRequest:
    _check_decider(stop_request, user, request=request, source=source, attempted="reject")
    if not comment.strip():
        raise StopError("Say why you reject the request.")
    try:
        with transaction.atomic():
            locked = _locked(stop_request)
            if locked.status != StopStatus.PENDING:
                raise StopConflict(
                    f"This request is {locked.get_status_display().lower()}; it cannot be rejected."
                )
            StopDecision.objects.create(
                stop_request=locked, user=user, verdict=StopDecision.Verdict.REJECT, comment=comment.strip()
            )
            _transition(
                locked,
                from_statuses=[StopStatus.PENDING],
                to_status=StopStatus.REJECTED,
                finished_at=timezone.now(),
                outcome=f"Rejected by {user.get_username()}: {comment.strip()}",
            )
            audit.record(
                action="stop.rejected",
                actor=user,
                request=request,
                target=locked,
                reason=comment.strip(),
                source=source,
            )
            transaction.on_commit(partial(_enqueue_notification, locked.pk, "outcome"))
    except IntegrityError:
        raise StopConflict("You have already decided on this request.") from None
    stop_request.refresh_from_db()
    return stop_request


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
        audit.record(action="stop.cancelled", actor=user, request=request, target=stop_request, source=source)
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
            why = "No quorum of approvals before the request expired."
        elif not covers(stop_request.kind, stop_request.deployment.state):
            why = f"The deployment is now {stop_request.deployment.state}, which this request does not cover."
        else:
            continue
        with transaction.atomic():
            if _transition(
                stop_request,
                from_statuses=[StopStatus.PENDING],
                to_status=StopStatus.EXPIRED,
                finished_at=now,
                outcome=why,
            ):
                audit.record(action="stop.expired", target=stop_request, reason=why, source="beat")
                transaction.on_commit(partial(_enqueue_notification, stop_request.pk, "outcome"))
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
    """approved -> executing, or take over an executing request whose worker fell silent past the lease."""
    lease_lapsed = now - timedelta(seconds=settings.STOP_EXECUTION_LEASE_SECONDS)
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
        audit.record(
            action=action,
            outcome="success" if status == StopStatus.SUCCEEDED else "failed",
            target=stop_request,
            reason=message,
            details={"stop_calls": stop_request.stop_calls, "attempts": stop_request.attempts},
            source="worker",
        )
        transaction.on_commit(partial(_enqueue_notification, stop_request.pk, "outcome"))


def _release(stop_request: StopRequest) -> None:
    """Hand a claimed request back for a later attempt (a transient error)."""
    _transition(stop_request, from_statuses=[StopStatus.EXECUTING], to_status=StopStatus.APPROVED)


def _void_approvals(stop_request: StopRequest) -> str:
    """Re-check every permission the request rests on; a message when one no longer holds."""
    application = stop_request.deployment.environment.application
    requester = stop_request.requested_by
    needed = PERM_BREAK_GLASS if stop_request.break_glass else PERM_REQUEST
    if not requester.is_active or not user_may(requester, needed, application):
        return f"The requester {requester.get_username()} no longer holds {needed.split('.')[1]} here."
    approvals = stop_request.decisions.filter(verdict=StopDecision.Verdict.APPROVE).select_related("user")
    valid = [d for d in approvals if d.user.is_active and user_may(d.user, PERM_APPROVE, application)]
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
