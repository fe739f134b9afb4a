"""The action a step-up interrupted, kept in the session so that it resumes once the person has signed in
again, without typing the reason a second time.

One pending action per session (a newer one replaces it), its text bounded by the forms that validated it,
forgotten after STEP_UP_PENDING_SECONDS. It is stored only by a stop view after the service refused it for
want of a step-up (a POST that passed the CSRF check), and run only by `resume`, which the step-up's own
completion calls (the password form, a CSRF-checked POST; or the single sign-on callback, whose one-time
state ties it to this browser), through the same services and checks as the first attempt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from deployments.access import visible_deployment, visible_stop_request
from portal.authn import authentication_of
from stops import services

PENDING_KEY = "stops_step_up_pending"
STOP_REQUEST = "stop_request"
APPROVE = "approve"


@dataclass(frozen=True)
class Pending:
    action: str
    target: list
    data: dict
    back: str
    at: int

    def describe(self) -> str:
        if self.action == APPROVE:
            return f"Approve stop request #{self.target[0]}"
        kind = "Break-glass stop" if self.data.get("break_glass") else "Stop request"
        return f"{kind} for deployment {self.target[2]}"


def stash(request: HttpRequest, *, action: str, target: list, data: dict, back: str) -> None:
    request.session[PENDING_KEY] = {
        "action": action,
        "target": target,
        "data": data,
        "back": back,
        "at": int(time.time()),
    }


def pending(request: HttpRequest) -> Pending | None:
    """The pending action, if there is one still in time."""
    raw = request.session.get(PENDING_KEY)
    if not isinstance(raw, dict):
        return None
    if time.time() - raw.get("at", 0) > settings.STEP_UP_PENDING_SECONDS:
        request.session.pop(PENDING_KEY, None)
        return None
    try:
        return Pending(**raw)
    except TypeError:
        request.session.pop(PENDING_KEY, None)
        return None


def back_url(request: HttpRequest) -> str:
    """Where the person returns after a step-up that did not complete: the page of the pending action."""
    action = pending(request)
    return action.back if action else reverse("dashboard")


def resume(request: HttpRequest) -> HttpResponse:
    """Run the pending action (once: it is removed first) with the session's new authentication, and go back
    to its page saying what happened."""
    action = pending(request)
    request.session.pop(PENDING_KEY, None)
    if action is None:
        messages.info(request, "You signed in again.")
        return redirect("dashboard")
    authentication = authentication_of(request)
    try:
        if action.action == STOP_REQUEST:
            deployment = visible_deployment(request.user, *action.target)
            stop_request = services.stop_request_create(
                deployment=deployment,
                user=request.user,
                reason=action.data["reason"],
                kind=action.data["kind"],
                break_glass=action.data["break_glass"],
                confirmation=action.data["confirmation"],
                request=request,
                authentication=authentication,
            )
            if stop_request.status == "pending":
                messages.info(request, f"Stop request #{stop_request.pk} is waiting for approval.")
            else:
                messages.success(request, f"Stop request #{stop_request.pk} is approved and running.")
            return redirect(deployment.get_absolute_url())
        if action.action == APPROVE:
            stop_request = visible_stop_request(request.user, action.target[0])
            services.stop_request_approve(
                stop_request=stop_request,
                user=request.user,
                comment=action.data["comment"],
                request=request,
                authentication=authentication,
            )
            messages.success(request, f"Stop request #{stop_request.pk}: approved.")
            return redirect(action.back)
    except services.StopError as error:
        messages.error(request, str(error))
    return redirect(action.back)
