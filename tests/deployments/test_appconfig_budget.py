"""Each Account's API budget: one Redis token bucket shared by every process, a reserve that full passes
leave to urgent calls, a local bucket when Redis is down, and throttling waited out instead of failing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from deployments import sync
from deployments.appconfig import background_calls, client_for
from deployments.models import SyncRun
from portal.embedded import free_port
from portal.ratelimit import Budget, RateLimitTimeout, SharedRateLimiter
from tests.helpers import BASE_DIR

# A few hundredths of a token a second: nothing refills during a test, so what is taken is what was there.
NO_REFILL = 0.001


def _take_all(limiter: SharedRateLimiter, budget: Budget, *, urgent: bool) -> int:
    taken = 0
    while True:
        try:
            limiter.acquire(budget, urgent=urgent, timeout=1.0)
        except RateLimitTimeout:
            return taken
        taken += 1


@pytest.mark.parametrize("redis", ["up", "down"])
def test_it_leaves_the_reserve_to_urgent_callers(redis, redis_url):
    url = redis_url if redis == "up" else f"redis://127.0.0.1:{free_port()}/0"
    limiter = SharedRateLimiter(lambda: url)
    budget = Budget(f"test-budget-{redis}-{free_port()}", rate=NO_REFILL, capacity=10, reserve=3)

    assert _take_all(limiter, budget, urgent=False) == 7  # a full pass stops at the reserve
    assert _take_all(limiter, budget, urgent=True) == 3  # a stop still finds the rest
    assert _take_all(limiter, budget, urgent=False) == 0


def test_it_shares_one_bucket_between_limiters(redis_url):
    """Two limiters (as in two processes) draw from the same tokens in Redis."""
    budget = Budget(f"test-budget-shared-{free_port()}", rate=NO_REFILL, capacity=6, reserve=0)
    first, second = SharedRateLimiter(lambda: redis_url), SharedRateLimiter(lambda: redis_url)

    assert _take_all(first, budget, urgent=True) == 6
    assert _take_all(second, budget, urgent=True) == 0


CALLER = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
import django
django.setup()
from deployments.appconfig import client_for
from deployments.models import Account
account = Account(pk=int(sys.argv[1]), name="test", region="us-east-1", endpoint_url=sys.argv[2],
                  api_rate_limit=float(sys.argv[3]))
client = client_for(account)
for _ in range(int(sys.argv[4])):
    client.list_applications()
"""


@pytest.mark.django_db
def test_it_holds_the_rate_across_two_processes(account, emulator, redis_url):
    # AppConfig allows 5 calls a second (burst 5); the Account asks for 4; two processes call as fast as
    # they can. Each on its own bucket would make 8 a second and be throttled.
    emulator.set_rate_limit(5, 5)
    emulator.reset_counters()
    env = {
        "REDIS_URL": redis_url,
        "DJANGO_SECRET_KEY": "tests-only",
        "AWS_ACCESS_KEY_ID": "AKIATESTCONSOLE",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "APPCONFIG_MAX_ATTEMPTS": "1",  # a throttled call fails the process: nothing hides a 429
        "APPCONFIG_THROTTLE_RETRY_SECONDS": "0",
        "PATH": "/usr/bin:/bin",
    }
    args = [str(account.pk), emulator.url, "4", "12"]
    callers = [
        subprocess.Popen([sys.executable, "-c", CALLER, *args], cwd=BASE_DIR, env=env) for _ in range(2)
    ]
    assert [caller.wait(timeout=60) for caller in callers] == [0, 0]

    assert emulator.counters()["ListApplications"] == 24
    assert emulator.throttled() == {}


def test_it_waits_out_throttling_and_counts_it(account, emulator, settings):
    settings.APPCONFIG_THROTTLE_RETRY_SECONDS = 30.0
    emulator.seed_estate(applications=2, environments=2, deployments=3)
    # More throttling answers than botocore's own attempts (3 in the tests): once a run failure.
    emulator.add_fault(operation="ListDeployments", kind="throttle", count=5)
    emulator.reset_counters()

    with background_calls():
        sync.sync_account(account=account)

    runs = SyncRun.objects.all()
    assert {run.status for run in runs} == {SyncRun.Status.SUCCEEDED}
    assert sum(run.throttles for run in runs) == 5
    assert emulator.throttled() == {"ListDeployments": 5}
    # Every attempt is counted and paid for: 1 + 2 ListEnvironments + 4 ListDeployments, plus the 5 refused.
    assert sum(run.api_calls for run in runs) == 1 + 2 + 4 + 5
    assert client_for(account).throttles == 5
