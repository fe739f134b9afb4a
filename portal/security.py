"""Response headers that keep what a signed-in user saw out of caches."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control


class PrivateCacheMiddleware:
    """`Cache-Control: private, no-store` on every response to a signed-in user whose view chose no
    Cache-Control of its own. The pages show deployments, people and audit events that neither a shared
    cache nor the browser's disk (a shared computer, the back button after signing out) should keep.

    Static files never get here (WhiteNoise answers them first); the probes choose their own (never_cache),
    and so do the audit exports."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            patch_cache_control(response, private=True, no_store=True)
        return response
