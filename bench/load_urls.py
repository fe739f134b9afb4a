"""bench/bench_load.py's URLs: the console's, and a minimal login-protected view for the baseline."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def minimal(request: HttpRequest) -> HttpResponse:
    """Login required (LoginRequiredMiddleware), session and user loaded, no page work."""
    return HttpResponse(f"hello {request.user.get_username()}")


urlpatterns = [
    path("bench/minimal/", minimal, name="bench_minimal"),
    path("", include("portal.urls")),
]
