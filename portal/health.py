"""Probes for load balancers and orchestrators; the only pages served without login.

/readyz never calls AWS itself (no request does): AppConfig counts as reachable when every enabled account's
latest sync pass succeeded recently, which is what the pages' freshness depends on anyway. Anyone gets each
component's state, `ok` or `failing`; why one fails (account names, AWS errors with account ids and role
ARNs, internal addresses) is for signed-in users and the server's log only.
"""

import logging

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from deployments.selectors import sync_health

logger = logging.getLogger(__name__)


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_broker() -> str:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def _check_appconfig() -> str:
    problems = [f"{row.account.name}: {row.problem}" for row in sync_health() if row.problem]
    if problems:
        raise RuntimeError("; ".join(problems))
    return "ok"


@login_not_required
@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    details: dict[str, str] = {}
    for name, check in (
        ("database", _check_database),
        ("broker", _check_broker),
        ("appconfig", _check_appconfig),
    ):
        try:
            checks[name] = check()
        except Exception as exc:  # a probe reports every failure as data, never as a 500
            checks[name] = "failing"
            details[name] = str(exc)
            logger.warning("readiness: %s failing: %s", name, exc)
    ready = not details
    body: dict = {"status": "ok" if ready else "unavailable", "checks": checks}
    if details and request.user.is_authenticated:
        body["details"] = details
    return JsonResponse(body, status=200 if ready else 503)
