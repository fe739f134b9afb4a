"""Helpers the tests share (fixtures live in the conftest files; helpers are imported from here)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from django.db import connection
from django.urls import reverse

from deployments.models import Deployment, Environment
from portal.authn import Authentication
from tests.factories import DeploymentEventFactory

HX = {"HX-Request": "true"}
BASE_DIR = Path(__file__).resolve().parent.parent


def deployment_url(deployment) -> str:
    environment = deployment.environment
    return reverse(
        "deployment_detail",
        args=[
            environment.application.application_id,
            environment.environment_id,
            deployment.deployment_number,
        ],
    )


def environment_url(environment) -> str:
    return reverse(
        "environment_detail", args=[environment.application.application_id, environment.environment_id]
    )


def event(
    deployment, sequence: int, event_type: str, minutes: float, *, by: str = "APPCONFIG", text: str = ""
):
    return DeploymentEventFactory(
        deployment=deployment,
        sequence=sequence,
        event_type=event_type,
        triggered_by=by,
        description=text,
        occurred_at=deployment.started_at + timedelta(minutes=minutes),
    )


def set_policy(deployment: Deployment, approvals: int, *, critical: bool = False) -> Deployment:
    """The stop policy of the deployment's environment: approvals needed, critical or not."""
    Environment.objects.filter(pk=deployment.environment_id).update(
        approvals_required=approvals, is_critical=critical
    )
    deployment.environment.refresh_from_db()
    return deployment


def just_signed_in(method: str = "password") -> Authentication:
    """A session's authentication from a moment ago: what a step-up asks for (stops.rules.needs_step_up)."""
    return Authentication(at=int(time.time()), method=method)


def wait_until(predicate, timeout: float = 30.0, every: float = 0.05):
    """Poll `predicate` until it returns something true (returned), or fail after `timeout` seconds: tests
    wait on a condition, never for a fixed time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


def worker_idle(broker_url: str) -> bool:
    """True when the in-process test worker has nothing left to do: no task running or reserved, and the
    `sync`, `live` and `stops` queues empty on the broker (a duplicate delivery would still be in one)."""
    import redis
    from celery.worker import state

    queues = redis.Redis.from_url(broker_url)
    return (
        not state.active_requests
        and not state.reserved_requests
        and queues.llen("stops") == 0
        and queues.llen("sync") == 0
        and queues.llen("live") == 0
    )


def point_celery_at(app, broker_url: str) -> None:
    """Switch the app's broker, dropping pooled connections to the previous one (Celery keeps them)."""
    # Dropped, not closed: kombu's global producer pools may still hand out the old ones, which must work.
    app.conf.broker_url = broker_url
    app._pool = None
    app.amqp._producer_pool = None


def worker_process(redis_url: str, *, queues: str, concurrency: int = 1, **env: str) -> subprocess.Popen:
    """A real `celery worker` process on the test database and broker, consuming `queues` (comma-separated)
    with `concurrency` prefork processes (solo for 1), in a session of its own (stop it with os.killpg)."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    else:
        database_url = f"sqlite:///{db['NAME']}"  # the test database is a file (see settings)
    pool = ["-P", "solo"] if concurrency == 1 else ["-c", str(concurrency)]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "-Q",
            queues,
            *pool,
            "-n",
            f"{queues.replace(',', '-')}-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "WARNING",
        ],  # fmt: skip
        cwd=BASE_DIR,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DJANGO_SECRET_KEY": "tests-only",
            "SYNC_AT_WORKER_START": "false",
            **env,
        },
        start_new_session=True,
    )
