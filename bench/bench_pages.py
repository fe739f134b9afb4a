"""Median server-side render time of the deployment detail page (200 events) against a minimal
login-protected view on the same stack (middleware, session, user), and their ratio. Target: ratio <= 5.

Also printed, for context: the detail page with a cold cache (the regions that show only the deployment,
cached per deployment version and shared by every viewer, rendered afresh every time), and a second
baseline that renders the site's layout (base.html: nav, messages, CSRF token) around a line of text.

    .venv/bin/python bench/bench_pages.py [--requests 300]

Runs on a throwaway SQLite database (or BENCH_DATABASE_URL) through Django's test client, so it measures the
portal's own work (URL routing, middleware, queries, templates), not a network or a web server.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VAR = tempfile.mkdtemp(prefix="bench-pages-")
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        # Templates render without collectstatic, as in the tests (no hashed-name manifest).
        "DJANGO_STATIC_MANIFEST": "false",
        "DJANGO_SECRET_KEY": "bench-only-not-secret",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DJANGO_SECURE": "false",
        "PORTAL_VAR_DIR": VAR,
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", ""),
        "LOG_LEVEL": "WARNING",
    }
)

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.template import RequestContext, Template  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import include, path, reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from deployments.models import Account, Application, Deployment, DeploymentEvent, Environment, Role  # noqa: E402
from deployments.roles import role_grant  # noqa: E402


def minimal(request: HttpRequest) -> HttpResponse:
    """The baseline: login required (LoginRequiredMiddleware), session and user loaded, no page work."""
    return HttpResponse(f"hello {request.user.get_username()}")


def minimal_page(request: HttpRequest) -> HttpResponse:
    """The second baseline: the same, rendered inside the site's layout."""
    template = Template(
        '{% extends "base.html" %}{% block content %}hello {{ user.get_username }}{% endblock %}'
    )
    return HttpResponse(template.render(RequestContext(request)))


urlpatterns = [
    path("bench/minimal/", minimal, name="bench_minimal"),
    path("bench/minimal-page/", minimal_page, name="bench_minimal_page"),
    path("", include("portal.urls")),
]


def seed() -> tuple[str, Client]:
    now = timezone.now()
    account = Account.objects.create(name="bench", region="us-east-1")
    application = Application.objects.create(account=account, application_id="bench01", name="payments")
    environment = Environment.objects.create(application=application, environment_id="prod001", name="prod")
    deployment = Deployment.objects.create(
        environment=environment,
        deployment_number=1,
        state="DEPLOYING",
        percentage_complete=60.0,
        started_at=now - timedelta(minutes=30),
        details_fetched_at=now,
        deployment_strategy_id="strat01",
        configuration_profile_id="prof001",
        configuration_name="flags",
        configuration_version="3",
        deployment_duration_in_minutes=60,
        growth_type="LINEAR",
        growth_factor=0.5,
        final_bake_time_in_minutes=10,
    )
    DeploymentEvent.objects.bulk_create(
        DeploymentEvent(
            deployment=deployment,
            sequence=i,
            event_type="PERCENTAGE_UPDATED" if i else "DEPLOYMENT_STARTED",
            triggered_by="APPCONFIG" if i else "USER",
            description=f"Configuration available to {i * 0.5:.2f}% of clients",
            occurred_at=deployment.started_at + timedelta(seconds=9 * i),
        )
        for i in range(200)
    )
    user = get_user_model().objects.create_user("bench", password="bench-password-1")
    role_grant(user=user, role=Role.VIEWER)
    client = Client()
    client.force_login(user)
    url = reverse("deployment_detail", args=["bench01", "prod001", 1])
    return url, client


def median_ms(client: Client, url: str, requests: int, expect: bytes, *, cold: bool = False) -> float:
    for _ in range(20):  # warm-up: template loaders, connections, caches
        client.get(url)
    times = []
    for _ in range(requests):
        if cold:
            cache.clear()
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200 and expect in response.content, response.status_code
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    with override_settings(ROOT_URLCONF=__name__):
        url, client = seed()
        text = b"Configuration available to 99.50% of clients"
        detail = median_ms(client, url, args.requests, text)
        cold = median_ms(client, url, args.requests, text, cold=True)
        baseline = median_ms(client, "/bench/minimal/", args.requests, b"hello bench")
        layout = median_ms(client, "/bench/minimal-page/", args.requests, b"hello bench")
    engine = django.conf.settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"database: {engine}; {args.requests} requests each, median")
    print(f"deployment detail (200 events):             {detail:8.2f} ms")
    print(f"  the same with a cold cache:               {cold:8.2f} ms")
    print(f"minimal login-protected view:               {baseline:8.2f} ms")
    print(f"  the same inside the site layout:          {layout:8.2f} ms")
    print(f"ratio detail / minimal view: {detail / baseline:.2f} (target <= 5)")
    print(f"ratio detail / minimal page in the layout: {detail / layout:.2f}")


if __name__ == "__main__":
    main()
