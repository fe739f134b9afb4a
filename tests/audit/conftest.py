"""Fixtures for the audit trail's tests: events made through the real record(), deployments to point them
at, and a way to tamper with the table behind the application's back."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from audit.models import AuditEvent
from audit.records import record
from tests.factories import DeploymentFactory, EnvironmentFactory


@pytest.fixture
def deployment(db):
    environment = EnvironmentFactory(
        application__application_id="pay1234",
        application__name="payments",
        environment_id="prod123",
        name="prod",
    )
    return DeploymentFactory(environment=environment, deployment_number=7, state="DEPLOYING")


@pytest.fixture
def make_events(db):
    """`make_events(n, **record_kwargs)`: n events through record(), oldest first."""

    def make(count: int, **kwargs) -> list[AuditEvent]:
        kwargs.setdefault("action", "sync.requested")
        return [record(**kwargs) for _ in range(count)]

    return make


@pytest.fixture
def web_request(rf: RequestFactory):
    """`web_request(user=None, **meta)`: a GET request as the middleware would leave it."""

    def make(user=None, path: str = "/somewhere/", **meta):
        request = rf.get(path, **meta)
        if user is not None:
            request.user = user
        else:
            from django.contrib.auth.models import AnonymousUser

            request.user = AnonymousUser()
        return request

    return make
