"""Stop latency: from the approval POST to the StopDeployment call reaching AppConfig, with a warm worker.

A real Celery worker process (solo pool, the `stops` queue) and a private Redis; the emulator in this process
so its call counter can be watched. For each of N deployments in progress: an operator's request waits for
one approval; the clock starts at the approver's POST (Django's test client, the real view and service) and
stops when the emulator has counted the StopDeployment. Next to it: a direct boto3 stop_deployment on the
same emulator. Prints median and p95 of both and their ratio.

    .venv/bin/python bench/bench_stop.py [--stops 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))
WORKDIR = Path(tempfile.mkdtemp(prefix="bench-stop-"))
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        # Templates render without collectstatic, as in the tests (no hashed-name manifest).
        "DJANGO_STATIC_MANIFEST": "false",
        "DJANGO_SECRET_KEY": "bench-only",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DJANGO_SECURE": "false",
        "DATABASE_URL": f"sqlite:///{WORKDIR / 'db.sqlite3'}",
        "AWS_ACCESS_KEY_ID": "AKIABENCH",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "LOG_LEVEL": "WARNING",
    }
)

from portal.embedded import free_port, start_redis  # noqa: E402

REDIS_PORT = free_port()
os.environ["REDIS_URL"] = f"redis://127.0.0.1:{REDIS_PORT}/0"

import boto3  # noqa: E402
import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from appconfig_emulator import Emulator  # noqa: E402
from deployments import sync  # noqa: E402
from deployments.models import Account, Deployment, Role, StopRequest  # noqa: E402
from deployments.roles import role_grant  # noqa: E402
from stops import services  # noqa: E402
from tests.factories import UserFactory  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def seed(client, count: int) -> list[tuple[str, str]]:
    """`count` environments, each with a long deployment in progress."""
    strategy = client.create_deployment_strategy(
        Name="slow",
        DeploymentDurationInMinutes=600,
        GrowthFactor=10.0,
        FinalBakeTimeInMinutes=10,
        ReplicateTo="NONE",
    )["Id"]
    targets = []
    for a in range((count + 19) // 20):
        app = client.create_application(Name=f"bench-{a}")["Id"]
        profile = client.create_configuration_profile(ApplicationId=app, Name="flags", LocationUri="hosted")[
            "Id"
        ]
        client.create_hosted_configuration_version(
            ApplicationId=app, ConfigurationProfileId=profile, Content=b"{}", ContentType="application/json"
        )
        for e in range(min(20, count - len(targets))):
            env = client.create_environment(ApplicationId=app, Name=f"env-{e}")["Id"]
            client.start_deployment(
                ApplicationId=app,
                EnvironmentId=env,
                DeploymentStrategyId=strategy,
                ConfigurationProfileId=profile,
                ConfigurationVersion="1",
            )
            targets.append((app, env))
    return targets


def wait_for_count(emulator: Emulator, operation: str, value: int, timeout: float = 30.0) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if emulator.counters().get(operation, 0) >= value:
            return time.perf_counter()
        time.sleep(0.0005)
    raise SystemExit(f"error: {operation} did not reach {value} within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stops", type=int, default=50)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    redis = start_redis(REDIS_PORT, WORKDIR / "redis")
    worker = None
    try:
        with Emulator() as emulator:
            boto = boto3.client("appconfig", endpoint_url=emulator.url, region_name="us-east-1")
            seed(boto, args.stops)
            direct_targets = seed(boto, args.stops)  # a second set for the direct calls
            account = Account.objects.create(name="bench", region="us-east-1", endpoint_url=emulator.url)
            sync.sync_account(account=account)

            operator = UserFactory(username="bench-operator")
            approver = UserFactory(username="bench-approver")
            role_grant(user=operator, role=Role.OPERATOR)
            role_grant(user=approver, role=Role.APPROVER)
            web = Client()
            web.force_login(approver)

            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "portal",
                    "worker",
                    "-Q",
                    "stops",
                    "-P",
                    "solo",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-l",
                    "WARNING",
                ],  # fmt: skip
                cwd=BASE,
                env=os.environ.copy(),
            )
            deployments = list(
                Deployment.objects.filter(state="DEPLOYING")
                .exclude(environment__application__application_id__in={app for app, _ in direct_targets})
                .select_related("environment__application")
                .order_by("pk")
            )
            for deployment in deployments:
                deployment.environment.approvals_required = 1
                deployment.environment.save()
            requests = [
                services.stop_request_create(deployment=d, user=operator, reason="bench") for d in deployments
            ]

            via_console, post_only = [], []
            for i, stop_request in enumerate(requests):
                before = emulator.counters().get("StopDeployment", 0)
                started = time.perf_counter()
                response = web.post(
                    reverse("stop_request_approve", args=[stop_request.pk]), {"comment": "go"}
                )
                answered = time.perf_counter()
                if response.status_code != 302:
                    raise SystemExit(f"error: approval answered {response.status_code}")
                reached = wait_for_count(emulator, "StopDeployment", before + 1, timeout=60 if i == 0 else 30)
                via_console.append(reached - started)
                post_only.append(answered - started)

            direct = []
            for app, env in direct_targets:
                started = time.perf_counter()
                boto.stop_deployment(ApplicationId=app, EnvironmentId=env, DeploymentNumber=1)
                direct.append(time.perf_counter() - started)

            done = StopRequest.objects.filter(status="succeeded").count()
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=20)
        redis.terminate()
        redis.wait(timeout=10)
        shutil.rmtree(WORKDIR, ignore_errors=True)

    # The first stop pays for the worker's first task (imports, connections): reported apart.
    warm = via_console[1:]
    med_c, p95_c = statistics.median(warm) * 1000, percentile(warm, 0.95) * 1000
    med_d, p95_d = statistics.median(direct) * 1000, percentile(direct, 0.95) * 1000
    print(f"stops: {len(via_console)} through the console ({done} succeeded), {len(direct)} direct")
    print(f"first (cold worker):           {via_console[0] * 1000:8.1f} ms")
    print(f"approval POST -> StopDeployment: median {med_c:7.1f} ms   p95 {p95_c:7.1f} ms")
    print(f"  of which the POST itself:      median {statistics.median(post_only[1:]) * 1000:7.1f} ms")
    print(f"direct boto3 stop_deployment:    median {med_d:7.1f} ms   p95 {p95_d:7.1f} ms")
    print(f"ratio console / direct:          median {med_c / med_d:7.1f}x   p95 {p95_c / p95_d:7.1f}x")


if __name__ == "__main__":
    main()
