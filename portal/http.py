"""What every app's views share: the HTMX request type, partial detection, the 400/403 pages, and safe
redirect targets."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def is_partial(request: HtmxHttpRequest) -> bool:
    """Whether to answer with a fragment: an HTMX request, except a history restore after a cache miss,
    which also comes as an HTMX request but needs the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def bad_request(request: HttpRequest, message: str = "") -> HttpResponse:
    return render(request, "400.html", {"message": message}, status=400)


def forbidden(request: HttpRequest, message: str = "") -> HttpResponse:
    """The console's 403 page; the refusal is recorded by the caller (`audit.records.forbidden`)."""
    return render(request, "403.html", {"message": message}, status=403)


def safe_next(request: HttpRequest, target: str | None, default: str) -> str:
    """`target` when it is a path on this site (no scheme, no other host, no `/\\evil` or control-character
    trick: Django's own check), `default` otherwise."""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default
