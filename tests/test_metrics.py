"""/metrics (portal/metrics.py): a 404 unless the scraper has the token or comes from an allowed network, and
each of the console's own metrics with the right value after a sync, a stop, a failed stop, a pending
request, an audit verification and queued messages; the request metrics by view from django-prometheus."""

from __future__ import annotations

import math

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from audit.verify import chain_verify
from deployments import sync
from deployments.models import SyncRun
from portal.embedded import free_port
from stops import services
from tests.helpers import set_policy

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def scraper(settings, client, redis_url):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.CELERY_BROKER_URL = redis_url

    def scrape() -> dict[tuple[str, tuple], float]:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200, response.status_code
        assert response["Content-Type"].startswith("text/plain")
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples
        }

    return scrape


def _value(samples: dict, name: str, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_it_answers_404_without_the_token(client, settings, viewer):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []

    assert client.get("/metrics").status_code == 404
    assert (
        client.get("/metrics", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 404
    )
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 404
    client.force_login(viewer)  # signing in is not enough either
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_it_answers_404_to_everyone_when_nothing_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_it_answers_an_allowed_network_only(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert client.get("/metrics").status_code == 404  # the test client is 127.0.0.1
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "127.0.0.0/8"]
    assert client.get("/metrics").status_code == 200
    # A forged X-Forwarded-For from an untrusted peer changes nothing.
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 404


def test_it_reports_sync_freshness_api_calls_and_deployments_in_progress(live, scraper):
    samples = scraper()

    assert 0 <= _value(samples, "appconfig_console_sync_last_success_age_seconds", account="test") < 60
    assert _value(samples, "appconfig_console_sync_failing", account="test") == 0
    assert _value(samples, "appconfig_console_sync_first_in_progress", account="test") == 0
    calls = sum(SyncRun.objects.values_list("api_calls", flat=True))
    assert calls > 0
    assert _value(samples, "appconfig_console_sync_api_calls", account="test") == calls
    assert _value(samples, "appconfig_console_sync_throttled_runs", account="test") == 0
    assert _value(samples, "appconfig_console_deployments_in_progress", account="test") == 1


def test_it_counts_throttling_answers_that_were_waited_out(account, emulator, scraper, settings):
    settings.APPCONFIG_THROTTLE_RETRY_SECONDS = 30.0
    emulator.seed_estate(applications=1, environments=1)
    emulator.add_fault(operation="ListEnvironments", kind="throttle", count=4)

    sync.sync_account(account=account)

    samples = scraper()
    assert _value(samples, "appconfig_console_sync_throttles", account="test") == 4
    assert _value(samples, "appconfig_console_sync_throttled_runs", account="test") == 0  # none failed


def test_it_reports_a_never_synced_account_as_infinitely_old_and_a_throttled_sync(account, emulator, scraper):
    assert math.isinf(_value(scraper(), "appconfig_console_sync_last_success_age_seconds", account="test"))

    emulator.add_fault(operation="ListApplications", kind="throttle", count=None)
    with pytest.raises(sync.AppConfigError):
        sync.sync_account(account=account)

    samples = scraper()
    assert _value(samples, "appconfig_console_sync_failing", account="test") == 1
    assert _value(samples, "appconfig_console_sync_throttled_runs", account="test") == 1
    assert _value(samples, "appconfig_console_deployments_in_progress", account="test") == 0


def test_it_reports_a_first_sync_in_progress(account, scraper):
    from django.utils import timezone

    SyncRun.objects.create(scope="account", account=account, started_at=timezone.now())
    assert _value(scraper(), "appconfig_console_sync_first_in_progress", account="test") == 1


def test_it_reports_a_stop_by_outcome_and_its_approval_to_call_latency(live, operator, enqueued, scraper):
    set_policy(live, 0)
    request = services.stop_request_create(deployment=live, user=operator, reason="error rate up")
    services.stop_request_execute(stop_request_id=request.pk)
    request.refresh_from_db()
    assert request.status == "succeeded"

    samples = scraper()

    assert _value(samples, "appconfig_console_stop_requests_finished_total", status="succeeded") == 1
    assert _value(samples, "appconfig_console_stop_requests_finished_total", status="failed") == 0
    assert _value(samples, "appconfig_console_stop_requests_open", status="approved") == 0
    latency = (request.stop_called_at - request.approved_at).total_seconds()
    assert _value(samples, "appconfig_console_stop_approval_to_call_seconds_count") == 1
    assert _value(samples, "appconfig_console_stop_approval_to_call_seconds_sum") == pytest.approx(latency)
    assert _value(samples, "appconfig_console_stop_approval_to_call_seconds_bucket", le="+Inf") == 1
    assert _value(samples, "appconfig_console_stop_approval_to_call_seconds_bucket", le="600.0") == 1


def test_it_reports_a_failed_stop(live, operator, emulator, enqueued, scraper):
    set_policy(live, 0)
    request = services.stop_request_create(deployment=live, user=operator, reason="error rate up")
    emulator.advance(60 * 60)  # it completes before the stop runs: failed, StopDeployment never sent
    services.stop_request_execute(stop_request_id=request.pk)
    request.refresh_from_db()
    assert request.status == "failed"

    samples = scraper()

    assert _value(samples, "appconfig_console_stop_requests_finished_total", status="failed") == 1
    assert _value(samples, "appconfig_console_stop_requests_finished_total", status="succeeded") == 0
    assert _value(samples, "appconfig_console_stop_approval_to_call_seconds_count") == 0


def test_it_reports_pending_stop_requests_and_the_oldest_ones_age(live, operator, enqueued, scraper):
    set_policy(live, 1)
    services.stop_request_create(deployment=live, user=operator, reason="bad config")

    samples = scraper()

    assert _value(samples, "appconfig_console_stop_requests_open", status="pending") == 1
    assert _value(samples, "appconfig_console_stop_requests_open", status="approved") == 0
    assert (
        0 <= _value(samples, "appconfig_console_stop_request_oldest_open_age_seconds", status="pending") < 60
    )
    assert _value(samples, "appconfig_console_stop_request_oldest_open_age_seconds", status="approved") == 0


def test_it_reports_the_audit_chain_verification(live, operator, enqueued, scraper):
    samples = scraper()
    assert math.isinf(_value(samples, "appconfig_console_audit_verified_age_seconds"))
    assert ("appconfig_console_audit_chain_ok", ()) not in samples

    services.stop_request_create(deployment=live, user=operator, reason="an audited event")
    result, _ = chain_verify()

    samples = scraper()
    assert _value(samples, "appconfig_console_audit_chain_ok") == 1
    assert 0 <= _value(samples, "appconfig_console_audit_verified_age_seconds") < 60
    assert 0 <= _value(samples, "appconfig_console_audit_verification_age_seconds") < 60
    assert _value(samples, "appconfig_console_audit_verified_sequence") == result.last_sequence > 0


def test_it_reports_the_queues_depth_and_an_unreachable_broker(scraper, settings, redis_url):
    broker = redis.Redis.from_url(redis_url)
    broker.delete("sync", "stops", "stops\x06\x169")
    broker.lpush("sync", "a", "b", "c")
    broker.lpush("stops\x06\x169", "prioritised")
    try:
        samples = scraper()
    finally:
        broker.delete("sync", "stops\x06\x169")
    assert _value(samples, "appconfig_console_broker_up") == 1
    assert _value(samples, "appconfig_console_queue_length", queue="sync") == 3
    assert _value(samples, "appconfig_console_queue_length", queue="stops") == 1

    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    samples = scraper()
    assert _value(samples, "appconfig_console_broker_up") == 0
    assert ("appconfig_console_queue_length", (("queue", "sync"),)) not in samples


def test_it_reports_request_latency_and_status_by_view(client_for, viewer, scraper):
    client_for(viewer).get("/")
    samples = scraper()
    by_view = {
        labels: value
        for (name, labels), value in samples.items()
        if name == "django_http_responses_total_by_status_view_method_total"
    }
    assert any(
        dict(labels).get("view") == "dashboard" and dict(labels)["status"] == "200" for labels in by_view
    )
    assert any(
        name == "django_http_requests_latency_seconds_by_view_method_count"
        and dict(labels)["view"] == "dashboard"
        for name, labels in samples
    )
