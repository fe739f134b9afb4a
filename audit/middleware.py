"""Request ids, and the request being served, for the audit trail.

Every request gets `request.request_id`: the client's or proxy's `X-Request-ID` when it looks like an id,
otherwise a fresh uuid4. It is echoed in the response so a user or a proxy log can be matched with the
audit events of that request.

The request is also remembered for the duration of the view, so that `record()` called by a service that
was not handed the request (the admin's role grants) still knows where the action came from. Only the
client address, user agent and request id are taken from it, never the actor.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
# Letters, digits and a few separators, at most 64: a uuid, a ULID, a load balancer's trace id.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,63}")

current_request: ContextVar[HttpRequest | None] = ContextVar("audit_current_request", default=None)


def request_id_for(request: HttpRequest) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    return incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = request_id_for(request)
        token = current_request.set(request)
        try:
            response = self.get_response(request)
        finally:
            current_request.reset(token)
        response[REQUEST_ID_HEADER] = request.request_id
        return response


class DeniedAccessMiddleware:
    """Records the 404 answered for an object that exists outside the user's scope (`OutOfScope`, raised by
    `deployments.access.visible_*`) as `access.denied`: the response stays the same 404."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        from audit.records import denied
        from deployments.access import VIEW, OutOfScope

        if isinstance(exception, OutOfScope):
            denied(
                request,
                permission=VIEW,
                target=exception.target,
                attempted=f"{request.method} {request.path}",
                reason="the object exists outside the user's scope; answered 404",
            )
        # None: Django answers the 404 as for any other.
