"""Stop notifications: email to eligible approvers when a request waits for them, to the requester on the
outcome, and an optional Slack-compatible webhook. Sent from a task; a failure is logged and never reaches
the stop itself."""

from __future__ import annotations

import json
import logging
import urllib.request

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from deployments.access import APPROVE_STOP, users_holding
from deployments.models import Account, StopRequest

logger = logging.getLogger(__name__)


def eligible_approvers(stop_request: StopRequest) -> list:
    """Active users holding approve_stop on the request's application through a role, requester excluded."""
    application = stop_request.deployment.environment.application
    return list(
        users_holding(APPROVE_STOP, application).exclude(pk=stop_request.requested_by_id).exclude(email="")
    )


def notify_event(*, stop_request_id: int, event: str) -> None:
    """The task's body: the request (gone: nothing to say) and `notify`."""
    stop_request = (
        StopRequest.objects.select_related("deployment__environment__application__account", "requested_by")
        .filter(pk=stop_request_id)
        .first()
    )
    if stop_request is not None:
        notify(stop_request, event)


def _links(stop_request: StopRequest) -> tuple[str, str]:
    detail = stop_request.deployment.get_absolute_url()
    return settings.CONSOLE_BASE_URL + detail, settings.CONSOLE_BASE_URL + reverse("stop_request_queue")


def _summary(stop_request: StopRequest) -> str:
    deployment = stop_request.deployment
    environment = deployment.environment
    flag = "BREAK-GLASS " if stop_request.break_glass else ""
    # With several Accounts, application names alone are ambiguous: "prod-account: payments-api / prod".
    account = f"{environment.application.account.name}: " if Account.objects.count() > 1 else ""
    return (
        f"{flag}{stop_request.get_kind_display()} of deployment {deployment.deployment_number} on "
        f"{account}{environment.application.name} / {environment.name}, "
        f"asked by {stop_request.requested_by.get_username()}"
    )


def notify(stop_request: StopRequest, event: str) -> None:
    """event: "pending" (approvers), "break_glass" (approvers, for awareness) or "outcome" (requester)."""
    detail_url, queue_url = _links(stop_request)
    summary = _summary(stop_request)
    if event in ("pending", "break_glass"):
        recipients = [u.email for u in eligible_approvers(stop_request)]
        if event == "pending":
            subject = f"[AppConfig console] Approval needed: {summary}"
            body = (
                f"{summary}.\n\nReason: {stop_request.reason}\n\n"
                f"Approve or reject: {queue_url}\nDeployment: {detail_url}\n"
            )
        else:
            subject = f"[AppConfig console] BREAK-GLASS stop: {summary}"
            body = (
                f"{summary}, without approval.\n\nReason: {stop_request.reason}\n\nDeployment: {detail_url}\n"
            )
    else:
        recipients = [stop_request.requested_by.email] if stop_request.requested_by.email else []
        subject = f"[AppConfig console] {stop_request.get_status_display()}: {summary}"
        body = (
            f"{summary}.\n\nOutcome: {stop_request.get_status_display()}. {stop_request.outcome}\n\n"
            f"Deployment: {detail_url}\n"
        )
    if recipients:
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
        except Exception:
            logger.warning("stop notification email failed for request %s", stop_request.pk, exc_info=True)
    if settings.STOP_WEBHOOK_URL:
        _post_webhook(f"{subject}\n{detail_url}")


def _post_webhook(text: str) -> None:
    data = json.dumps({"text": text}).encode()
    request = urllib.request.Request(  # noqa: S310 - an operator-configured https URL
        settings.STOP_WEBHOOK_URL, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            response.read()
    except Exception:
        logger.warning("stop notification webhook failed", exc_info=True)
