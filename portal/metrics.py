"""/metrics: Prometheus metrics, for whoever may scrape them (a bearer token or an allowed network; 404 to
anyone else, so the endpoint's existence is not revealed).

Two sources, one answer:
- Requests (django-prometheus's middleware): latency and status by view. Each gunicorn worker counts its
  own; with PROMETHEUS_MULTIPROC_DIR set (portal/gunicorn.conf.py sets it) the answer adds up every worker's
  files, whichever worker serves the scrape.
- The console itself (`ConsoleCollector`): computed at scrape time from the database and the broker, a
  fixed handful of indexed queries, so any worker (or host) gives the same answer and nothing needs to be
  counted in process memory. Sync freshness, AppConfig API calls, deployments in progress, stop requests
  (open, finished by outcome, approval-to-StopDeployment latency), audit chain verification, queue depth.

Alert rules that go with these: docs/alerts.yml.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import os
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count, Min, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.utils import floatToGoString

from audit.models import AuditVerification
from audit.records import client_ip
from deployments.models import ACTIVE_STATES, OPEN_STOP_STATUSES, Deployment, StopRequest, StopStatus, SyncRun
from deployments.selectors import sync_health
from portal.queue import waiting

logger = logging.getLogger(__name__)

PREFIX = "appconfig_console"
QUEUES = ("sync", "live", "stops")
# Approval to StopDeployment, seconds: the relay re-enqueues after STOP_RELAY_DELAY_SECONDS (15).
STOP_LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600)
FINAL_STOP_STATUSES = [s for s in StopStatus.values if s not in OPEN_STOP_STATUSES]
_THROTTLED = Q(error__icontains="Throttl") | Q(error__icontains="TooManyRequests")


# ---------------------------------------------------------------------------------------------------------
# Who may scrape


def _networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in settings.METRICS_ALLOWED_NETWORKS]


def may_scrape(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode()):
            return True
    if settings.METRICS_ALLOWED_NETWORKS:
        try:
            address = ipaddress.ip_address(client_ip(request))
        except ValueError:
            return False
        return any(address in network for network in _networks())
    return False


@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        raise Http404
    return HttpResponse(generate_latest(_Scrape()), content_type=CONTENT_TYPE_LATEST)


class _Scrape:
    """What one scrape reports: the request metrics (every worker's, in multiprocess mode) and the
    console's own."""

    def collect(self) -> Iterator[Metric]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            yield from registry.collect()
        else:
            yield from REGISTRY.collect()
        yield from ConsoleCollector().collect()


# ---------------------------------------------------------------------------------------------------------
# The console's own metrics


def _age(now: datetime, then: datetime | None) -> float:
    """Seconds since `then`; +Inf for never, so that "older than" alerts fire for it too."""
    return (now - then).total_seconds() if then is not None else math.inf


class ConsoleCollector:
    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or timezone.now()
        self.health = sync_health()  # enabled accounts, with their latest and latest successful full sync

    def collect(self) -> Iterator[Metric]:
        yield from self._sync()
        yield from self._deployments()
        yield from self._stops()
        yield from self._audit()
        yield from self._queues()

    def _sync(self) -> Iterator[Metric]:
        age = GaugeMetricFamily(
            f"{PREFIX}_sync_last_success_age_seconds",
            "Seconds since the account's last successful full sync finished (+Inf: never)",
            labels=["account"],
        )
        failing = GaugeMetricFamily(
            f"{PREFIX}_sync_failing",
            "1 when the account's latest full sync failed, or applications failed since its last success",
            labels=["account"],
        )
        first = GaugeMetricFamily(
            f"{PREFIX}_sync_first_in_progress",
            "1 while the account's first full sync runs (none has finished yet)",
            labels=["account"],
        )
        for row in self.health:
            name = row.account.name
            finished = row.last_success and (row.last_success.finished_at or row.last_success.started_at)
            age.add_metric([name], _age(self.now, finished))
            last_failed = row.last_run is not None and row.last_run.status == SyncRun.Status.FAILED
            failing.add_metric([name], 1.0 if last_failed or row.failing_applications else 0.0)
            first.add_metric([name], 1.0 if row.first_sync_in_progress else 0.0)
        yield from (age, failing, first)

        window = settings.METRICS_WINDOW_SECONDS
        calls = GaugeMetricFamily(
            f"{PREFIX}_sync_api_calls",
            f"AppConfig API calls (retries included) of sync runs started in the last {window} s",
            labels=["account"],
        )
        throttled = GaugeMetricFamily(
            f"{PREFIX}_sync_throttled_runs",
            f"Sync runs started in the last {window} s that failed on AppConfig throttling (after "
            "botocore's own retries; a throttle retried successfully is counted in the API calls only)",
            labels=["account"],
        )
        throttles = GaugeMetricFamily(
            f"{PREFIX}_sync_throttles",
            f"Throttling answers (429) AppConfig gave sync runs started in the last {window} s, retried or "
            "not: above zero, the account's API rate limit is higher than what AppConfig allows the console",
            labels=["account"],
        )
        accounts = {row.account.pk: row.account.name for row in self.health}
        # Served by syncrun_latest_idx (account, scope, -started_at): an equality on the first two columns.
        rows = {
            row["account"]: row
            for row in SyncRun.objects.filter(
                account__in=list(accounts),
                scope__in=SyncRun.Scope.values,
                started_at__gte=self.now - timedelta(seconds=window),
            )
            .order_by()
            .values("account")
            .annotate(
                calls=Sum("api_calls"),
                throttles=Sum("throttles"),
                throttled=Count("pk", filter=Q(status="failed") & _THROTTLED),
            )
        }
        for pk, name in accounts.items():
            row = rows.get(pk, {})
            calls.add_metric([name], float(row.get("calls") or 0))
            throttled.add_metric([name], float(row.get("throttled") or 0))
            throttles.add_metric([name], float(row.get("throttles") or 0))
        yield from (calls, throttled, throttles)

    def _deployments(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            f"{PREFIX}_deployments_in_progress",
            "Deployments AppConfig may still change (DEPLOYING, BAKING, VALIDATING, ROLLING_BACK), as cached",
            labels=["account"],
        )
        # deployment_active_idx (partial, on the active states).
        counts = dict(
            Deployment.objects.filter(state__in=ACTIVE_STATES, environment__deleted_at__isnull=True)
            .order_by()
            .values_list("environment__application__account__name")
            .annotate(n=Count("pk"))
        )
        for row in self.health:
            counts.setdefault(row.account.name, 0)
        for name, n in sorted(counts.items()):
            gauge.add_metric([name], float(n))
        yield gauge

    def _stops(self) -> Iterator[Metric]:
        open_count = GaugeMetricFamily(
            f"{PREFIX}_stop_requests_open",
            "Open stop requests by status (pending: waiting for approvals; approved: waiting to run; "
            "executing)",
            labels=["status"],
        )
        oldest = GaugeMetricFamily(
            f"{PREFIX}_stop_request_oldest_open_age_seconds",
            "Age of the oldest open stop request in each status, since it entered it (created, approved, "
            "claimed); 0 when there is none",
            labels=["status"],
        )
        # stop_request_open_idx (partial, on the open statuses).
        rows = {
            row["status"]: row
            for row in StopRequest.objects.filter(status__in=OPEN_STOP_STATUSES)
            .order_by()
            .values("status")
            .annotate(
                n=Count("pk"),
                created=Min("created_at"),
                approved=Min("approved_at"),
                claimed=Min("claimed_at"),
            )
        }
        since = {"pending": "created", "approved": "approved", "executing": "claimed"}
        for status in OPEN_STOP_STATUSES:
            row = rows.get(status.value, {})
            open_count.add_metric([status.value], float(row.get("n") or 0))
            entered = row.get(since[status.value])
            oldest.add_metric([status.value], _age(self.now, entered) if entered else 0.0)
        yield from (open_count, oldest)

        finished = CounterMetricFamily(
            f"{PREFIX}_stop_requests_finished",
            "Stop requests that reached a final status, by status (succeeded, failed, superseded, rejected, "
            "cancelled, expired), since the console began",
            labels=["status"],
        )
        counts = dict(
            StopRequest.objects.filter(status__in=FINAL_STOP_STATUSES)
            .order_by()
            .values_list("status")
            .annotate(n=Count("pk"))
        )
        for status in FINAL_STOP_STATUSES:
            finished.add_metric([status], float(counts.get(status, 0)))
        yield finished

        window = settings.METRICS_WINDOW_SECONDS
        latencies = [
            (called - approved).total_seconds()
            for approved, called in StopRequest.objects.filter(
                finished_at__gte=self.now - timedelta(seconds=window),
                approved_at__isnull=False,
                stop_called_at__isnull=False,
            ).values_list("approved_at", "stop_called_at")
        ]
        buckets = [
            (floatToGoString(b), float(sum(1 for s in latencies if s <= b))) for b in STOP_LATENCY_BUCKETS
        ]
        buckets.append(("+Inf", float(len(latencies))))
        yield HistogramMetricFamily(
            f"{PREFIX}_stop_approval_to_call_seconds",
            f"Seconds from a stop request's approval to its StopDeployment call, over the requests finished "
            f"in the last {window} s (a window, not a running total: read it without rate())",
            buckets=buckets,
            sum_value=sum(latencies),
        )

    def _audit(self) -> Iterator[Metric]:
        latest = AuditVerification.objects.order_by("-checked_at", "-id").first()
        verified = (
            latest if latest is not None and latest.ok else AuditVerification.objects.filter(ok=True).first()
        )
        ok = GaugeMetricFamily(
            f"{PREFIX}_audit_chain_ok",
            "1 when the latest verification found the audit chain intact, 0 when broken (absent: never run)",
        )
        if latest is not None:
            ok.add_metric([], 1.0 if latest.ok else 0.0)
        yield ok
        yield GaugeMetricFamily(
            f"{PREFIX}_audit_verification_age_seconds",
            "Seconds since the audit chain was last verified, intact or not (+Inf: never)",
            value=_age(self.now, latest.checked_at if latest else None),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_audit_verified_age_seconds",
            "Seconds since a verification last found the chain intact: the age of 'verified up to' "
            "(+Inf: never)",
            value=_age(self.now, verified.checked_at if verified else None),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_audit_verified_sequence",
            "The sequence number the audit chain was last verified up to (0: none)",
            value=float(verified.last_sequence or 0) if verified else 0.0,
        )

    def _queues(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(f"{PREFIX}_broker_up", "1 when the broker (Redis) answered this scrape")
        depth = GaugeMetricFamily(
            f"{PREFIX}_queue_length", "Messages waiting in a Celery queue on the broker", labels=["queue"]
        )
        lengths = {queue: waiting(queue) for queue in QUEUES}
        if None in lengths.values():
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        for queue, length in lengths.items():
            depth.add_metric([queue], float(length))
        yield from (up, depth)
