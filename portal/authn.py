"""When and how the person behind a session last proved who they are: what step-up asks about.

Kept in the session at every sign-in (`portal.sessions.start_clock`) and at every step-up: the method
("password" or "sso") and the time, for SSO the identity provider's `auth_time` claim (when the person last
authenticated there, which may be long before this sign-in when the provider reused its own session), for a
password the moment it was checked. None when the provider did not say: such a session needs a step-up
before any risky action.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.http import HttpRequest

AUTH_TIME_KEY = "portal_auth_time"
AUTH_METHOD_KEY = "portal_auth_method"
# Set on the request by the SSO backend before Django's login(): what the sign-in receiver stores.
SSO_AUTH_TIME_ATTR = "portal_sso_auth_time"
AUTH_METHOD_ATTR = "portal_auth_method"
# Why a single sign-on was refused, for the audit record of the failure.
SSO_FAILURE_ATTR = "portal_sso_failure"

PASSWORD = "password"
SSO = "sso"


@dataclass(frozen=True)
class Authentication:
    """The session's last authentication: `at` in seconds since the epoch (None: unknown), and how."""

    at: int | None
    method: str

    def age(self, now: float | None = None) -> float | None:
        return None if self.at is None else (now if now is not None else time.time()) - self.at

    def audit_details(self) -> dict:
        """What the audit record of a risky action says about it."""
        when = datetime.fromtimestamp(self.at, UTC).isoformat() if self.at is not None else None
        return {"auth_time": when, "auth_method": self.method}


def authentication_of(request: HttpRequest | None) -> Authentication | None:
    session = getattr(request, "session", None)
    if session is None or AUTH_METHOD_KEY not in session:
        return None
    at = session.get(AUTH_TIME_KEY)
    return Authentication(at=int(at) if at is not None else None, method=session[AUTH_METHOD_KEY])


def remember(request: HttpRequest, *, method: str, at: int | None) -> None:
    request.session[AUTH_METHOD_KEY] = method
    request.session[AUTH_TIME_KEY] = at


def signed_in_with_sso(request: HttpRequest) -> bool:
    return getattr(request, "session", {}).get(AUTH_METHOD_KEY) == SSO
