"""Sync benchmark: an estate of 100 applications x 5 environments x 20 deployments in the emulator.

Prints the initial and steady-state (nothing changed) wall time and API calls of `sync_account`, and the
floor: the same API calls made by bare boto3 in one loop. Target: sync time at most 1.5x the floor. The
console's clients parse AppConfig's ISO 8601 timestamps with the standard library (bare boto3 goes through
dateutil), so the floor is printed a second time with that parser, to show what sync adds to the HTTP work.

    .venv/bin/python bench/bench_sync.py [--applications 100 --environments 5 --deployments 20]

Uses a throwaway SQLite database unless DATABASE_URL is set (then that database is migrated and its
cached AppConfig tables are emptied first: point it at a scratch database).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp(prefix='bench-sync-')}/db.sqlite3")
os.environ["AWS_ACCESS_KEY_ID"] = "AKIABENCH"
os.environ["AWS_SECRET_ACCESS_KEY"] = "bench"

import boto3  # noqa: E402
import botocore.session  # noqa: E402
import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from appconfig_emulator import Emulator  # noqa: E402
from deployments import sync  # noqa: E402
from deployments.appconfig import client_for, forget_clients, parse_timestamp  # noqa: E402
from deployments.models import (  # noqa: E402
    ACTIVE_STATES,
    Account,
    Application,
    Deployment,
    DeploymentEvent,
    Environment,
    SyncRun,
)


def floor(url: str, *, fast_timestamps: bool = False) -> tuple[float, int]:
    """The same API calls, bare boto3, one loop, results thrown away: the List calls, and a GetDeployment
    for each deployment the list shows in progress (as sync makes). `fast_timestamps`: with the console's
    timestamp parser instead of botocore's default, to show what sync itself adds to the same HTTP work."""
    session = botocore.session.get_session()
    if fast_timestamps:
        session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
    client = boto3.session.Session(botocore_session=session).client(
        "appconfig", endpoint_url=url, region_name="us-east-1"
    )
    calls = 0
    started = time.perf_counter()
    token = None
    applications = []
    while True:
        page = client.list_applications(MaxResults=50, **({"NextToken": token} if token else {}))
        calls += 1
        applications += page["Items"]
        token = page.get("NextToken")
        if not token:
            break
    for application in applications:
        environments = client.list_environments(ApplicationId=application["Id"], MaxResults=50)["Items"]
        calls += 1
        for environment in environments:
            deployments = client.list_deployments(
                ApplicationId=application["Id"], EnvironmentId=environment["Id"], MaxResults=50
            )["Items"]
            calls += 1
            for deployment in deployments:
                if deployment["State"] in ACTIVE_STATES:
                    client.get_deployment(
                        ApplicationId=application["Id"],
                        EnvironmentId=environment["Id"],
                        DeploymentNumber=deployment["DeploymentNumber"],
                    )
                    calls += 1
    return time.perf_counter() - started, calls


def timed_sync(account: Account) -> tuple[float, int]:
    before = SyncRun.objects.count()
    started = time.perf_counter()
    sync.sync_account(account=account)
    elapsed = time.perf_counter() - started
    calls = sum(SyncRun.objects.order_by("id")[before:].values_list("api_calls", flat=True))
    return elapsed, calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--applications", type=int, default=100)
    parser.add_argument("--environments", type=int, default=5)
    parser.add_argument("--deployments", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="steady-state passes (median reported)")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    for model in (DeploymentEvent, Deployment, Environment, SyncRun, Application, Account):
        model.objects.all().delete()

    with Emulator() as emulator:
        emulator.seed_estate(
            applications=args.applications, environments=args.environments, deployments=args.deployments
        )
        forget_clients()
        # No API budget (0): this emulator does not throttle, and the figure is sync's own cost, not the rate.
        account = Account.objects.create(
            name="bench", region="us-east-1", endpoint_url=emulator.url, api_rate_limit=0
        )
        client_for(account)  # build the client outside the timing, as a long-lived worker has it

        initial_time, initial_calls = timed_sync(account)
        steady = [timed_sync(account) for _ in range(args.repeat)]
        steady_time = statistics.median(t for t, _ in steady)
        steady_calls = steady[0][1]
        floors = [floor(emulator.url) for _ in range(args.repeat)]
        floor_time = statistics.median(t for t, _ in floors)
        floor_calls = floors[0][1]
        fast_floor = statistics.median(
            floor(emulator.url, fast_timestamps=True)[0] for _ in range(args.repeat)
        )

    estate = f"{args.applications} applications x {args.environments} environments x {args.deployments} each"
    print(f"estate: {estate} ({Deployment.objects.count()} deployments cached)")
    print(f"initial sync:       {initial_time:7.3f} s  {initial_calls:5d} API calls")
    print(f"steady-state sync:  {steady_time:7.3f} s  {steady_calls:5d} API calls (median of {args.repeat})")
    print(f"floor (bare boto3): {floor_time:7.3f} s  {floor_calls:5d} API calls (median of {args.repeat})")
    print(f"  the same, with the console's timestamp parser: {fast_floor:7.3f} s")
    print(f"initial / floor:    {initial_time / floor_time:7.2f}x   (initial also writes every deployment)")
    print(f"steady / floor:     {steady_time / floor_time:7.2f}x   (target: at most 1.5x)")
    print(f"steady / the floor with the console's parser: {steady_time / fast_floor:5.2f}x")


if __name__ == "__main__":
    main()
