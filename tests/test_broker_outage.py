"""Fault injection: the broker (a real Redis process) stopped, then paused (SIGSTOP: it still accepts
connections and never answers). Every page and action answers, quickly and without a 5xx; nothing approved
is lost (the relay runs it once the broker is back), and AppConfig sees exactly one StopDeployment per
approved request. Protects against a down or stalled broker turning pages into 500s or 25-second hangs."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from deployments import sync
from deployments.models import Deployment, StopRequest, StopStatus
from portal.embedded import free_port, start_redis
from stops import services, tasks
from tests.deployments.seeding import make_target, start
from tests.factories import DeploymentFactory
from tests.helpers import point_celery_at, set_policy, wait_until

# The target of the issue; bounded by CELERY_PUBLISH_TIMEOUT (0.5 s, one retry), with room for a busy machine.
ANSWER_WITHIN_SECONDS = 2.0


def _timed(call):
    began = time.monotonic()
    response = call()
    return response, time.monotonic() - began


def _exercise(client: Client, approver: Client, live: Deployment, old: Deployment, reason: str) -> list:
    """Every page and action that may publish a task, as a person would use them; (what, status, seconds)."""
    environment = live.environment
    keys = [environment.application.application_id, environment.environment_id]
    results = []

    def check(what, call):
        response, seconds = _timed(call)
        results.append((what, response.status_code, seconds, response))

    check("dashboard", lambda: client.get(reverse("dashboard")))
    check("old deployment page", lambda: client.get(old.get_absolute_url()))
    check("sync now", lambda: client.post(reverse("environment_sync", args=keys)))
    check("stop request", lambda: client.post(live.get_stop_url(), {"kind": "stop", "reason": reason}))
    pending = StopRequest.objects.filter(deployment=live, status=StopStatus.PENDING).first()
    assert pending is not None, "the stop request was not created"
    check(
        "approval",
        lambda: approver.post(reverse("stop_request_approve", args=[pending.pk]), {"comment": "go"}),
    )
    check("queue", lambda: approver.get(reverse("stop_request_queue")))
    check("live deployment page", lambda: client.get(live.get_absolute_url()))
    return results


@pytest.fixture
def second_live(live, account, emulator, boto_client):
    """Another deployment in progress, in another application (AppConfig deploys environments in parallel)."""
    target = make_target(boto_client, name="orders", duration=10, growth=20.0, bake=5)
    number = start(boto_client, target)
    emulator.advance(30)
    sync.sync_account(account=account)
    emulator.reset_counters()
    return Deployment.objects.select_related("environment__application__account").get(
        environment__environment_id=target.environment_id, deployment_number=number
    )


@pytest.mark.django_db(transaction=True)
def test_it_keeps_answering_and_loses_nothing_while_the_broker_is_down_or_stalled(
    live, second_live, operator, approver, emulator, celery_app, settings
):
    settings.STOP_RELAY_DELAY_SECONDS = 1
    set_policy(live, 1)
    set_policy(second_live, 1)
    old = DeploymentFactory(environment=live.environment, deployment_number=1000, state="COMPLETE")
    directory = Path(tempfile.mkdtemp(prefix="outage-redis-"))
    port = free_port()
    point_celery_at(celery_app, f"redis://127.0.0.1:{port}/0")
    client, approving = Client(), Client()
    client.force_login(operator)
    approving.force_login(approver)

    # 1. Down: nothing listens on the broker's port.
    down = _exercise(client, approving, live, old, "broker down")
    assert "task queue cannot be reached" in down[1][3].content.decode()  # the page says the fetch is delayed
    assert "task queue cannot be reached" in down[2][3].content.decode() or down[2][1] == 302

    redis = start_redis(port, directory)
    try:
        # 2. Stalled: the process accepts connections and answers nothing.
        cache.clear()  # the throttles would otherwise spare the broker this time
        os.kill(redis.pid, signal.SIGSTOP)
        try:
            stalled = _exercise(client, approving, second_live, old, "broker stalled")
        finally:
            os.kill(redis.pid, signal.SIGCONT)

        for what, status, seconds, _ in down + stalled:
            print(f"{what}: {status} in {seconds:.3f} s")  # noqa: T201 - the figures for the record
            assert status < 500, f"{what}: {status}"
            assert seconds < ANSWER_WITHIN_SECONDS, f"{what} took {seconds:.2f} s"
        approved = list(StopRequest.objects.filter(status=StopStatus.APPROVED).values_list("pk", flat=True))
        assert len(approved) == 2  # both committed, although neither execution could be published

        # 3. Back: the relay offers what was approved and never published; each runs exactly once.
        from celery.contrib.testing.worker import start_worker

        with start_worker(
            celery_app,
            pool="threads",
            concurrency=2,
            queues=["sync", "live", "stops"],
            perform_ping_check=False,
        ):
            wait_until(lambda: set(approved) <= set(services.stop_requests_relay()))
            tasks.stop_relay.delay()
            wait_until(
                lambda: StopRequest.objects.filter(pk__in=approved, status=StopStatus.SUCCEEDED).count() == 2,
                timeout=60,
            )
    finally:
        redis.terminate()
        redis.wait(timeout=10)

    assert emulator.counters()["StopDeployment"] == 2
