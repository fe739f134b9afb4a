"""Probes for load balancers and orchestrators; with /metrics, the only pages served without login.

/healthz: the process answers. /readyz: this web process can serve the console: its database answers, the
broker answers (within a second: a stop is published there), and every migration this code knows is
applied. AppConfig and sync health are not part of it (issue 15): an AppConfig outage must not take the
console out of a load balancer exactly when people need it to stop a deployment; they are on the dashboard,
in /metrics and in the alerts (docs/alerts.yml). Anyone gets each component's state, `ok` or `failing`; why
one fails (internal addresses, driver errors) is for signed-in users and the server's log only.
"""

import logging

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_broker() -> str:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


_migrated = False  # once every migration is applied it stays so for this process's code


def _check_migrations() -> str:
    global _migrated
    if not _migrated:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        unapplied = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if unapplied:
            names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in unapplied[:5])
            raise RuntimeError(f"{len(unapplied)} migration(s) not applied: {names}; run `manage.py release`")
        _migrated = True
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
        ("migrations", _check_migrations),
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
