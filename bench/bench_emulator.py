"""Benchmark of appconfig_emulator: request throughput against a floor, and the memory of a large estate.

    .venv/bin/python bench/bench_emulator.py [--requests 3000]

1. GetDeployment round trips per second from one boto3 client against the emulator, and the same client
   against a minimal keep-alive HTTP/1.1 responder that answers the very same GetDeployment JSON (so botocore
   parses the same thing): the floor set by botocore and the loopback. Both servers run in their own process,
   so the client does not share a GIL with either. Target: floor / emulator <= 1.5.
2. The memory of an emulator holding 10,000 deployments of 10 events each (100 applications x 5
   environments x 20 deployments), as the RSS growth of a fresh process and as traced Python allocations.
   Target: <= 200 MB.
3. Latency and throttling: the round trip of ListApplications with `latency 50 ms ± 20 ms` (target: every
   one at least 30 ms, the mean near 50 ms plus the plain round trip); with `rate-limit 20 TPS, burst 5`, how
   many requests a second a client without retries gets through in 3 s (target: about 20 after the burst of 5)
   and what the rest saw (429 ThrottlingException), then how long a retrying boto3 client (standard mode)
   takes for 40 calls.
4. The cost of ActionInvocations on the hottest path: Deployment.describe() of a completed deployment with
   and without one applied extension (three actions), in process.

A benchmark, not a test: it prints figures and asserts nothing about them.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import urllib.request
from pathlib import Path
from typing import Any

import boto3

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # so that the memory subprocess can import appconfig_emulator


# --- the floor: a minimal keep-alive HTTP/1.1 responder ----------------------------------------------------


def _serve_connection(connection: socket.socket, response: bytes) -> None:
    buffer = b""
    with connection:
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(buffer) < length:
                buffer += connection.recv(65536)
            buffer = buffer[length:]
            connection.sendall(response)


def serve_floor(body_file: str) -> None:
    body = Path(body_file).read_bytes()
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-amzn-RequestId: floor\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    while True:
        connection, _ = listener.accept()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_serve_connection, args=(connection, response), daemon=True).start()


# --- throughput ---------------------------------------------------------------------------------------------


def _client(url: str) -> Any:
    return boto3.client(
        "appconfig",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIDBENCH",
        aws_secret_access_key="x",
    )


def _rate(url: str, ids: dict[str, Any], requests: int) -> float:
    client = _client(url)
    for _ in range(min(200, requests)):  # warm up the connection pool and botocore's caches
        client.get_deployment(**ids)
    began = time.perf_counter()
    for _ in range(requests):
        client.get_deployment(**ids)
    return requests / (time.perf_counter() - began)


def _fetch(url: str, document: dict[str, Any] | None = None) -> bytes:
    data = json.dumps(document).encode() if document is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as response:
        return response.read()


def measure_throughput(requests: int) -> None:
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "appconfig_emulator",
            "--port",
            "0",
            "--manual-clock",
            "--log-level",
            "WARNING",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    floor = None
    try:
        emulator_url = emulator.stdout.readline().split()[-1]
        estate = _fetch(
            f"{emulator_url}/_emulator/estate", {"applications": 1, "environments": 1, "deployments": 1}
        )
        application = json.loads(estate)["applications"][0]
        ids = {
            "ApplicationId": application["Id"],
            "EnvironmentId": application["Environments"][0]["Id"],
            "DeploymentNumber": 1,
        }
        path = f"/applications/{ids['ApplicationId']}/environments/{ids['EnvironmentId']}/deployments/1"
        body = _fetch(f"{emulator_url}{path}")
        events = len(json.loads(body)["EventLog"])
        with tempfile.NamedTemporaryFile(suffix=".json") as body_file:
            body_file.write(body)
            body_file.flush()
            floor = subprocess.Popen(
                [sys.executable, __file__, "--floor-server", body_file.name],
                stdout=subprocess.PIPE,
                text=True,
            )
            floor_url = f"http://127.0.0.1:{floor.stdout.readline().strip()}"

        emulator_rate = _rate(emulator_url, ids, requests)
        floor_rate = _rate(floor_url, ids, requests)
    finally:
        for process in (emulator, floor):
            if process is not None:
                process.terminate()
                process.wait(timeout=15)
    print(f"GetDeployment round trips from one boto3 client: {requests} requests per server,")
    print(f"the same {len(body)}-byte body ({events} events) from both servers")
    for name, rate in (("emulator", emulator_rate), ("floor (fixed keep-alive answer)", floor_rate)):
        print(f"  {name + ':':34}{rate:8.0f} requests/s  ({1000 / rate:.3f} ms each)")
    print(f"  {'ratio floor / emulator:':34}{floor_rate / emulator_rate:8.2f}   (target <= 1.5)")


# --- memory -------------------------------------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def measure_memory_here() -> dict[str, Any]:
    """Runs in a fresh process: imports first, so that only the estate itself is measured."""
    from appconfig_emulator import Emulator, ManualClock

    emulator = Emulator(clock=ManualClock())
    gc.collect()
    baseline = _rss_bytes()
    tracemalloc.start()
    began = time.perf_counter()
    emulator.seed_estate(applications=100, environments=5, deployments=20)
    seconds = time.perf_counter() - began
    gc.collect()
    traced, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = _rss_bytes() - baseline
    now = emulator.now()
    deployments = [
        deployment
        for application in emulator.store.applications.values()
        for environment in application.environments.values()
        for deployment in environment.deployments
    ]
    events = {len(deployment.describe(now)["EventLog"]) for deployment in deployments}
    return {
        "deployments": len(deployments),
        "events": sorted(events),
        "rss": rss,
        "traced": traced,
        "seconds": seconds,
    }


def measure_memory() -> None:
    output = subprocess.check_output([sys.executable, __file__, "--memory-child"], cwd=REPO_ROOT, text=True)
    figures = json.loads(output)
    events = "/".join(map(str, figures["events"]))
    print(f"Memory of {figures['deployments']} deployments with {events} events each, in a fresh process")
    print(f"  {'seeded in:':34}{figures['seconds']:8.2f} s")
    print(f"  {'RSS growth:':34}{figures['rss'] / 2**20:8.1f} MB   (target <= 200 MB)")
    print(f"  {'traced Python allocations:':34}{figures['traced'] / 2**20:8.1f} MB")


# --- latency and throttling --------------------------------------------------------------------------------


def _control(url: str, method: str, path: str, document: dict[str, Any] | None = None) -> Any:
    data = json.dumps(document).encode() if document is not None else None
    request = urllib.request.Request(f"{url}/_emulator/{path}", data=data, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def measure_pacing() -> None:
    from botocore.config import Config
    from botocore.exceptions import ClientError

    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "appconfig_emulator",
            "--port",
            "0",
            "--manual-clock",
            "--log-level",
            "WARNING",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = emulator.stdout.readline().split()[-1]
        client = _client(url)
        for _ in range(20):
            client.list_applications()
        plain = []
        for _ in range(100):
            began = time.perf_counter()
            client.list_applications()
            plain.append(time.perf_counter() - began)
        _control(url, "POST", "latency", {"ms": 50, "jitter_ms": 20})
        delayed = []
        for _ in range(100):
            began = time.perf_counter()
            client.list_applications()
            delayed.append(time.perf_counter() - began)
        _control(url, "DELETE", "latency")

        _control(url, "POST", "rate-limit", {"tps": 20, "burst": 5})
        strict = boto3.client(
            "appconfig",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="AKIDSTRICT",
            aws_secret_access_key="x",
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        )
        admitted = throttled = 0
        began = time.perf_counter()
        while time.perf_counter() - began < 3.0:
            try:
                strict.list_applications()
                admitted += 1
            except ClientError as error:
                assert error.response["Error"]["Code"] == "ThrottlingException"
                throttled += 1
        elapsed = time.perf_counter() - began
        retrying = boto3.client(
            "appconfig",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="AKIDRETRY",
            aws_secret_access_key="x",
            config=Config(retries={"max_attempts": 10, "mode": "standard"}),
        )
        retries = 0
        began = time.perf_counter()
        for _ in range(40):
            retries += retrying.list_applications()["ResponseMetadata"]["RetryAttempts"]
        retry_seconds = time.perf_counter() - began
        counted = _control(url, "GET", "counters/throttled")
    finally:
        emulator.terminate()
        emulator.wait(timeout=15)

    def figures(samples: list[float]) -> str:
        milliseconds = sorted(sample * 1000 for sample in samples)
        mean = sum(milliseconds) / len(milliseconds)
        return f"min {milliseconds[0]:6.1f}  mean {mean:6.1f}  max {milliseconds[-1]:6.1f} ms"

    print("Latency: ListApplications round trips from one boto3 client, 100 each")
    print(f"  {'no latency:':34}{figures(plain)}")
    print(f"  {'latency 50 ms +- 20 ms:':34}{figures(delayed)}   (target: min >= 30, mean ~ 50 + plain)")
    print("Rate limit 20 TPS, burst 5, one access key, no retries, 3 s of back-to-back ListApplications")
    print(
        f"  {'admitted:':34}{admitted:8d}  ({admitted / elapsed:.1f}/s; target ~ (5 + 20 x 3) / 3 = 21.7/s)"
    )
    print(f"  {'answered 429 ThrottlingException:':34}{throttled:8d}")
    print(f"  {'counters/throttled:':34}{counted}")
    print(
        f"  {'retrying client, 40 calls:':34}{retry_seconds:8.2f} s, {retries} retries (botocore backs off)"
    )


def measure_describe() -> None:
    """Deployment.describe() with and without an applied extension, in process."""
    import timeit

    from appconfig_emulator import Emulator, ManualClock

    emulator = Emulator(clock=ManualClock())
    store, now = emulator.store, emulator.now()
    estate = emulator.seed_estate(applications=1, environments=2, deployments=1)
    application = estate["applications"][0]
    uri = "arn:aws:lambda:us-east-1:123456789012:function:notify"
    store.create_extension(
        name="notify",
        actions={
            point: [{"Name": point.lower(), "Uri": uri}]
            for point in ("ON_DEPLOYMENT_START", "ON_DEPLOYMENT_STEP", "ON_DEPLOYMENT_COMPLETE")
        },
    )
    environment_id = application["Environments"][1]["Id"]
    store.create_association(
        extension_identifier="notify",
        resource_arn=f"arn:aws:appconfig:us-east-1:123456789012:application/{application['Id']}"
        f"/environment/{environment_id}",
    )
    environment = store.environment(application["Id"], environment_id)
    store.start_deployment(
        environment,
        strategy=store.strategy(estate["deployment_strategy_id"]),
        profile=store.profile(application["Id"], application["ConfigurationProfileId"]),
        configuration_version="1",
        started_at=now - 1800,  # after the seeded one ended; 20 minutes long, so complete by now
    )
    plain = store.deployment(application["Id"], application["Environments"][0]["Id"], 1)
    extended = environment.deployments[-1]
    invocations = sum(len(event["ActionInvocations"]) for event in extended.describe(now)["EventLog"])
    print("Deployment.describe() of a completed deployment (10 events), in process")
    for name, deployment in (
        ("no extension:", plain),
        (f"one extension ({invocations} invocations):", extended),
    ):
        runs = 20000
        seconds = timeit.timeit(lambda deployment=deployment: deployment.describe(now), number=runs)
        print(f"  {name:34}{seconds / runs * 1e6:8.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="GetDeployment calls per server")
    parser.add_argument("--floor-server", metavar="BODY_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.floor_server:
        serve_floor(arguments.floor_server)
    elif arguments.memory_child:
        print(json.dumps(measure_memory_here()))
    else:
        measure_throughput(arguments.requests)
        print()
        measure_memory()
        print()
        measure_pacing()
        print()
        measure_describe()


if __name__ == "__main__":
    main()
