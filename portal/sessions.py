"""How long a signed-in session lasts, and where a request goes when it has none.

A session ends after SESSION_IDLE_TIMEOUT seconds without activity, and SESSION_ABSOLUTE_LIFETIME seconds
after sign-in however active it is: the next request signs the user out (audited as a logout with its
cause), and the page sends them to the sign-in page with a message saying why.

What counts as activity: every request except an htmx request that lacks `X-Console-Activity: user`.
console.js adds that header to htmx requests that a real browser event triggered (a click, typing, a
submit: `event.isTrusted`); polls, lazy loads and history restores carry none. So a page left open keeps
polling but still times out, while full page loads, form posts and the person's own clicks and searches in
a page keep the session alive. The header is not a security boundary: a person can always keep their own
session alive by using it; the rule is there so an unattended browser cannot, and the absolute lifetime
bounds even an active session.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect

from audit import auth_events
from portal import authn

STARTED_KEY = "portal_session_started"
ACTIVE_KEY = "portal_session_active"
ACTIVITY_HEADER = "X-Console-Activity"
# Last activity is written at most this often, so that an active session is not saved on every request.
# A session may so end up to this much earlier than the timeout says.
ACTIVITY_RESOLUTION_SECONDS = 60


def is_persons_activity(request: HttpRequest) -> bool:
    return not request.htmx or request.headers.get(ACTIVITY_HEADER) == "user"


def _duration(seconds: int) -> str:
    """The largest unit that says it exactly or, from two of them up, rounded down: 30 minutes, 12 hours,
    90 seconds."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if (seconds >= size and seconds % size == 0) or seconds >= 2 * size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


def start_clock(sender, request: HttpRequest | None, user, **kwargs) -> None:
    """user_logged_in (connected in PortalConfig.ready): a session's lifetime and idle time start at
    sign-in, a second sign-in in the same browser included; and the session's last authentication
    (`portal.authn`) is this one."""
    session = getattr(request, "session", None)
    if session is not None:
        now = int(time.time())
        session[STARTED_KEY] = session[ACTIVE_KEY] = now
        # How the person proved who they are, and when (what step-up asks): a password now, or single
        # sign-on at the time the identity provider says (the SSO backend leaves it on the request).
        method = getattr(request, authn.AUTH_METHOD_ATTR, authn.PASSWORD)
        at = getattr(request, authn.SSO_AUTH_TIME_ATTR, None) if method == authn.SSO else now
        authn.remember(request, method=method, at=at)


class SessionTimeoutMiddleware:
    """Ends sessions idle for longer than SESSION_IDLE_TIMEOUT or older than SESSION_ABSOLUTE_LIFETIME.

    After AuthenticationMiddleware, MessageMiddleware and HtmxMiddleware. It only signs the user out; the
    login-required middleware then answers as for any anonymous request (the sign-in page, or a client
    redirect for htmx), and pages that need no login (probes, the sign-in page) are served as usual."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            self._check(request, int(time.time()))
        return self.get_response(request)

    def _check(self, request: HttpRequest, now: int) -> None:
        session = request.session
        started, active = session.get(STARTED_KEY), session.get(ACTIVE_KEY)
        if started is None or active is None:
            # Signed in before these limits existed: its clock starts now.
            session[STARTED_KEY] = session[ACTIVE_KEY] = now
            return
        lifetime, idle_timeout = settings.SESSION_ABSOLUTE_LIFETIME, settings.SESSION_IDLE_TIMEOUT
        if now - started > lifetime:
            self._end(
                request,
                cause="absolute_lifetime",
                reason=f"signed in {_duration(now - started)} ago "
                f"(SESSION_ABSOLUTE_LIFETIME: {_duration(lifetime)})",
                message=f"You were signed out: a session lasts at most {_duration(lifetime)}.",
            )
        elif now - active > idle_timeout:
            self._end(
                request,
                cause="idle_timeout",
                reason=f"no activity for {_duration(now - active)} "
                f"(SESSION_IDLE_TIMEOUT: {_duration(idle_timeout)})",
                message=f"You were signed out after {_duration(idle_timeout)} without activity.",
            )
        elif is_persons_activity(request) and now - active >= ACTIVITY_RESOLUTION_SECONDS:
            session[ACTIVE_KEY] = now

    @staticmethod
    def _end(request: HttpRequest, *, cause: str, reason: str, message: str) -> None:
        auth_events.mark_logout_cause(request, cause=cause, reason=reason)
        logout(request)  # flushes the session; user_logged_out is audited with the cause
        messages.info(request, f"{message} Please sign in again.")


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Django's, except that an htmx request without a session (a poll after the session ended, a click
    in a region) gets a client redirect: the whole page goes to the sign-in page, and comes back to the
    page the person was on, instead of the sign-in page being swapped into a region."""

    def handle_no_permission(self, request: HttpRequest, view_func) -> HttpResponse:
        response = super().handle_no_permission(request, view_func)
        if not request.htmx:
            return response
        page = request.htmx.current_url_abs_path
        if page is None:
            return HttpResponseClientRedirect(response["Location"])
        login_url = resolve_url(self.get_login_url(view_func))
        return HttpResponseClientRedirect(
            redirect_to_login(page, login_url, self.get_redirect_field_name(view_func))["Location"]
        )
