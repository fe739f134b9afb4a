"""Sync at organisation scale: many accounts, AWS-like latency and throttling, real workers, stops meanwhile.

One emulator per account (in this process, on loopback), each answering after LATENCY ms and throttling
above TPS calls a second (429 ThrottlingException); each Account's API budget set to the same TPS. A private
Redis, a scratch PostgreSQL database (`bench_scale_<pid>`, dropped at the end), and real Celery processes as
the Procfile runs them: `beat`, one `worker-live` (live refresh), one `worker-stops` and 1, 2, 4 `worker`
processes (full passes; `--workers`). For each worker count it times one full pass (the periodic
steady-state pass, after an initial sync) and prints, against the targets:

- wall time against the floor: the most an account's budget allows (the busiest account's calls, its full
  pass and the live refresh alike, divided by its TPS), or calls x latency / (worker processes x threads)
  where latency binds; API calls (checked exact: an incremental pass makes 1 ListApplications per 50
  applications, 1 ListEnvironments per application, 1 ListDeployments per environment, 1 GetDeployment per
  deployment in progress, plus its throttled attempts), throttling answers, failed sync runs;
- freshness of live deployments: the emulator's clock of one account at a time moves one step of its
  deployments in progress; seconds until the database rows show it (p50/p95);
- approval -> StopDeployment (reaching the emulator) p50/p95 during the pass, against the same measured with
  the workers idle.

    .venv/bin/python bench/bench_scale.py [--accounts 10 --applications 100 --environments 5
        --deployments 20 --active 200 --latency 30 --tps 10 --workers 1,2,4 --stops 8]

Targets (printed, not asserted): pass <= 1.2x floor; 0 failed runs; freshness p95 <= ACTIVE_REFRESH_SECONDS
+ 3 s; stop p95 during a pass <= 2x idle. Every wait is bounded (--pass-timeout).
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))
WORKDIR = Path(tempfile.mkdtemp(prefix="bench-scale-"))
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DATABASE = f"bench_scale_{os.getpid()}"
REFRESH_SECONDS = 5
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DJANGO_SECRET_KEY": "bench-only",
        "DATABASE_URL": f"{PG}/{DATABASE}",
        "AWS_ACCESS_KEY_ID": "AKIABENCHSCALE",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "LOG_LEVEL": "WARNING",
        "SYNC_AT_WORKER_START": "false",
        "SYNC_INTERVAL_SECONDS": "3600",  # the bench starts the full passes itself
        "ACTIVE_REFRESH_SECONDS": str(REFRESH_SECONDS),
        "STOP_APPROVALS_REQUIRED_DEFAULT": "1",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",  # stop notifications go nowhere
    }
)

from portal.embedded import free_port, start_redis  # noqa: E402

REDIS_PORT = free_port()
os.environ["REDIS_URL"] = f"redis://127.0.0.1:{REDIS_PORT}/0"

import django  # noqa: E402
import psycopg  # noqa: E402

# Step interval of the estate's deployments in progress (AppConfig.Linear20PercentEvery6Minutes: 30 min,
# five 20 % steps, one every 30 / (5 + 1) minutes), so one clock move is one visible change; once BAKING,
# one move of the whole bake (30 min) to COMPLETE.
STEP_SECONDS = 300.0
BAKE_SECONDS = 1800.0
# Between two clock moves: spreads each account's seven changes over the whole run, and at random, so that
# the moves do not fall into step with the refresh's beat.
PAUSE_SECONDS = (1.0, 5.0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def figures(values: list[float]) -> str:
    if not values:
        return "no samples"
    return f"p50 {statistics.median(values):6.2f} s  p95 {percentile(values, 0.95):6.2f} s  (n={len(values)})"


def create_database() -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def drop_database() -> None:
    from django.db import connections

    connections.close_all()
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def celery(*args: str) -> subprocess.Popen:
    # Their output goes to a file in the scratch directory: the figures are what this prints.
    log = open(WORKDIR / "celery.log", "ab")  # noqa: SIM115 - the child holds it; removed with WORKDIR
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", *args, "-l", "WARNING"],
        cwd=BASE,
        env=os.environ.copy(),
        stdout=log,
        stderr=log,
        start_new_session=True,
    )


def worker(queues: str, name: str, concurrency: int, pool: str = "prefork") -> subprocess.Popen:
    return celery(
        "worker", "-Q", queues, "-P", pool, "-c", str(concurrency), "-n", f"{name}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    )  # fmt: skip


def stop_process(process: subprocess.Popen) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_for(predicate, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise SystemExit(f"error: {what} not within {timeout:.0f} s")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from appconfig_emulator import Emulator, ManualClock
        from appconfig_emulator.pacing import Latency, RateLimit

        self.args = args
        start = datetime.now(UTC).replace(microsecond=0).timestamp() - 3600
        self.emulators = [
            Emulator(
                clock=ManualClock(start=datetime.fromtimestamp(start, UTC)),
                latency=Latency(args.latency, args.latency / 10),
                rate_limit=RateLimit.of(args.tps),
            ).start(host="127.0.0.1", port=0)
            for _ in range(args.accounts)
        ]
        self.phase = "setup"
        self.freshness: dict[str, list[float]] = defaultdict(list)
        self.missed: dict[str, int] = defaultdict(int)
        self.stopping = threading.Event()

    # --- set-up --------------------------------------------------------------------------------------------

    def seed(self) -> None:
        from deployments.models import Account

        args = self.args
        per_account = [args.active // args.accounts] * args.accounts
        for i in range(args.active % args.accounts):
            per_account[i] += 1
        for index, (emulator, active) in enumerate(zip(self.emulators, per_account, strict=True)):
            emulator.seed_estate(
                applications=args.applications,
                environments=args.environments,
                deployments=args.deployments,
                active=active,
            )
            # The initial sync (every deployment written once) is not what is measured: it runs here with
            # AppConfig's limit lifted and no budget, one thread per account.
            emulator.set_rate_limit(None)
            Account.objects.create(
                name=f"account-{index:02d}",
                region="us-east-1",
                endpoint_url=emulator.url,
                aws_account_id=f"{index + 1:012d}",
                api_rate_limit=0,
            )

    def initial_sync(self) -> float:
        from django.db import connection

        from deployments import sync
        from deployments.models import Account

        def one(account) -> None:
            sync.sync_account(account=account)
            connection.close()

        started = time.perf_counter()
        threads = [threading.Thread(target=one, args=(a,)) for a in Account.objects.order_by("name")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for emulator in self.emulators:
            emulator.set_rate_limit(self.args.tps)
        Account.objects.update(api_rate_limit=self.args.tps)
        return time.perf_counter() - started

    def users(self) -> None:
        from deployments.models import Role
        from deployments.roles import role_grant
        from tests.factories import UserFactory

        self.operator = UserFactory(username="bench-operator")
        self.approver = UserFactory(username="bench-approver")
        role_grant(user=self.operator, role=Role.OPERATOR)
        role_grant(user=self.approver, role=Role.APPROVER)

    def split_active(self) -> None:
        """Per account, the first deployments in progress are for stops, the others for freshness."""
        from deployments.models import ACTIVE_STATES, Deployment

        self.watched: dict[int, list[int]] = {}
        stops = self.args.stops * (1 + len(self.args.workers)) + 1  # and one to warm the worker up
        per_account_stops = -(-stops // self.args.accounts)
        targets: list[list[tuple[int, int]]] = []  # per account: (account index, deployment pk)
        for index in range(self.args.accounts):
            pks = list(
                Deployment.objects.filter(
                    state__in=ACTIVE_STATES, environment__application__account__name=f"account-{index:02d}"
                )
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            targets.append([(index, pk) for pk in pks[:per_account_stops]])
            self.watched[index] = pks[per_account_stops:]
        # Taken account by account in turn.
        self.stop_targets = [t for row in itertools.zip_longest(*targets) for t in row if t is not None]

    # --- measurements --------------------------------------------------------------------------------------

    def freshness_loop(self) -> None:
        """One account at a time: move its clock one step, then time each watched row until it changed."""
        from django.db import connection

        from deployments.models import ACTIVE_STATES, Deployment

        index = 0
        while not self.stopping.is_set():
            account = index % self.args.accounts
            index += 1
            watched = Deployment.objects.filter(pk__in=self.watched[account], state__in=ACTIVE_STATES)
            rows = dict(watched.values_list("pk", "version"))
            if not rows:
                self.stopping.wait(0.2)  # this account's watched deployments have all finished
                continue
            baking = watched.filter(state="BAKING").exists()
            phase = self.phase
            self.emulators[account].advance(BAKE_SECONDS if baking else STEP_SECONDS)
            moved = time.perf_counter()
            pending = dict(rows)
            deadline = moved + 3 * REFRESH_SECONDS + 30
            while pending and time.perf_counter() < deadline and not self.stopping.is_set():
                current = Deployment.objects.filter(pk__in=list(pending)).values_list("pk", "version")
                for pk, version in current:
                    if version > pending[pk]:
                        self.freshness[phase].append(time.perf_counter() - moved)
                        del pending[pk]
                time.sleep(0.1)
            if not self.stopping.is_set():
                self.missed[phase] += len(pending)
            self.stopping.wait(random.uniform(*PAUSE_SECONDS))  # noqa: S311 - not security
        connection.close()

    def stop_one(self) -> float:
        from deployments.models import Deployment, Environment
        from stops import services

        account, pk = self.stop_targets.pop(0)
        deployment = Deployment.objects.select_related("environment__application__account").get(pk=pk)
        Environment.objects.filter(pk=deployment.environment_id).update(approvals_required=1)
        deployment.environment.approvals_required = 1
        stop_request = services.stop_request_create(deployment=deployment, user=self.operator, reason="bench")
        emulator = self.emulators[account]
        before = emulator.counters().get("StopDeployment", 0)
        started = time.perf_counter()
        services.stop_request_approve(stop_request=stop_request, user=self.approver, comment="go")
        deadline = started + 120
        while emulator.counters().get("StopDeployment", 0) <= before:
            if time.perf_counter() > deadline:
                raise SystemExit("error: a stop did not reach AppConfig within 120 s")
            time.sleep(0.002)
        return time.perf_counter() - started

    def stops(self, count: int, spacing: float, until=None) -> list[float]:
        latencies = []
        for _ in range(count):
            if until is not None and until():
                break
            latencies.append(self.stop_one())
            time.sleep(spacing)
        return latencies

    # --- a full pass ---------------------------------------------------------------------------------------

    def full_pass(self, workers: int) -> dict:
        from django.db.models import Sum

        from deployments import tasks
        from deployments.models import SyncRun

        args = self.args
        for emulator in self.emulators:
            emulator.reset_counters()
        first = (SyncRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        active_before = self.active()
        applications = args.accounts * args.applications
        self.phase = f"pass-{workers}"
        started = time.perf_counter()
        tasks.sync_all_accounts.delay()

        def done() -> bool:
            runs = SyncRun.objects.filter(pk__gte=first, scope__in=["account", "application"])
            return runs.exclude(status="running").count() >= args.accounts + applications

        during: list[float] = []
        stopper = threading.Thread(
            target=lambda: during.extend(self.stops(args.stops, 2.0, until=done)), daemon=True
        )
        stopper.start()
        wait_for(done, args.pass_timeout, f"the full pass with {workers} worker(s)", every=0.1)
        elapsed = time.perf_counter() - started
        stopper.join(timeout=180)
        self.phase = f"after-{workers}"

        runs = SyncRun.objects.filter(pk__gte=first)
        pass_runs = runs.filter(scope__in=["account", "application"])
        by_account = defaultdict(int)
        for name, calls in (
            runs.filter(finished_at__isnull=False)
            .values_list("account__name")
            .annotate(calls=Sum("api_calls"))
            .order_by()
        ):
            by_account[name] += calls
        pass_calls = pass_runs.aggregate(n=Sum("api_calls"))["n"] or 0
        pass_throttles = pass_runs.aggregate(n=Sum("throttles"))["n"] or 0
        busiest = max(by_account.values())
        floor = max(busiest / args.tps, pass_calls * args.latency / 1000 / (workers * args.threads))
        lists = args.accounts * (-(-args.applications // 50) + args.applications * (1 + args.environments))
        # GetDeployment for each deployment in progress; those stopped during the pass may or may not be.
        expected = (lists + self.active() + pass_throttles, lists + active_before + pass_throttles)
        return {
            "workers": workers,
            "elapsed": elapsed,
            "floor": floor,
            "busiest": busiest,
            "pass_calls": pass_calls,
            "pass_throttles": pass_throttles,
            "expected_calls": expected,
            "all_calls": sum(by_account.values()),
            "throttles": runs.aggregate(n=Sum("throttles"))["n"] or 0,
            "throttled_at_appconfig": sum(sum(e.throttled().values()) for e in self.emulators),
            "failed": runs.filter(status="failed").count(),
            "stops": during,
        }

    def active(self) -> int:
        from deployments.models import ACTIVE_STATES, Deployment

        return Deployment.objects.filter(state__in=ACTIVE_STATES).count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--applications", type=int, default=100)
    parser.add_argument("--environments", type=int, default=5)
    parser.add_argument("--deployments", type=int, default=20)
    parser.add_argument("--active", type=int, default=200, help="deployments in progress, over all accounts")
    parser.add_argument("--latency", type=float, default=30.0, help="ms per AppConfig call (jitter: 10 %%)")
    parser.add_argument("--tps", type=float, default=10.0, help="AppConfig's limit = each budget")
    parser.add_argument("--workers", default="1,2,4", help="sync worker processes to try, comma-separated")
    parser.add_argument("--threads", type=int, default=8, help="threads per sync worker (WORKER_CONCURRENCY)")
    parser.add_argument("--stops", type=int, default=8, help="stops measured idle and during each pass")
    parser.add_argument("--pass-timeout", type=float, default=600.0, help="seconds one full pass may take")
    args = parser.parse_args()
    try:
        args.workers = [int(w) for w in args.workers.split(",")]
        if min(args.workers) < 1 or min(args.accounts, args.applications, args.environments) < 1:
            raise ValueError
    except ValueError:
        parser.error("--workers: positive integers separated by commas; sizes must be at least 1")
    if args.active > args.accounts * args.applications * args.environments:
        parser.error("--active cannot exceed accounts x applications x environments")

    try:
        create_database()
    except psycopg.Error as exc:
        sys.exit(f"error: cannot create a scratch database at {PG} ({exc}); set BENCH_PG")
    redis = start_redis(REDIS_PORT, WORKDIR / "redis")
    processes: list[subprocess.Popen] = []
    bench = None
    try:
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        bench = Bench(args)
        started = time.perf_counter()
        bench.seed()
        seeded = time.perf_counter() - started
        initial = bench.initial_sync()
        bench.users()
        bench.split_active()
        from deployments.models import Deployment

        print(
            f"estate: {args.accounts} accounts x {args.applications} applications x {args.environments} "
            f"environments x {args.deployments} deployments, {args.active} in progress "
            f"({Deployment.objects.count()} cached); {args.latency:.0f} ms a call, {args.tps:g} TPS each"
        )
        print(f"seeded in {seeded:.1f} s; initial sync (no limit, not measured) {initial:.1f} s", flush=True)

        processes.append(celery("beat", "-s", str(WORKDIR / "celerybeat-schedule")))
        # As the Procfile's worker-live and worker-stops.
        processes.append(worker("live", "live", 8, "threads"))
        processes.append(worker("stops", "stops", 2))
        time.sleep(2 * REFRESH_SECONDS)  # the live worker is up and refreshing
        bench.stops(1, 1.0)  # its first task pays for imports and connections: not measured
        fresh = threading.Thread(target=bench.freshness_loop, daemon=True)
        bench.phase = "idle"
        fresh.start()
        idle = bench.stops(args.stops, 1.0)
        results = []
        for count in args.workers:
            # As the Procfile's `worker`: threads.
            sync_workers = [worker("sync", f"sync{i}", args.threads, "threads") for i in range(count)]
            processes += sync_workers
            time.sleep(5)  # started (the pass is timed from its publication)
            results.append(bench.full_pass(count))
            for process in sync_workers:
                stop_process(process)
                processes.remove(process)
            print(f"  {count} worker(s): pass {results[-1]['elapsed']:.1f} s", flush=True)
        bench.stopping.set()
        fresh.join(timeout=60)
    finally:
        for process in processes:
            stop_process(process)
        if bench is not None:
            for emulator in bench.emulators:
                emulator.stop()
        redis.terminate()
        redis.wait(timeout=10)
        drop_database()
        shutil.rmtree(WORKDIR, ignore_errors=True)

    idle_p95 = percentile(idle, 0.95)
    print()
    print(f"stop, approval -> StopDeployment, workers idle: {figures(idle)}")
    for phase in ("idle",):
        print(f"freshness ({phase}): {figures(bench.freshness[phase])}, {bench.missed[phase]} missed")
    for r in results:
        w = r["workers"]
        print(f"\n{w} sync worker process(es) x {args.threads} threads (+ worker-live, worker-stops):")
        print(
            f"  full pass {r['elapsed']:7.1f} s, floor {r['floor']:6.1f} s: {r['elapsed'] / r['floor']:4.2f}x"
            f"   (target <= 1.2x)"
        )
        low, high = r["expected_calls"]
        expected = f"{low}" if low == high else f"{low}-{high}"
        exact = "as expected" if low <= r["pass_calls"] <= high else f"EXPECTED {expected}"
        print(
            f"  API calls: pass {r['pass_calls']} ({exact}), with live refresh and stops {r['all_calls']}, "
            f"busiest account {r['busiest']}"
        )
        print(
            f"  throttles: {r['throttles']} counted on sync runs ({r['pass_throttles']} in the pass), "
            f"{r['throttled_at_appconfig']} answered by AppConfig; failed runs: {r['failed']} (target 0)"
        )
        phase = f"pass-{w}"
        print(
            f"  freshness: {figures(bench.freshness[phase])}, {bench.missed[phase]} missed"
            f"   (target p95 <= {REFRESH_SECONDS + 3} s)"
        )
        stops = r["stops"]
        ratio = f"{percentile(stops, 0.95) / idle_p95:4.2f}x idle" if stops and idle_p95 else "n/a"
        print(f"  stop during the pass: {figures(stops)}: p95 {ratio}   (target <= 2x)")


if __name__ == "__main__":
    main()
