"""Events of signing in and out: receivers of Django's auth signals (connected in AuditConfig.ready), and the
login throttle's lockouts and unlocks (called by `portal.lockout`).

One event per login and logout; a logout the console made (a session that timed out) says why. Failed
logins are aggregated, so that hammering the login page cannot grow the append-only trail without limit:
the throttle counts failures per username and per client address over a cool-off window and, before it
checks a password, leaves the count so far on the request (FAILURES_BEFORE_ATTR). Only the first failure of
a window is recorded; the lockout that follows records the count, and unlocks by an administrator or a
command are recorded too. A failure the throttle did not count (no request, throttle off) is recorded on its
own. A failed login records the username that was tried (bounded), never the password."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from audit.models import Action, Outcome, Source
from audit.records import record
from portal import authn
from portal.commands import os_user

USERNAME_MAX_CHARS = 150
# Set on the request by the login throttle (portal.lockout) before the password is checked: how many
# failures it had counted in the current window for this username or this address (the larger).
FAILURES_BEFORE_ATTR = "login_failures_before"
_LOGOUT_CAUSE_ATTR = "audit_logout_cause"


def _source(request) -> str:
    path = getattr(request, "path", "") or ""
    return Source.ADMIN if path.startswith("/admin/") else Source.WEB


def login(sender, request, user, **kwargs: Any) -> None:
    details = None
    if request is not None:
        details = {"method": getattr(request, authn.AUTH_METHOD_ATTR, authn.PASSWORD)}
        if details["method"] == authn.SSO:
            details.update(
                authn.Authentication(getattr(request, authn.SSO_AUTH_TIME_ATTR, None), "sso").audit_details()
            )
    record(action=Action.AUTH_LOGIN, actor=user, request=request, details=details, source=_source(request))


def mark_logout_cause(request, *, cause: str, reason: str) -> None:
    """Say why the logout about to happen on `request` happens (a session timing out, not the person
    signing out), for its event: `cause` is a fixed word (details), `reason` a sentence."""
    setattr(request, _LOGOUT_CAUSE_ATTR, (cause, reason))


def logout(sender, request, user, **kwargs: Any) -> None:
    if user is None:  # logging out without being logged in changes nothing
        return
    cause, reason = getattr(request, _LOGOUT_CAUSE_ATTR, ("", ""))
    record(
        action=Action.AUTH_LOGOUT,
        actor=user,
        request=request,
        reason=reason,
        details={"cause": cause} if cause else None,
        source=_source(request),
    )


def login_failed(sender, credentials: dict, request=None, **kwargs: Any) -> None:
    if getattr(request, FAILURES_BEFORE_ATTR, 0):
        return  # a later failure of this window: the lockout event, if it comes, carries the count
    # `credentials` has passwords and other secrets already masked by Django; only the username is kept.
    field = get_user_model().USERNAME_FIELD
    attempted = str(credentials.get(field) or credentials.get("username") or "")[:USERNAME_MAX_CHARS]
    details = {"username": attempted}
    if getattr(request, authn.AUTH_METHOD_ATTR, None) == authn.SSO:
        # A single sign-on refused (a forged or replayed callback, a token that failed a check): why.
        details.update(method=authn.SSO, why=getattr(request, authn.SSO_FAILURE_ATTR, ""))
    record(
        action=Action.AUTH_LOGIN_FAILED,
        outcome=Outcome.FAILED,
        request=request,
        target={"label": attempted},
        details=details,
        source=_source(request),
    )


def login_locked_out(
    *, request, username: str, failures: int, failure_limit: int, cool_off_seconds: int
) -> None:
    """The throttle locked out `username` and the request's client address: one event per window."""
    record(
        action=Action.AUTH_LOCKED_OUT,
        outcome=Outcome.DENIED,
        request=request,
        target={"label": username},
        details={
            "username": username,
            "failures": failures,
            "failure_limit": failure_limit,
            "cool_off_seconds": cool_off_seconds,
        },
        source=_source(request),
    )


def login_unlocked(*, request, username: str, ip_address: str, failures: int, was_locked_out: bool) -> None:
    """An administrator (in the admin: `request` is theirs) or a command (no request) removed the throttle's
    record of failures for `username` from `ip_address`."""
    details: dict[str, Any] = {
        "username": username,
        "ip_address": ip_address,
        "failures": failures,
        "was_locked_out": was_locked_out,
    }
    if request is None:
        details["os_user"] = os_user()
    record(
        action=Action.AUTH_UNLOCKED,
        request=request,
        target={"label": username or ip_address},
        details=details,
        source=_source(request) if request is not None else Source.COMMAND,
    )
