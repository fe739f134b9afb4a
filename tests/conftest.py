"""Fixtures shared by the whole suite: users per role, the real emulator on a loopback port, Redis and a
real Celery worker. Emulator and Redis are started once per session and reset per test."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from appconfig_emulator import Emulator, ManualClock
from deployments import appconfig, sync
from deployments.models import Account, Deployment, Role
from deployments.roles import role_grant
from portal import queue
from portal.embedded import free_port, start_redis
from tests.deployments.seeding import make_target, start
from tests.factories import ApplicationFactory, DeploymentFactory, EnvironmentFactory, UserFactory
from tests.helpers import event, point_celery_at
from tests.sso_helpers import idp_url, sso_settings  # noqa: F401 - fixtures: the identity provider

# Close to the real time: the portal judges windows (72 h revert, bake left) by its own clock, as it does
# against AWS, so AppConfig's clock must not be weeks away from it.
EMULATOR_START = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _boto_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # The emulator accepts any signature; never let a developer's real credentials or profile leak in.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTCONSOLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


# ---------------------------------------------------------------------------------------------------------
# Users


@pytest.fixture
def make_user(db):
    def make(role: str | None = None, *, application=None, **fields):
        user = UserFactory(**fields)
        if role is not None:
            role_grant(user=user, role=role, application=application)
        return user

    return make


@pytest.fixture
def viewer(make_user):
    return make_user(Role.VIEWER, username="viewer")


@pytest.fixture
def operator(make_user):
    return make_user(Role.OPERATOR, username="operator")


@pytest.fixture
def approver(make_user):
    return make_user(Role.APPROVER, username="approver")


@pytest.fixture
def auditor(make_user):
    return make_user(Role.AUDITOR, username="auditor")


@pytest.fixture
def admin_user(make_user):
    return make_user(None, username="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def outsider(make_user):
    """Holds a role, but only on an application the tests don't look at."""
    return make_user(Role.OPERATOR, username="outsider", application=ApplicationFactory())


@pytest.fixture
def client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


# ---------------------------------------------------------------------------------------------------------
# The emulator


@pytest.fixture(scope="session")
def _emulator_server() -> Iterator[Emulator]:
    emulator = Emulator(clock=ManualClock(start=EMULATOR_START)).start(host="127.0.0.1", port=0)
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(_emulator_server: Emulator) -> Iterator[Emulator]:
    """The real emulator over HTTP, emptied for each test; its manual clock starts at EMULATOR_START."""
    _emulator_server.reset()
    yield _emulator_server
    _emulator_server.clear_faults()


@pytest.fixture
def account(db, emulator: Emulator, settings) -> Iterator[Account]:
    # Low read timeout and few attempts keep fault tests quick; production uses the settings' defaults.
    settings.APPCONFIG_READ_TIMEOUT = 2.0
    settings.APPCONFIG_MAX_ATTEMPTS = 3
    # Throttling that lasts (an injected fault) is waited out for a second, not a minute, before it fails.
    settings.APPCONFIG_THROTTLE_RETRY_SECONDS = 1.0
    appconfig.forget_clients()
    yield Account.objects.create(name="test", region="us-east-1", endpoint_url=emulator.url)
    appconfig.forget_clients()


@pytest.fixture
def boto_client(emulator: Emulator):
    import boto3

    return boto3.client(
        "appconfig",
        endpoint_url=emulator.url,
        region_name="us-east-1",
        aws_access_key_id="AKIASEEDER",
        aws_secret_access_key="x",
    )


# ---------------------------------------------------------------------------------------------------------
# Redis and Celery


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL when CI gives one (the machine's Redis), otherwise a private embedded Redis."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    directory = Path(tempfile.mkdtemp(prefix="console-redis-"))
    port = free_port()
    process = start_redis(port, directory)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def celery_app(redis_url: str):
    import redis

    from portal.celery import app

    app.conf.task_always_eager = False
    point_celery_at(app, redis_url)
    redis.Redis.from_url(redis_url).flushdb()
    yield app
    point_celery_at(app, redis_url)


@pytest.fixture
def celery_worker(celery_app, transactional_db):
    """A real Celery worker (threads, in this process) consuming the real Redis broker."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(
        celery_app,
        pool="threads",
        concurrency=2,
        queues=["sync", "live", "stops"],
        perform_ping_check=False,
        shutdown_timeout=20,
    ) as worker:
        yield worker


# ---------------------------------------------------------------------------------------------------------
# A small estate, a live deployment, and what would be published


@pytest.fixture(autouse=True)
def _empty_cache():
    # The throttles live in the cache; no test may inherit another's window.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def estate(db):
    """One application, one environment: deployment 1 finished, deployment 2 in progress at 40 %."""
    now = timezone.now()
    application = ApplicationFactory(application_id="pay1234", name="payments")
    environment = EnvironmentFactory(
        application=application, environment_id="prod123", name="prod", state="DEPLOYING"
    )
    done = DeploymentFactory(
        environment=environment,
        deployment_number=1,
        state="COMPLETE",
        percentage_complete=100.0,
        started_at=now - timedelta(hours=2),
        completed_at=now - timedelta(hours=1, minutes=45),
        details_fetched_at=now - timedelta(hours=1),
        configuration_name="flags",
    )
    running = DeploymentFactory(
        environment=environment,
        deployment_number=2,
        state="DEPLOYING",
        percentage_complete=40.0,
        started_at=now - timedelta(minutes=5),
        details_fetched_at=now,
        deployment_strategy_id="strat12",
        configuration_profile_id="prof123",
        configuration_name="checkout-flags",
        configuration_location_uri="hosted",
        configuration_version="7",
        version_label="spring-sale",
        description="enable the new basket",
    )
    event(running, 0, "DEPLOYMENT_STARTED", 0, by="USER", text="Deployment started")
    event(running, 1, "PERCENTAGE_UPDATED", 1.7, text="Configuration available to 20.00% of clients")
    event(running, 2, "PERCENTAGE_UPDATED", 3.4, text="Configuration available to 40.00% of clients")
    return SimpleNamespace(application=application, environment=environment, done=done, running=running)


@pytest.fixture
def live(account, emulator, boto_client):
    """A deployment DEPLOYING in the emulator and in the cache (10 min, 20 % steps, 5 min bake), with the
    emulator's call counters reset."""
    target = make_target(boto_client, duration=10, growth=20.0, bake=5)
    number = start(boto_client, target)
    emulator.advance(150)
    sync.sync_account(account=account)
    deployment = Deployment.objects.select_related("environment__application__account").get(
        deployment_number=number
    )
    assert deployment.state == "DEPLOYING"
    emulator.reset_counters()
    return deployment


@pytest.fixture
def published(monkeypatch):
    """Record what services would publish to the broker (`portal.queue.publish`) instead of publishing it:
    a list of (task name, keyword arguments)."""
    calls: list[tuple[str, dict]] = []

    def record(task, /, **kwargs) -> bool:
        calls.append((task.name, kwargs))
        return True

    monkeypatch.setattr(queue, "publish", record)
    return calls


class Enqueued:
    """The stop workflow's publications so far: executions (request ids) and notifications (id, event)."""

    def __init__(self, published: list[tuple[str, dict]]) -> None:
        self.published = published

    def __getitem__(self, key: str) -> list:
        if key == "execute":
            return [kw["stop_request_id"] for name, kw in self.published if name.endswith(".stop_execute")]
        return [
            (kw["stop_request_id"], kw["event"])
            for name, kw in self.published
            if name.endswith(".notify_stop_request")
        ]


@pytest.fixture
def enqueued(published) -> Enqueued:
    return Enqueued(published)


def pytest_report_header(config) -> str:
    redis = os.environ.get("REDIS_URL") or "embedded"
    return f"database: {settings.DATABASES['default']['ENGINE']}; redis: {redis}"
