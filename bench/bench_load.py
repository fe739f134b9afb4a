"""Load on the production profile: N signed-in browsers polling the dashboard and a deployment page as the
real pages do, against gunicorn (2 workers of 4 threads, as production runs it) on PostgreSQL with Redis as
broker and cache. Target: 200 browsers with p95 <= 50 ms and no errors.

    .venv/bin/python bench/bench_load.py [--browsers 200] [--duration 60] [--steps 25,50,100,200]
                                         [--step-duration 20] [--quick]

1. A PostgreSQL database of its own (created, then dropped; or BENCH_DATABASE_URL, used as given: it must
   be a throwaway), an embedded Redis (or BENCH_REDIS_URL) as the broker and, on another database number,
   the cache (CACHE_URL).
2. A synced estate built directly with bulk_create: 100 applications x 5 environments x 20 deployments, 10
   of them in progress with their event logs, a successful sync run; one session per browser, made in the
   database (force_login) and sent as the session cookie.
3. gunicorn started as the Procfile's `web` (portal/gunicorn.conf.py, WEB_CONCURRENCY=2), DEBUG off, with
   one extra minimal login-protected view (bench/load_site.py) for the baseline.
4. The browsers arrive over --ramp seconds (each first loads its page in full) and are then measured for
   --duration seconds. A browser polls the one page it shows, as htmx does (polls pause in hidden tabs):
   half of them the dashboard's live region (every 2 s while something deploys), half an in-progress
   deployment's page, its progress region and its stop panel (each every 2 s), each region on its own
   timer with the version it holds (`?v=`, `HX-Request`). Unchanged regions answer 204; a thread plays the
   active refresh (every 5 s one in-progress deployment moves, as sync would write it), so regions answer
   200 with a fresh partial now and then.
5. The same browsers then poll the minimal view at the same request rate: the ratio is the cost
   of the console's pages over the bare stack (middleware, session, user).
6. Steps: from few browsers up, shorter runs, until p95 passes 50 ms or a request fails: where it breaks.

The client (aiohttp, one asyncio loop) runs on the same two cores as gunicorn, PostgreSQL and Redis, so the
figures include its cost; loopback only, every request bounded by a 10 s timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal.embedded import free_port, start_redis  # noqa: E402

TARGET_P95_MS = 50.0
POLL_SECONDS = 2.0  # the dashboard (while something deploys), the progress region and the stop panel
REFRESH_SECONDS = 5.0  # ACTIVE_REFRESH_SECONDS
APPLICATIONS, ENVIRONMENTS, DEPLOYMENTS, IN_PROGRESS = 100, 5, 20, 10
DEFAULT_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"


# ---------------------------------------------------------------------------------------------------------
# Services: database, Redis, the server


def _create_database() -> tuple[str, str | None]:
    """(DATABASE_URL, name to drop afterwards or None)."""
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        return given, None
    import psycopg

    name = f"bench_load_{os.getpid()}"
    with psycopg.connect(DEFAULT_ADMIN_URL, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return DEFAULT_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", name


def _drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(DEFAULT_ADMIN_URL, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _start_server(env: dict[str, str], log: Path) -> subprocess.Popen:
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    with log.open("w") as out:
        process = subprocess.Popen(
            shlex.split(web.removeprefix("web:")),
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{env['WEB_PORT']}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/readyz", timeout=2).read()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"error: the server did not start:\n{log.read_text()}")
            time.sleep(0.2)


# ---------------------------------------------------------------------------------------------------------
# The estate and the sessions (in this process, through the ORM)


def seed(browsers: int) -> tuple[list[str], list[int]]:
    """The estate; returns one session key per browser and the in-progress deployments' ids."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from deployments.models import (
        Account,
        Application,
        Deployment,
        DeploymentEvent,
        Environment,
        Role,
        SyncRun,
    )
    from deployments.roles import role_grant

    now = timezone.now()
    account = Account.objects.create(name="bench", region="us-east-1")
    applications = Application.objects.bulk_create(
        Application(account=account, application_id=f"app{a:04d}", name=f"service-{a:03d}", synced_at=now)
        for a in range(APPLICATIONS)
    )
    environments = Environment.objects.bulk_create(
        Environment(
            application=application,
            environment_id=f"e{a:03d}{e}xyz",
            name=["dev", "test", "staging", "prod-eu", "prod-us"][e],
            state="READY_FOR_DEPLOYMENT",
            history_complete=True,
            synced_at=now,
        )
        for a, application in enumerate(applications)
        for e in range(ENVIRONMENTS)
    )
    moving = set(range(0, len(environments), len(environments) // IN_PROGRESS))
    rows = []
    for index, environment in enumerate(environments):
        for number in range(1, DEPLOYMENTS + 1):
            active = index in moving and number == DEPLOYMENTS
            started = now - timedelta(hours=(DEPLOYMENTS - number) * 6 + 1)
            rows.append(
                Deployment(
                    environment=environment,
                    deployment_number=number,
                    deployment_strategy_id="strat01",
                    configuration_profile_id="prof001",
                    configuration_name="flags",
                    configuration_version=str(number),
                    deployment_duration_in_minutes=60,
                    growth_type="LINEAR",
                    growth_factor=10.0,
                    final_bake_time_in_minutes=10,
                    state="DEPLOYING" if active else "COMPLETE",
                    percentage_complete=30.0 if active else 100.0,
                    started_at=now - timedelta(minutes=20) if active else started,
                    completed_at=None if active else started + timedelta(minutes=70),
                    details_fetched_at=now,
                )
            )
    Deployment.objects.bulk_create(rows, batch_size=2000)
    active_ids = list(Deployment.objects.filter(state="DEPLOYING").values_list("pk", flat=True))
    DeploymentEvent.objects.bulk_create(
        DeploymentEvent(
            deployment_id=pk,
            sequence=i,
            event_type="PERCENTAGE_UPDATED" if i else "DEPLOYMENT_STARTED",
            triggered_by="APPCONFIG" if i else "USER",
            description=f"Configuration available to {i * 10:.2f}% of clients",
            occurred_at=now - timedelta(minutes=20 - 6 * i),
        )
        for pk in active_ids
        for i in range(4)
    )
    SyncRun.objects.create(
        scope="account", account=account, status="succeeded", started_at=now, finished_at=now, api_calls=1
    )
    users = []
    for u in range(20):
        user = get_user_model().objects.create_user(f"viewer{u:02d}", password=secrets.token_urlsafe(16))
        role_grant(user=user, role=Role.VIEWER)
        users.append(user)
    keys = []
    from django.conf import settings

    for b in range(browsers):
        client = Client()
        client.force_login(users[b % len(users)])
        keys.append(client.cookies[settings.SESSION_COOKIE_NAME].value)
    # As autovacuum would soon after a real sync: the planner's statistics describe the estate, not the
    # empty tables the migrations left (with those, it plans the dashboard's count as a nested loop).
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return keys, active_ids


class ActiveRefresh(threading.Thread):
    """Plays the worker's active refresh: every REFRESH_SECONDS one of the in-progress deployments moves on
    (round robin, so each moves every 50 s: more often than a real hour-long rollout's 6-minute steps), as
    sync writes it: a new percentage, a new version, a new `updated_at`."""

    def __init__(self, ids: list[int]) -> None:
        super().__init__(daemon=True)
        self.ids, self.stopped = ids, threading.Event()

    def run(self) -> None:
        from django.db import connection
        from django.db.models import F
        from django.db.models.functions import Least
        from django.utils import timezone

        from deployments.models import Deployment

        turn = 0
        while not self.stopped.wait(REFRESH_SECONDS):
            Deployment.objects.filter(pk=self.ids[turn % len(self.ids)]).update(
                percentage_complete=Least(F("percentage_complete") + 0.5, 99.0),
                version=F("version") + 1,
                updated_at=timezone.now(),
            )
            turn += 1
        connection.close()


# ---------------------------------------------------------------------------------------------------------
# The browsers


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    # Each browser's first full page load, and anything during the ramp-up, kept apart: the figures are
    # the steady polling once every browser is there.
    loads: list[float] = field(default_factory=list)
    measure_from: float = 0.0
    by_region: dict[str, list[float]] = field(default_factory=dict)

    def add(
        self, seconds: float, status: int, *, load: bool = False, started: float = 0.0, region=""
    ) -> None:
        if load or started < self.measure_from:
            self.loads.append(seconds)
            return
        self.latencies.append(seconds)
        self.by_region.setdefault(region, []).append(seconds)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000 if ordered else float("nan")


_DASHBOARD_TOKEN = re.compile(r'hx-get="/\?v=([^"]+)"')
_DEPLOYMENT_TOKEN = re.compile(r'id="deployment-progress"[^>]*data-version="(\d+)"')
_PANEL = re.compile(r'hx-get="(/[^"]+/stop/panel/)\?v=([^"]*)"')


class Browser:
    def __init__(self, http, base: str, session_key: str, deployment_url: str, results: Results) -> None:
        self.http, self.base, self.results = http, base, results
        self.cookies = {"sessionid": session_key}
        self.deployment_url = deployment_url

    async def get(
        self, path: str, *, htmx: bool = False, expect=(200,), load: bool = False, region: str = ""
    ) -> str | None:
        import aiohttp

        headers = {"HX-Request": "true"} if htmx else {}
        begun = time.monotonic()
        started = time.perf_counter()
        try:
            async with self.http.get(
                self.base + path, headers=headers, cookies=self.cookies, allow_redirects=False
            ) as response:
                body = await response.text()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.results.errors.append(f"{path}: {type(exc).__name__}")
            return None
        self.results.add(time.perf_counter() - started, status, load=load, started=begun, region=region)
        if status not in expect:
            self.results.errors.append(f"{path}: HTTP {status}")
            return None
        return body if status == 200 else ""

    async def poll(self, deadline: float, first: float, ask) -> None:
        """One region's timer: `ask()` every POLL_SECONDS from `first`, until `deadline`."""
        tick = first
        while tick < deadline:
            await asyncio.sleep(max(0.0, tick - time.monotonic()))
            await ask()
            tick += POLL_SECONDS

    async def run_pages(self, deadline: float, ramp: float, on_dashboard: bool) -> None:
        """A browser shows one page at a time (htmx polls only in the visible tab): the dashboard (its live
        region) or an in-progress deployment's page (its progress region and its stop panel)."""
        await asyncio.sleep(random.uniform(0, ramp))  # people do not all arrive in the same instant
        tokens: dict[str, str] = {}
        if on_dashboard:
            dashboard = await self.get("/", load=True)
            if not dashboard:
                return
            tokens["dashboard"] = _DASHBOARD_TOKEN.search(dashboard).group(1)
        else:
            page = await self.get(self.deployment_url, load=True)
            if not page:
                return
            tokens["deployment"] = _DEPLOYMENT_TOKEN.search(page).group(1)
            panel_url, tokens["panel"] = _PANEL.search(page).groups()

        async def dashboard_poll() -> None:
            body = await self.get(
                f"/?v={tokens['dashboard']}", htmx=True, expect=(200, 204), region="dashboard"
            )
            if body:
                tokens["dashboard"] = _DASHBOARD_TOKEN.search(body).group(1)

        async def deployment_poll() -> None:
            url = f"{self.deployment_url}?v={tokens['deployment']}"
            body = await self.get(url, htmx=True, expect=(200, 204, 286), region="deployment")
            if body:
                tokens["deployment"] = _DEPLOYMENT_TOKEN.search(body).group(1)

        async def panel_poll() -> None:
            body = await self.get(
                f"{panel_url}?v={tokens['panel']}", htmx=True, expect=(200, 204, 286), region="stop panel"
            )
            if body:
                tokens["panel"] = _PANEL.search(body).group(2)

        now = time.monotonic()
        regions = (dashboard_poll,) if on_dashboard else (deployment_poll, panel_poll)
        await asyncio.gather(
            *(self.poll(deadline, now + random.uniform(0, POLL_SECONDS), ask) for ask in regions)
        )

    async def run_minimal(self, deadline: float, ramp: float, on_dashboard: bool) -> None:
        """The same arrivals and request rate (one or two polls every 2 s), on the minimal view."""
        await asyncio.sleep(random.uniform(0, ramp))

        async def ask() -> None:
            await self.get("/bench/minimal/")

        now = time.monotonic()
        regions = 1 if on_dashboard else 2
        await asyncio.gather(
            *(self.poll(deadline, now + random.uniform(0, POLL_SECONDS), ask) for _ in range(regions))
        )


async def run(
    base: str, keys: list[str], deployment_urls: list[str], seconds: float, *, minimal: bool, ramp: float
) -> Results:
    """`len(keys)` browsers arriving over `ramp` seconds, then measured for `seconds`; half of them on the
    dashboard, half on a deployment page."""
    import aiohttp

    results = Results()
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)  # gunicorn's sync workers close anyway
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        browsers = [
            Browser(http, base, key, deployment_urls[i % len(deployment_urls)], results)
            for i, key in enumerate(keys)
        ]
        start = time.monotonic()
        results.measure_from = start + ramp + POLL_SECONDS
        deadline = results.measure_from + seconds
        await asyncio.gather(
            *(
                (b.run_minimal if minimal else b.run_pages)(deadline, ramp, on_dashboard=i % 2 == 0)
                for i, b in enumerate(browsers)
            )
        )
    return results


def report(label: str, results: Results, seconds: float) -> None:
    count = len(results.latencies)
    print(
        f"{label:<34} {count:>7} req {count / seconds:>7.1f} req/s  p50 {results.percentile(50):6.1f} ms  "
        f"p95 {results.percentile(95):6.1f} ms  p99 {results.percentile(99):6.1f} ms  "
        f"errors {len(results.errors)}  statuses {dict(sorted(results.statuses.items()))}"
    )
    if len(results.by_region) > 1:
        for region, seconds in sorted(results.by_region.items()):
            ordered = sorted(seconds)
            print(
                f"  {region:<12} {len(ordered):>6} req  p50 {ordered[len(ordered) // 2] * 1000:6.1f} ms  "
                f"p95 {ordered[int(0.95 * len(ordered))] * 1000:6.1f} ms"
            )
    if results.loads:
        loads = sorted(results.loads)
        print(
            f"  (first page loads and ramp-up, not counted above: {len(loads)} requests, "
            f"p50 {loads[len(loads) // 2] * 1000:.1f} ms, p95 {loads[int(0.95 * len(loads))] * 1000:.1f} ms)"
        )
    if results.errors:
        print(f"  first errors: {results.errors[:5]}")


# ---------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browsers", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument(
        "--steps", default="25,50,75,100,150,200,300", help="browsers per step, ascending, comma-separated"
    )
    parser.add_argument("--step-duration", type=float, default=20.0)
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which the browsers arrive")
    parser.add_argument("--quick", action="store_true", help="15 s runs, steps of 10 s")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # figures as they come, also into a file
    if args.quick:
        args.duration, args.step_duration = 15.0, 10.0
    steps = [int(n) for n in args.steps.split(",") if n.strip()] if args.steps else []
    most = max([args.browsers, *steps])

    try:
        database_url, created = _create_database()
    except Exception as exc:  # noqa: BLE001 - a machine without PostgreSQL: say so and skip
        print(f"skipped: no PostgreSQL for the benchmark ({exc}); set BENCH_DATABASE_URL")
        return
    var = Path(tempfile.mkdtemp(prefix="bench-load-"))
    redis_process = None
    redis_url = os.environ.get("BENCH_REDIS_URL")
    if not redis_url:
        port = free_port()
        redis_process = start_redis(port, var / "redis")
        redis_url = f"redis://127.0.0.1:{port}"
    base_redis = redis_url.rstrip("/").rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_", "LOG_", "WEB_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.load_site",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECURE": "false",
            "DATABASE_URL": database_url,
            "REDIS_URL": f"{base_redis}/0",
            "CACHE_URL": f"{base_redis}/1",
            "PORTAL_VAR_DIR": str(var),
            "STATIC_ROOT": str(var / "static"),
            "LOG_LEVEL": "WARNING",
            "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "2"),
            "WEB_THREADS": os.environ.get("WEB_THREADS", "4"),
            "WEB_PORT": str(free_port()),
            "WEB_ACCESS_LOG": str(var / "access.log"),
            "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        }
    )
    os.environ.update(env)
    server = None
    refresh = None
    try:
        import django

        django.setup()
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("release", verbosity=0)
        keys, active_ids = seed(most)
        from deployments.models import Deployment

        deployment_urls = [
            d.get_absolute_url()
            for d in Deployment.objects.filter(pk__in=active_ids).select_related("environment__application")
        ]
        print(
            f"estate: {APPLICATIONS} applications x {ENVIRONMENTS} environments x {DEPLOYMENTS} deployments, "
            f"{len(active_ids)} in progress; {most} sessions; built in {time.perf_counter() - started:.1f} s"
        )
        server = _start_server(env, var / "web.log")
        base = f"http://127.0.0.1:{env['WEB_PORT']}"
        print(
            f"server: gunicorn, {env['WEB_CONCURRENCY']} workers x {env['WEB_THREADS']} thread(s), DEBUG "
            f"off, PostgreSQL, Redis broker and cache; client: aiohttp on the same {os.cpu_count()} cores\n"
        )
        refresh = ActiveRefresh(active_ids)
        refresh.start()
        # Warm-up, not measured: every worker compiles its templates and opens its connections.
        asyncio.run(run(base, keys[:20], deployment_urls, 3.0, minimal=False, ramp=1.0))
        asyncio.run(run(base, keys[:20], deployment_urls, 2.0, minimal=True, ramp=1.0))

        pages = asyncio.run(
            run(base, keys[: args.browsers], deployment_urls, args.duration, minimal=False, ramp=args.ramp)
        )
        report(f"{args.browsers} browsers, pages ({args.duration:.0f} s)", pages, args.duration)
        bare = asyncio.run(
            run(base, keys[: args.browsers], deployment_urls, args.duration, minimal=True, ramp=args.ramp)
        )
        report(f"{args.browsers} browsers, minimal view", bare, args.duration)
        print(
            f"ratio pages / minimal view: p50 {pages.percentile(50) / bare.percentile(50):.2f}, "
            f"p95 {pages.percentile(95) / bare.percentile(95):.2f}"
        )
        passed = pages.percentile(95) <= TARGET_P95_MS and not pages.errors
        print(
            f"target ({args.browsers} browsers, p95 <= {TARGET_P95_MS:.0f} ms, no errors): "
            f"{'met' if passed else 'NOT met'}\n"
        )

        broke = None
        for n in steps:
            step = asyncio.run(
                run(base, keys[:n], deployment_urls, args.step_duration, minimal=False, ramp=args.ramp)
            )
            report(f"step: {n} browsers ({args.step_duration:.0f} s)", step, args.step_duration)
            if step.percentile(95) > TARGET_P95_MS or step.errors:
                broke = n
                break
        if steps:
            print(
                f"breaks at: {broke} browsers (p95 above {TARGET_P95_MS:.0f} ms or errors)"
                if broke
                else f"breaks at: not within {steps[-1]} browsers"
            )
    finally:
        if refresh is not None:
            refresh.stopped.set()
            refresh.join(timeout=10)
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        if created:
            _drop_database(created)
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)


if __name__ == "__main__":
    main()
