"""Exactly once, under concurrency and failure, with real components: the emulator's StopDeployment counter
against concurrent approvals, duplicate deliveries, a worker killed mid-call and a broker that was down."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from deployments.models import Role, StopRequest, StopStatus
from portal.embedded import free_port, start_redis
from stops import services, tasks
from tests.helpers import point_celery_at, wait_until, worker_idle, worker_process


def _stopped_in_appconfig(deployment) -> bool:
    from deployments.appconfig import client_for

    environment = deployment.environment
    answer = client_for(environment.application.account).get_deployment(
        environment.application.application_id, environment.environment_id, deployment.deployment_number
    )
    return answer["State"] == "ROLLED_BACK"


def _status(stop_request: StopRequest) -> str:
    return StopRequest.objects.values_list("status", flat=True).get(pk=stop_request.pk)


@pytest.mark.django_db(transaction=True)
def test_it_executes_once_for_twenty_concurrent_approvals(
    live, operator, make_user, emulator, celery_worker, redis_url
):
    environment = live.environment
    environment.approvals_required = 1
    environment.save()
    stop_request = services.stop_request_create(deployment=live, user=operator, reason="bad rollout")
    approvers = [make_user(Role.APPROVER, username=f"approver-{i}") for i in range(20)]
    url = reverse("stop_request_approve", args=[stop_request.pk])
    barrier = threading.Barrier(len(approvers))
    statuses: list[int] = []

    def post(user) -> None:
        client = Client()
        client.force_login(user)
        barrier.wait()
        statuses.append(client.post(url, {"comment": "go"}).status_code)
        connection.close()

    threads = [threading.Thread(target=post, args=(user,)) for user in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    wait_until(lambda: _status(stop_request) == StopStatus.SUCCEEDED)
    wait_until(lambda: worker_idle(redis_url))  # any duplicate execution has run by now
    assert sorted(statuses).count(302) == 1
    assert sorted(statuses).count(409) == 19
    assert stop_request.decisions.count() == 1
    assert emulator.counters()["StopDeployment"] == 1


@pytest.mark.django_db(transaction=True)
def test_it_calls_stop_once_when_the_task_is_delivered_twice(
    live, operator, emulator, celery_worker, redis_url
):
    environment = live.environment
    environment.approvals_required = 0
    environment.save()
    stop_request = services.stop_request_create(deployment=live, user=operator, reason="bad")  # enqueues once
    tasks.stop_execute.delay(stop_request_id=stop_request.pk)  # and a duplicate delivery

    wait_until(lambda: _status(stop_request) == StopStatus.SUCCEEDED)
    wait_until(lambda: worker_idle(redis_url))  # the duplicate delivery has run by now
    assert emulator.counters()["StopDeployment"] == 1


@pytest.mark.django_db(transaction=True)
def test_it_loses_no_approved_request_while_the_broker_is_down(
    live, operator, emulator, celery_app, settings
):
    settings.STOP_RELAY_DELAY_SECONDS = 1
    directory = Path(tempfile.mkdtemp(prefix="down-redis-"))
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    point_celery_at(celery_app, redis_url)
    environment = live.environment
    environment.approvals_required = 0
    environment.save()

    # The broker is down when the request is approved: the commit stands, the publish fails quietly.
    stop_request = services.stop_request_create(deployment=live, user=operator, reason="bad")
    assert _status(stop_request) == StopStatus.APPROVED

    redis = start_redis(port, directory)
    try:
        from celery.contrib.testing.worker import start_worker

        with start_worker(
            celery_app,
            pool="threads",
            concurrency=2,
            queues=["sync", "live", "stops"],
            perform_ping_check=False,
        ):
            # The relay offers what nobody claimed for STOP_RELAY_DELAY_SECONDS: wait for that, not a guess.
            wait_until(lambda: stop_request.pk in services.stop_requests_relay())
            tasks.stop_relay.delay()  # what beat does every few seconds
            wait_until(lambda: _status(stop_request) == StopStatus.SUCCEEDED)
    finally:
        redis.terminate()
        redis.wait(timeout=10)
    assert emulator.counters()["StopDeployment"] == 1


# The shortest time limit settings accept, and a lease just above it (settings refuse a lease that a live
# worker could outlast), so the takeover comes a few seconds after the kill.
TASK_TIME_LIMIT = 5
LEASE = TASK_TIME_LIMIT + 1


def _worker_process(redis_url: str, lease: int) -> subprocess.Popen:
    return worker_process(
        redis_url,
        queues="stops",
        STOP_EXECUTION_LEASE_SECONDS=str(lease),
        STOP_TASK_TIME_LIMIT=str(TASK_TIME_LIMIT),
        APPCONFIG_READ_TIMEOUT="15",
    )


@pytest.mark.django_db(transaction=True)
def test_it_survives_a_worker_killed_while_stop_deployment_is_in_flight(
    live, operator, emulator, celery_app, redis_url, settings
):
    settings.STOP_EXECUTION_LEASE_SECONDS = LEASE
    environment = live.environment
    environment.approvals_required = 0
    environment.save()
    emulator.add_fault(operation="StopDeployment", kind="latency", count=1, seconds=3)
    worker = _worker_process(redis_url, lease=LEASE)
    try:
        stop_request = services.stop_request_create(deployment=live, user=operator, reason="bad")
        wait_until(lambda: emulator.counters().get("StopDeployment", 0) == 1)
        os.killpg(worker.pid, signal.SIGKILL)  # the worker dies mid-call; AppConfig still applies the stop
        worker.wait(timeout=10)
        assert _status(stop_request) == StopStatus.EXECUTING

        # The emulator applies the stop (answering nobody) and the lease lapses: the relay then offers it.
        wait_until(lambda: _stopped_in_appconfig(live))
        wait_until(lambda: stop_request.pk in services.stop_requests_relay(), timeout=60)
        worker = _worker_process(redis_url, lease=LEASE)
        tasks.stop_relay.delay()  # beat's relay finds the silent executing request
        wait_until(lambda: _status(stop_request) == StopStatus.SUCCEEDED, timeout=60)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

    stop_request.refresh_from_db()
    assert stop_request.attempts == 2
    assert emulator.counters()["StopDeployment"] == 1  # the takeover reconciled instead of calling again
    live.refresh_from_db()
    assert live.state == "ROLLED_BACK"
