"""Audit trail benchmark: verification speed, keyset page times at depth, export memory.

Prints:
1. events verified per second over 100,000 events (target: 100,000 in at most 2 s);
2. the time of /audit/'s first page and of a deep page (the oldest events) at 1,000,000 events, unfiltered and
   filtered, and the ratio deep/first (target: at most 1.5);
3. peak Python memory (tracemalloc) of streaming the CSV and JSON Lines exports of 100,000 and of 1,000,000
   events through the real views (target: flat, not growing with the count).

    .venv/bin/python bench/bench_audit.py [--verify-events 100000 --events 1000000 --repeat 15]

Uses a throwaway SQLite database unless DATABASE_URL is set (then that database is migrated and must hold no
audit events: point it at a scratch database). Events are bulk-inserted with precomputed hashes (raw
executemany, the same canonical form record() uses), so the chain is real and verifiable.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only")
os.environ.setdefault("DJANGO_STATIC_MANIFEST", "false")  # templates render without collectstatic
if not os.environ.get("DATABASE_URL"):
    # A throwaway SQLite file (about 700 MB at a million events), removed when the benchmark ends.
    _scratch = tempfile.mkdtemp(prefix="bench-audit-")
    atexit.register(shutil.rmtree, _scratch, ignore_errors=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{_scratch}/db.sqlite3"
os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
os.environ["DJANGO_SECURE"] = "false"

import django  # noqa: E402
import psutil  # noqa: E402

# WhiteNoise looks for collectstatic output, which the benchmark does not need.
warnings.filterwarnings("ignore", message="No directory at")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402

from audit import chain  # noqa: E402
from audit.models import AuditEvent  # noqa: E402
from audit.verify import verify_chain  # noqa: E402

ACTIONS = ["sync.requested", "auth.login", "role.granted", "access.denied", "stop.requested"]
COLUMNS = ["sequence", "prev_hash", "hash", *[f for f in chain.HASHED_FIELDS if f != "sequence"]]
BATCH = 10_000
# The bench's events are one millisecond apart from here.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def insert_events(count: int) -> None:
    """Append `count` events after the current last one, hashes computed as record() computes them."""
    last = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()
    sequence, prev = last if last else (0, chain.GENESIS)
    placeholders = ", ".join(["%s"] * len(COLUMNS))
    sql = f"INSERT INTO audit_auditevent ({', '.join(COLUMNS)}) VALUES ({placeholders})"
    adapt = connection.ops.adapt_datetimefield_value
    done = 0
    while done < count:
        rows = []
        for _ in range(min(BATCH, count - done)):
            sequence += 1
            occurred = EPOCH + timedelta(milliseconds=sequence)
            fields = {
                "sequence": sequence,
                "occurred_at": chain.timestamp(occurred),
                "actor_id": sequence % 50 or None,
                "actor_username": f"user{sequence % 50}" if sequence % 50 else "system",
                "action": ACTIONS[sequence % len(ACTIONS)],
                "outcome": "denied" if sequence % 97 == 0 else "success",
                "source": "web",
                "application_id": f"app{sequence % 20:04d}",
                "environment_id": f"env{sequence % 7:04d}",
                "deployment_number": sequence % 300 + 1,
                "stop_request_id": None,
                "target_label": f"application-{sequence % 20} / environment-{sequence % 7} / {sequence}",
                "ip": f"198.51.100.{sequence % 250}",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64) bench",
                "request_id": f"{sequence:032x}",
                "reason": "routine change" if sequence % 3 else "",
                "details": chain.canonical_json({"n": sequence, "note": "bench"}),
            }
            digest = chain.event_hash(prev, fields)
            values = {**fields, "occurred_at": adapt(occurred), "prev_hash": prev, "hash": digest}
            rows.append([values[name] for name in COLUMNS])
            prev = digest
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, rows)
        done += len(rows)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE audit_auditevent")


def timed(function, repeat: int) -> float:
    """Median wall time of `repeat` calls, in seconds (after one warm-up call)."""
    function()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def bench_verify(events: int, repeat: int) -> None:
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        result = verify_chain()
        samples.append(time.perf_counter() - started)
        assert result.ok and result.count == events, result
    median = statistics.median(samples)
    print(
        f"verify: {events:,} events in {median:.2f} s (median of 3) = {events / median:,.0f} events/s "
        "(target: 100,000 in <= 2 s)"
    )


def page_client() -> Client:
    user, _ = get_user_model().objects.get_or_create(username="bench-auditor", is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


def bench_pages(client: Client, repeat: int) -> None:
    print(f"pages at {AuditEvent.objects.count():,} events (median of {repeat}):")
    cases = [
        ("unfiltered", {}, {}),
        ("action filter", {"action": "role.granted"}, {"action": "role.granted"}),
        # Free text has no index; a common word is found at once from any starting id.
        ("text search", {"q": "routine"}, {"reason__icontains": "routine"}),
        (
            "old time window",
            {"since": "2026-01-01T00:01:40", "until": "2026-01-01T00:06:40"},
            {
                "occurred_at__gte": EPOCH + timedelta(seconds=100),
                "occurred_at__lte": EPOCH + timedelta(seconds=400),
            },
        ),
        (
            "target filter",
            {"application": "app0003", "environment": "env0003"},
            {"application_id": "app0003", "environment_id": "env0003"},
        ),
    ]
    for name, query, orm in cases:
        # The deep page: the one holding the oldest matching events (a full page above the 60th oldest).
        deep = AuditEvent.objects.filter(**orm).order_by("id").values_list("id", flat=True)[60]

        def get(extra, query=query):
            response = client.get("/audit/", {**query, **extra})
            assert response.status_code == 200, response.status_code
            return response

        first = timed(lambda get=get: get({}), repeat)
        deepest = timed(lambda get=get, deep=deep: get({"before": deep}), repeat)
        shown = get({"before": deep}).content.count(b'href="/audit/events/')
        print(
            f"  {name:18} first page {first * 1000:7.1f} ms, deep page (before id {deep}, {shown} rows) "
            f"{deepest * 1000:7.1f} ms, deep/first {deepest / first:.2f} (target: <= 1.5)"
        )


class RssSampler(threading.Thread):
    """The process's peak resident memory above where it started, sampled every 20 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process()
        self.start_rss = self.peak = self.process.memory_info().rss
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def stop(self) -> int:
        self.running = False
        self.join()
        return self.peak - self.start_rss


def consume(client: Client, url: str, upto: int) -> int:
    response = client.get(url, {"upto": upto})
    assert response.status_code == 200, response.status_code
    size = 0
    for chunk in response.streaming_content:
        size += len(chunk)
    response.close()
    return size


def export_peak(client: Client, url: str, upto: int) -> tuple[float, int, int, int]:
    """Seconds and bytes of one export (untraced), its peak resident memory growth, and its peak traced
    Python memory (a second run under tracemalloc, which is several times slower)."""
    sampler = RssSampler()
    sampler.start()
    started = time.perf_counter()
    size = consume(client, url, upto)
    elapsed = time.perf_counter() - started
    rss = sampler.stop()
    tracemalloc.start()
    consume(client, url, upto)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, size, rss, peak


def bench_exports(client: Client, sizes: list[int]) -> None:
    print("exports through the view (peak RSS growth; peak Python memory under tracemalloc):")
    for url in ("/audit/export.csv", "/audit/export.jsonl"):
        for size in sizes:
            upto = AuditEvent.objects.order_by("id").values_list("id", flat=True)[size - 1]
            elapsed, streamed, rss, peak = export_peak(client, url, upto)
            print(
                f"  {url:20} {size:>9,} events: {streamed / 2**20:7.1f} MiB in {elapsed:5.1f} s "
                f"({size / elapsed:,.0f} events/s), RSS +{rss / 2**20:5.1f} MiB, "
                f"traced peak {peak / 2**20:5.2f} MiB"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verify-events", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    if AuditEvent.objects.exists():
        sys.exit("the database already holds audit events: point DATABASE_URL at a scratch database")
    print(f"database: {connection.vendor}")

    started = time.perf_counter()
    insert_events(args.verify_events)
    print(f"inserted {args.verify_events:,} events in {time.perf_counter() - started:.1f} s")
    bench_verify(args.verify_events, args.repeat)

    started = time.perf_counter()
    insert_events(args.events - args.verify_events)
    print(f"inserted up to {args.events:,} events in {time.perf_counter() - started:.1f} s")
    client = page_client()
    bench_pages(client, args.repeat)
    bench_exports(client, [args.verify_events, args.events])


if __name__ == "__main__":
    main()
