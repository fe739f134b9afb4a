"""The stop state machine against the real emulator: request, approvals, refusals, expiry, execution,
reconciliation. API calls are counted with the emulator's counters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from deployments import sync
from deployments.appconfig import AppConfigClient, TransientAppConfigError
from deployments.models import Deployment, Role, StopRequest, StopStatus
from deployments.roles import role_grant, role_revoke
from stops import rules, services
from tests.deployments.seeding import make_target, start
from tests.helpers import just_signed_in, set_policy

pytestmark = pytest.mark.django_db


def _actions(**filters) -> list[str]:
    return list(AuditEvent.objects.filter(**filters).order_by("id").values_list("action", flat=True))


def test_it_runs_a_stop_that_needs_no_approval_at_once(
    live, operator, emulator, enqueued, django_capture_on_commit_callbacks
):
    set_policy(live, 0)
    with django_capture_on_commit_callbacks(execute=True):
        request = services.stop_request_create(deployment=live, user=operator, reason="error rate up")
    assert request.status == StopStatus.APPROVED
    assert enqueued["execute"] == [request.pk]

    services.stop_request_execute(stop_request_id=request.pk)

    request.refresh_from_db()
    assert request.status == StopStatus.SUCCEEDED
    assert emulator.counters()["StopDeployment"] == 1
    live.refresh_from_db()
    assert live.state == "ROLLED_BACK"
    types = list(live.events.values_list("event_type", flat=True))
    assert types[:2] == ["ROLLBACK_COMPLETED", "ROLLBACK_STARTED"]
    assert _actions(stop_request_id=request.pk) == ["stop.requested", "stop.approved", "stop.succeeded"]


def test_it_waits_for_two_distinct_approvals(
    live, operator, approver, make_user, enqueued, django_capture_on_commit_callbacks
):
    set_policy(live, 2)
    second = make_user(Role.APPROVER, username="approver2")
    with django_capture_on_commit_callbacks(execute=True):
        request = services.stop_request_create(deployment=live, user=operator, reason="bad config")
    assert request.status == StopStatus.PENDING
    assert enqueued["notify"] == [(request.pk, "pending")]

    with django_capture_on_commit_callbacks(execute=True):
        services.stop_request_approve(stop_request=request, user=approver, comment="agreed")
    request.refresh_from_db()
    assert request.status == StopStatus.PENDING
    assert enqueued["execute"] == []

    with pytest.raises(services.StopConflict, match="already decided"):
        services.stop_request_approve(stop_request=request, user=approver)

    with django_capture_on_commit_callbacks(execute=True):
        services.stop_request_approve(stop_request=request, user=second)
    request.refresh_from_db()
    assert request.status == StopStatus.APPROVED
    assert enqueued["execute"] == [request.pk]
    assert _actions(stop_request_id=request.pk) == ["stop.requested", "stop.approved", "stop.approved"]


def test_it_refuses_self_approval_and_audits_it(live, make_user, enqueued):
    set_policy(live, 1)
    both = make_user(Role.OPERATOR, username="both")
    role_grant(user=both, role=Role.APPROVER)
    request = services.stop_request_create(deployment=live, user=both, reason="bad config")

    with pytest.raises(services.StopForbidden, match="two-person rule"):
        services.stop_request_approve(stop_request=request, user=both)

    request.refresh_from_db()
    assert request.status == StopStatus.PENDING
    denied = AuditEvent.objects.get(action="access.denied")
    assert denied.outcome == "denied"
    assert denied.actor_username == "both"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.APPROVER, Role.AUDITOR])
def test_it_refuses_a_request_from_a_role_without_request_stop(live, make_user, role, enqueued):
    user = make_user(role, username=f"just-{role}")
    with pytest.raises(services.StopForbidden):
        services.stop_request_create(deployment=live, user=user, reason="x")
    assert not StopRequest.objects.exists()
    assert _actions().count("access.denied") == 1


def test_it_refuses_an_operator_scoped_to_another_application(live, outsider, enqueued):
    with pytest.raises(services.StopForbidden):
        services.stop_request_create(deployment=live, user=outsider, reason="x")
    assert not StopRequest.objects.exists()


def test_it_lets_break_glass_stop_without_approval_and_flags_it(live, make_user, enqueued):
    set_policy(live, 3)
    user = make_user(Role.BREAK_GLASS, username="firefighter")
    request = services.stop_request_create(
        deployment=live, user=user, reason="outage", break_glass=True, authentication=just_signed_in()
    )
    assert request.status == StopStatus.APPROVED
    assert request.break_glass
    assert _actions(stop_request_id=request.pk) == ["stop.break_glass", "stop.approved"]

    operator = make_user(Role.OPERATOR, username="plain")
    StopRequest.objects.all().delete()
    with pytest.raises(services.StopForbidden, match="break-glass"):
        services.stop_request_create(
            deployment=live, user=operator, reason="x", break_glass=True, authentication=just_signed_in()
        )


@pytest.mark.parametrize(
    ("reason", "confirmation", "message"),
    [
        ("   ", "", "A reason is required"),
        ("bad", "", "type its name to confirm"),
        ("bad", "wrong-name", "type its name to confirm"),
    ],
)
def test_it_validates_reason_and_critical_confirmation(
    live, operator, enqueued, reason, confirmation, message
):
    set_policy(live, 1, critical=True)
    with pytest.raises(services.StopError, match=message):
        services.stop_request_create(
            deployment=live,
            user=operator,
            reason=reason,
            confirmation=confirmation,
            authentication=just_signed_in(),
        )
    assert not StopRequest.objects.exists()


def test_it_accepts_the_critical_environment_name(live, operator, enqueued):
    set_policy(live, 1, critical=True)
    request = services.stop_request_create(
        deployment=live,
        user=operator,
        reason="bad",
        confirmation=live.environment.name,
        authentication=just_signed_in(),
    )
    assert request.status == StopStatus.PENDING


def test_it_allows_one_open_request_per_deployment(live, operator, make_user, enqueued):
    set_policy(live, 1)
    first = services.stop_request_create(deployment=live, user=operator, reason="one")
    other = make_user(Role.OPERATOR, username="other-operator")
    with pytest.raises(services.StopConflict, match=f"already open \\(#{first.pk}\\)"):
        services.stop_request_create(deployment=live, user=other, reason="two")
    services.stop_request_cancel(stop_request=first, user=operator)
    assert (
        services.stop_request_create(deployment=live, user=other, reason="two").status == StopStatus.PENDING
    )


def test_it_refuses_to_stop_a_finished_deployment(live, operator, enqueued):
    Deployment.objects.filter(pk=live.pk).update(state="ROLLED_BACK")
    live.refresh_from_db()
    with pytest.raises(services.StopConflict, match="only a deploying or baking deployment"):
        services.stop_request_create(deployment=live, user=operator, reason="x")


def test_it_rejects_with_a_comment_and_lets_only_the_requester_cancel(
    live, operator, approver, make_user, enqueued
):
    set_policy(live, 1)
    request = services.stop_request_create(deployment=live, user=operator, reason="bad")
    with pytest.raises(services.StopError, match="Say why"):
        services.stop_request_reject(stop_request=request, user=approver, comment=" ")
    services.stop_request_reject(stop_request=request, user=approver, comment="not needed, metrics fine")
    request.refresh_from_db()
    assert request.status == StopStatus.REJECTED
    assert "not needed" in request.outcome

    second = services.stop_request_create(deployment=live, user=operator, reason="again")
    stranger = make_user(Role.OPERATOR, username="stranger")
    with pytest.raises(services.StopForbidden):
        services.stop_request_cancel(stop_request=second, user=stranger)
    services.stop_request_cancel(stop_request=second, user=operator)
    with pytest.raises(services.StopConflict):
        services.stop_request_cancel(stop_request=second, user=operator)
    assert _actions(stop_request_id=second.pk) == ["stop.requested", "access.denied", "stop.cancelled"]


def test_it_expires_pending_requests_after_the_ttl_or_when_the_state_moves_on(
    live, operator, enqueued, make_user
):
    set_policy(live, 1)
    old = services.stop_request_create(deployment=live, user=operator, reason="slow approvers")
    StopRequest.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.stop_requests_expire() == 1
    old.refresh_from_db()
    assert old.status == StopStatus.EXPIRED
    assert "No quorum" in old.outcome

    moved = services.stop_request_create(deployment=live, user=operator, reason="again")
    Deployment.objects.filter(pk=live.pk).update(state="COMPLETE")
    assert services.stop_requests_expire() == 1
    moved.refresh_from_db()
    assert "now COMPLETE" in moved.outcome
    assert AuditEvent.objects.filter(action="stop.expired").count() == 2


def _approved(live, user) -> StopRequest:
    set_policy(live, 0)
    return services.stop_request_create(deployment=live, user=user, reason="bad config")


def test_it_calls_stop_deployment_once_when_the_task_is_delivered_twice(live, operator, emulator, enqueued):
    request = _approved(live, operator)
    services.stop_request_execute(stop_request_id=request.pk)
    assert services.stop_request_execute(stop_request_id=request.pk) is None
    assert emulator.counters()["StopDeployment"] == 1


def test_it_voids_a_request_whose_approver_lost_the_role(live, operator, approver, enqueued):
    set_policy(live, 1)
    request = services.stop_request_create(deployment=live, user=operator, reason="bad")
    services.stop_request_approve(stop_request=request, user=approver)
    role_revoke(user=approver, role=Role.APPROVER)

    services.stop_request_execute(stop_request_id=request.pk)

    request.refresh_from_db()
    assert request.status == StopStatus.FAILED
    assert "Approval by approver is void" in request.outcome


def test_it_says_a_deployment_completed_before_the_stop_ran(live, operator, emulator, enqueued):
    request = _approved(live, operator)
    emulator.advance(60 * 60)

    services.stop_request_execute(stop_request_id=request.pk)

    request.refresh_from_db()
    assert request.status == StopStatus.FAILED
    assert request.outcome == "Completed before the stop ran: request a revert instead."
    assert emulator.counters().get("StopDeployment", 0) == 0


def test_it_says_an_alarm_rolled_it_back_first(live, operator, emulator, enqueued):
    request = _approved(live, operator)
    environment = live.environment
    emulator.fire_alarm(environment.application.application_id, environment.environment_id)

    services.stop_request_execute(stop_request_id=request.pk)

    request.refresh_from_db()
    assert request.status == StopStatus.SUPERSEDED
    assert request.outcome.startswith("Rolled back by alarm before the stop ran")
    assert emulator.counters().get("StopDeployment", 0) == 0
    live.refresh_from_db()
    assert live.state == "ROLLED_BACK"


def test_it_reconciles_a_stop_applied_then_timed_out_as_success(live, operator, emulator, enqueued, settings):
    request = _approved(live, operator)
    emulator.add_fault(operation="StopDeployment", kind="apply_then_timeout", count=1, seconds=4)

    services.stop_request_execute(stop_request_id=request.pk)

    request.refresh_from_db()
    assert request.status == StopStatus.SUCCEEDED, request.outcome
    assert request.stop_calls == 1
    # botocore may retry the timed-out call (standard mode); the retry meets a rolled-back deployment and
    # answers 400, which is reconciled like the timeout itself.
    assert emulator.counters()["StopDeployment"] >= 1


def test_it_retries_after_throttling_and_stops_once(live, operator, emulator, enqueued, settings):
    settings.APPCONFIG_MAX_ATTEMPTS = 1
    # Throttling that outlasts the call's own waiting (none here) reaches the service, which retries.
    settings.APPCONFIG_THROTTLE_RETRY_SECONDS = 0.0
    from deployments.appconfig import forget_clients

    forget_clients()
    request = _approved(live, operator)
    emulator.add_fault(operation="StopDeployment", kind="throttle", count=1)

    with pytest.raises(TransientAppConfigError):
        services.stop_request_execute(stop_request_id=request.pk)
    request.refresh_from_db()
    assert request.status == StopStatus.APPROVED
    assert request.stop_called_at is not None

    services.stop_request_execute(stop_request_id=request.pk)
    request.refresh_from_db()
    assert request.status == StopStatus.SUCCEEDED
    assert emulator.counters()["StopDeployment"] == 2  # one throttled, one effective
    assert request.attempts == 2


def _spy_allow_revert(monkeypatch) -> list[bool]:
    seen: list[bool] = []
    real = AppConfigClient.stop_deployment

    def spy(self, *args, allow_revert=False):
        seen.append(allow_revert)
        return real(self, *args, allow_revert=allow_revert)

    monkeypatch.setattr(AppConfigClient, "stop_deployment", spy)
    return seen


def test_it_sends_no_allow_revert_for_a_stop(live, operator, enqueued, monkeypatch):
    seen = _spy_allow_revert(monkeypatch)
    stop = _approved(live, operator)
    services.stop_request_execute(stop_request_id=stop.pk)
    assert seen == [False]


def test_it_reverts_a_completed_deployment_inside_the_window(
    account, emulator, boto_client, operator, enqueued, monkeypatch
):
    seen = _spy_allow_revert(monkeypatch)
    target = make_target(boto_client, duration=0, growth=100.0, bake=0)
    number = start(boto_client, target)
    emulator.advance(60)
    sync.sync_account(account=account)
    deployment = Deployment.objects.get(deployment_number=number)
    assert deployment.state == "COMPLETE"
    set_policy(deployment, 0)

    assert rules.available_kind(deployment) == "revert"
    request = services.stop_request_create(
        deployment=deployment, user=operator, reason="bad values", kind="revert"
    )
    services.stop_request_execute(stop_request_id=request.pk)

    request.refresh_from_db()
    assert request.status == StopStatus.SUCCEEDED, request.outcome
    assert seen == [True]
    deployment.refresh_from_db()
    assert deployment.state == "REVERTED"


def test_it_refuses_a_revert_after_72_hours(account, emulator, boto_client, operator, enqueued):
    target = make_target(boto_client, duration=0, growth=100.0, bake=0)
    start(boto_client, target)
    emulator.advance(60)
    sync.sync_account(account=account)
    deployment = Deployment.objects.get()
    Deployment.objects.filter(pk=deployment.pk).update(completed_at=timezone.now() - timedelta(hours=73))
    deployment.refresh_from_db()
    assert rules.available_kind(deployment) is None
    with pytest.raises(services.StopConflict, match="72 hours"):
        services.stop_request_create(deployment=deployment, user=operator, reason="x", kind="revert")


def test_it_relays_approved_requests_nobody_claimed(live, operator, enqueued, settings):
    request = _approved(live, operator)
    assert services.stop_requests_relay() == []
    StopRequest.objects.filter(pk=request.pk).update(approved_at=timezone.now() - timedelta(minutes=5))
    assert services.stop_requests_relay() == [request.pk]

    StopRequest.objects.filter(pk=request.pk).update(
        status=StopStatus.EXECUTING, claimed_at=timezone.now() - timedelta(hours=1)
    )
    assert services.stop_requests_relay() == [request.pk]
    services.stop_request_execute(stop_request_id=request.pk)  # the takeover
    request.refresh_from_db()
    assert request.status == StopStatus.SUCCEEDED


def _expire_now(request: StopRequest) -> None:
    StopRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


@pytest.mark.parametrize("decide", ["approve", "reject"])
def test_it_refuses_to_decide_an_expired_request_before_beat_expires_it(
    live, operator, approver, emulator, enqueued, decide
):
    """Protects against an approval of a request past its TTL rolling the deployment back (beat's expiry
    had not run yet)."""
    request = services.stop_request_create(deployment=live, user=operator, reason="bad")
    _expire_now(request)
    service = services.stop_request_approve if decide == "approve" else services.stop_request_reject
    with pytest.raises(services.StopConflict, match="expired before it was"):
        service(stop_request=request, user=approver, comment="too late")

    request.refresh_from_db()
    assert request.status == StopStatus.EXPIRED and not request.decisions.exists()
    assert _actions(stop_request_id=request.pk)[-1] == "stop.expired"
    assert enqueued["execute"] == []
    assert services.stop_request_execute(stop_request_id=request.pk) is None
    assert emulator.counters().get("StopDeployment", 0) == 0


def test_it_expires_an_approved_request_no_worker_claimed_in_time(
    live, operator, emulator, enqueued, django_capture_on_commit_callbacks
):
    """Protects against a stop approved an hour ago (broker down) running long after the situation it was
    approved for: claim refuses it, ends it expired, and tells the requester."""
    set_policy(live, 0)
    request = services.stop_request_create(deployment=live, user=operator, reason="bad")
    _expire_now(request)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.stop_request_execute(stop_request_id=request.pk) is None

    request.refresh_from_db()
    assert request.status == StopStatus.EXPIRED and "no worker could run it" in request.outcome
    assert _actions(stop_request_id=request.pk)[-1] == "stop.expired"
    assert (request.pk, "outcome") in enqueued["notify"]
    assert emulator.counters().get("StopDeployment", 0) == 0


def test_it_lets_break_glass_supersede_a_pending_request(
    live, operator, make_user, emulator, enqueued, django_capture_on_commit_callbacks
):
    """Protects the emergency path: a request waiting for two approvals no longer blocks a break-glass stop
    (it used to answer 409 "already open" for up to the TTL)."""
    set_policy(live, 2)
    waiting = services.stop_request_create(deployment=live, user=operator, reason="slow approvers")
    breaker = make_user(Role.BREAK_GLASS, username="breaker")

    with django_capture_on_commit_callbacks(execute=True):
        now = services.stop_request_create(
            deployment=live, user=breaker, reason="outage", break_glass=True, authentication=just_signed_in()
        )

    waiting.refresh_from_db()
    assert waiting.status == StopStatus.SUPERSEDED and "break-glass stop by breaker" in waiting.outcome
    assert now.status == StopStatus.APPROVED and enqueued["execute"] == [now.pk]
    assert (waiting.pk, "outcome") in enqueued["notify"]
    superseded = AuditEvent.objects.get(stop_request_id=waiting.pk, action="stop.superseded")
    assert superseded.actor_username == "breaker"
    services.stop_request_execute(stop_request_id=now.pk)
    assert emulator.counters()["StopDeployment"] == 1


def test_it_leaves_an_approved_request_alone_for_break_glass(live, operator, make_user, enqueued):
    set_policy(live, 0)
    running = services.stop_request_create(deployment=live, user=operator, reason="bad")
    breaker = make_user(Role.BREAK_GLASS, username="breaker")
    with pytest.raises(services.StopConflict, match="already open"):
        services.stop_request_create(
            deployment=live, user=breaker, reason="outage", break_glass=True, authentication=just_signed_in()
        )
    running.refresh_from_db()
    assert running.status == StopStatus.APPROVED
