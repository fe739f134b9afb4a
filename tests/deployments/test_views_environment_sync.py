"""The operator's "Sync now" on an environment: POST only, sync_now permission (403 + audit otherwise),
404 when invisible, the task enqueued after commit, at most once per 5 s per environment, HTMX partial."""

import pytest

from audit.models import AuditEvent
from deployments import tasks
from deployments.models import Role
from deployments.roles import role_grant
from tests.factories import ApplicationFactory
from tests.helpers import HX, environment_url

pytestmark = pytest.mark.django_db


def _url(environment) -> str:
    return environment_url(environment) + "sync/"


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.sync_environment_task, "apply_async", lambda kwargs, **_: calls.append(kwargs))
    return calls


def test_it_enqueues_a_sync_after_commit_and_records_it(
    client_for, operator, estate, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(operator).post(_url(estate.environment))

    assert response.status_code == 302 and response["Location"] == environment_url(estate.environment)
    assert len(callbacks) == 1
    assert queued == [{"environment_id": estate.environment.pk}]
    record = AuditEvent.objects.get(action="sync.requested")
    assert record.outcome == "success"
    page = client_for(operator).get(response["Location"]).content.decode()
    assert "Sync of prod requested" in page


def test_it_throttles_a_repeated_request_politely(
    client_for, operator, estate, queued, django_capture_on_commit_callbacks
):
    client = client_for(operator)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url(estate.environment), headers=HX)
        second = client.post(_url(estate.environment), headers=HX)

    assert second.status_code == 200
    assert "was requested moments ago" in second.content.decode()
    assert queued == [{"environment_id": estate.environment.pk}]
    assert AuditEvent.objects.filter(action="sync.requested").count() == 1


def test_it_answers_htmx_with_the_sync_partial(client_for, operator, estate, queued):
    response = client_for(operator).post(_url(estate.environment), headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="sync-now"') and 'role="status"' in html and "<html" not in html


def test_it_refuses_get(client_for, operator, estate):
    assert client_for(operator).get(_url(estate.environment)).status_code == 405


def test_it_refuses_and_audits_a_viewer(client_for, viewer, estate, queued):
    response = client_for(viewer).post(_url(estate.environment))
    assert response.status_code == 403
    assert queued == []
    assert AuditEvent.objects.filter(outcome="denied").exists()


def test_it_refuses_an_operator_of_another_application(client_for, make_user, estate, queued):
    # Sees every application, operates only another one.
    user = make_user(Role.VIEWER)
    role_grant(user=user, role=Role.OPERATOR, application=ApplicationFactory())
    assert client_for(user).post(_url(estate.environment)).status_code == 403
    assert queued == []


def test_it_answers_404_for_an_invisible_environment(client_for, outsider, estate, queued):
    assert client_for(outsider).post(_url(estate.environment)).status_code == 404
    assert queued == []


def test_it_sends_anonymous_users_to_log_in(client, estate, queued):
    response = client.post(_url(estate.environment))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert queued == []


def test_it_throttles_across_web_processes_when_the_cache_is_shared(
    client_for, operator, estate, queued, redis_url, monkeypatch
):
    """With CACHE_URL set, two web processes (two cache clients of one Redis) share the throttle."""
    import uuid

    from django.core.cache.backends.redis import RedisCache

    from deployments import enqueue

    prefix = f"test-{uuid.uuid4()}"
    processes = [RedisCache(redis_url, {"KEY_PREFIX": prefix}) for _ in range(2)]
    client = client_for(operator)

    monkeypatch.setattr(enqueue, "cache", processes[0])
    assert "Sync of prod requested" in client.post(_url(estate.environment), follow=True).content.decode()
    monkeypatch.setattr(enqueue, "cache", processes[1])
    assert "requested moments ago" in client.post(_url(estate.environment), follow=True).content.decode()
    assert AuditEvent.objects.filter(action="sync.requested").count() == 1
