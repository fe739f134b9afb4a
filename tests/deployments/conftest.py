"""Fixtures for the deployments tests: a small visible estate built with factories, URL helpers, and a
deployment in progress in the real emulator for the stop tests."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from deployments import stopping, sync
from deployments.models import Deployment, Environment
from tests.deployments.seeding import make_target, start
from tests.factories import ApplicationFactory, DeploymentEventFactory, DeploymentFactory, EnvironmentFactory

HX = {"HX-Request": "true"}


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


def set_policy(deployment: Deployment, approvals: int, *, critical: bool = False) -> Deployment:
    """The stop policy of the deployment's environment: approvals needed, critical or not."""
    Environment.objects.filter(pk=deployment.environment_id).update(
        approvals_required=approvals, is_critical=critical
    )
    deployment.environment.refresh_from_db()
    return deployment


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
def enqueued(monkeypatch):
    """Record what would be published to the broker instead of publishing it."""
    calls = {"execute": [], "notify": []}
    monkeypatch.setattr(stopping, "_enqueue_execution", lambda pk: calls["execute"].append(pk))
    monkeypatch.setattr(
        stopping, "_enqueue_notification", lambda pk, event: calls["notify"].append((pk, event))
    )
    return calls
