"""The login throttle: django-axes as the console configures it (settings: AXES_*, from LOGIN_FAILURE_LIMIT
and LOGIN_LOCKOUT_SECONDS), and what it tells the audit trail.

- Failures are counted per username and, separately, per client address, over a cool-off window; at the
  limit both the username and the address are refused, correct password or not, until the window ends or
  an administrator unlocks them (admin: Access attempts; `manage.py axes_reset_username NAME`).
- The client address is the audit trail's own (`audit.records.client_ip`: X-Forwarded-For only from
  TRUSTED_PROXIES), so the address locked out is the address recorded, and a forged header changes neither.
- The handler is axes' database handler plus the audit trail. It tells `audit.auth_events` how many failures
  it had counted before each attempt, so only the first failure of a window becomes an event; it records
  the lockout once, with its count, when the count reaches the limit; and it records an unlock when an
  administrator or a command removes a record, while expiry and a successful sign-in clear records silently.
  Attempts refused during a lockout are neither counted nor recorded, so a client hammering the page costs
  a bounded number of audit events and a bounded throttle record per window.
- A successful sign-in clears that username's failures from that address only: signing in to one's own
  account must not reset the count an address has built up against someone else's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from math import ceil

from axes.conf import settings
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from audit import auth_events
from audit.middleware import current_request
from audit.records import client_ip

# Set while the handler itself deletes attempt records (expired, or cleared by a successful sign-in): those
# deletions are bookkeeping, not somebody unlocking a username or an address.
_clearing_routinely: ContextVar[bool] = ContextVar("lockout_clearing_routinely", default=False)


@contextmanager
def _routinely() -> Iterator[None]:
    token = _clearing_routinely.set(True)
    try:
        yield
    finally:
        _clearing_routinely.reset(token)


def client_address(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the address the audit trail records (None when there is none)."""
    return client_ip(request) or None


def attempted_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """AXES_USERNAME_CALLABLE: the username tried, bounded as a username is (axes stores it in 255
    characters; a longer one must be counted, not fail the insert)."""
    field = settings.AXES_USERNAME_FORM_FIELD
    value = credentials.get(field) if credentials else request.POST.get(field)
    return str(value)[: auth_events.USERNAME_MAX_CHARS] if value else None


def _cool_off(request: HttpRequest | None) -> timedelta:
    return get_cool_off(request) or timedelta(0)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the sign-in page saying why it refuses, as 429 with Retry-After."""
    seconds = int(_cool_off(request).total_seconds())
    response = render(
        request,
        "registration/login.html",
        {"locked_out": True, "lockout_minutes": ceil(seconds / 60)},
        status=429,
    )
    # An upper bound: the lockout ends this long after the failure that started it.
    response["Retry-After"] = str(seconds)
    return response


class AuditedAxesHandler(AxesDatabaseHandler):
    def is_locked(self, request, credentials: dict | None = None) -> bool:
        # Asked by the authentication backend before the password is checked, for every attempt: the count
        # before this attempt, which the audit receivers read after it (whatever order they run in).
        failures = self.get_failures(request, credentials)
        setattr(request, auth_events.FAILURES_BEFORE_ATTR, failures)
        return settings.AXES_LOCK_OUT_AT_FAILURE and failures >= get_failure_limit(request, credentials)

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs) -> None:
        super().user_login_failed(sender, credentials, request, **kwargs)
        after = getattr(request, "axes_failures_since_start", None)
        if after is None:  # not counted: no request, or refused while already locked out
            return
        before = getattr(request, auth_events.FAILURES_BEFORE_ATTR, after - 1)
        limit = get_failure_limit(request, credentials)
        # "Crossed the limit", not "equals it": concurrent failures may each read a count past it. Every
        # request whose check saw fewer than `limit` may record, so a burst records a few, never one per try.
        if before < limit <= after:
            auth_events.login_locked_out(
                request=request,
                username=get_client_username(request, credentials) or "",
                failures=after,
                failure_limit=limit,
                cool_off_seconds=int(_cool_off(request).total_seconds()),
            )

    def reset_user_attempts(self, request, credentials: dict | None = None) -> int:
        # After a successful sign-in (AXES_RESET_ON_SUCCESS). axes' own version deletes every record of the
        # username *or* the address, which would let anyone with an account wipe their address's failures
        # against other accounts by signing in to their own.
        username = get_client_username(request, credentials)
        with _routinely():
            count, _ = AccessAttempt.objects.filter(
                username=username, ip_address=request.axes_ip_address
            ).delete()
        return count

    def clean_expired_user_attempts(self, request=None, credentials: dict | None = None) -> int:
        with _routinely():
            return super().clean_expired_user_attempts(request, credentials)

    def post_delete_access_attempt(self, instance: AccessAttempt, **kwargs) -> None:
        """An attempt record removed other than by expiry or sign-in: an administrator in the admin, or a
        command (axes_reset, axes_reset_username, axes_reset_ip, ...). Recorded in the deletion's
        transaction, as the admin's user when it comes from a request."""
        if _clearing_routinely.get():
            return
        limit = get_failure_limit(None, None)
        in_effect = instance.attempt_time >= timezone.now() - _cool_off(None)
        auth_events.login_unlocked(
            request=current_request.get(),
            username=instance.username or "",
            ip_address=instance.ip_address or "",
            failures=instance.failures_since_start,
            was_locked_out=in_effect and instance.failures_since_start >= limit,
        )
