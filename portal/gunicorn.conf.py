"""gunicorn's configuration for the console's web process (the Procfile's `web`, in the demo and in
production alike): `gunicorn -c portal/gunicorn.conf.py portal.wsgi`.

Read from the environment (documented in .env.example):
- WEB_BIND (default 127.0.0.1:$WEB_PORT, WEB_PORT 8000): where to listen; 0.0.0.0:8000 behind a proxy.
- WEB_CONCURRENCY (2): worker processes; WEB_THREADS (4): threads per worker (gthread workers; 1: sync
  workers). A request spends part of its time waiting on PostgreSQL and Redis; with threads another request
  uses the CPU meanwhile (bench/bench_load.py: p95 at 200 browsers 157 ms with 2 x 1, 45 ms with 2 x 4).
- WEB_TIMEOUT (30): seconds a request may take before its worker is restarted.
- WEB_ACCESS_LOG (`-`: standard output): where the access log goes; `off` for none.
- TRUSTED_PROXIES: the only peers whose X-Forwarded-* headers gunicorn believes (none when empty).
- PROMETHEUS_MULTIPROC_DIR: where the workers share their request metrics (default: a fresh folder per
  start, removed at exit).

At start (in the arbiter, before any worker): collect the static files, so WhiteNoise serves this release's
files under their hashed names on every host, and prepare the metrics folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        sys.exit(f"error: {name} must be a whole number, not {raw!r}")
    if value < minimum:
        sys.exit(f"error: {name} must be at least {minimum}")
    return value


wsgi_app = "portal.wsgi:application"
chdir = str(BASE_DIR)
bind = [os.environ.get("WEB_BIND") or f"127.0.0.1:{_int('WEB_PORT', 8000)}"]
workers = _int("WEB_CONCURRENCY", 2)
threads = _int("WEB_THREADS", 4)
worker_class = "gthread" if threads > 1 else "sync"
# A request is a few database reads; one taking this long is stuck, and its worker is replaced.
timeout = _int("WEB_TIMEOUT", 30)
graceful_timeout = 30
keepalive = 5
# Workers are recycled now and then (staggered), so a slow leak never takes a host down.
max_requests = 5000
max_requests_jitter = 500
# No runtime control socket (gunicornc): one less way in, and no clash between several servers per host.
control_socket_disable = True
# The heartbeat file lives in memory, not on a disk that may stall.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108

# Forwarded headers (X-Forwarded-Proto, ...) only from the proxies the audit trail trusts too.
# Empty: none (gunicorn's own default would trust 127.0.0.1).
forwarded_allow_ips = ",".join(
    proxy.strip() for proxy in os.environ.get("TRUSTED_PROXIES", "").split(",") if proxy.strip()
)

_access = os.environ.get("WEB_ACCESS_LOG", "-").strip() or "-"
accesslog = None if _access.lower() == "off" else _access
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms "%(f)s" "%(a)s" request_id=%({x-request-id}o)s'
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
if os.environ.get("LOG_FORMAT", "plain").strip().lower() == "json":
    # gunicorn's own lines (start, worker exits, the access log) as JSON too, like the application's.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "portal.logs.JsonFormatter"}},
        "handlers": {
            "json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
        },
        # gunicorn's defaults name a root handler; this replaces them all.
        "root": {"handlers": ["json"], "level": loglevel.upper()},
        "loggers": {
            "gunicorn.error": {"handlers": ["json"], "level": loglevel.upper(), "propagate": False},
            "gunicorn.access": {"handlers": ["json"], "level": "INFO", "propagate": False},
        },
    }

# Prometheus: each worker writes its request metrics to files in this folder, and /metrics adds them up
# (prometheus_client's multiprocess mode). Set before any worker imports prometheus_client.
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="console-metrics-")


def on_starting(server) -> None:
    if os.environ.get("WEB_COLLECTSTATIC", "true").strip().lower() not in ("0", "false", "no", "off"):
        command = [sys.executable, str(BASE_DIR / "manage.py"), "collectstatic", "--no-input", "-v", "0"]
        environment = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        if subprocess.run(command, cwd=BASE_DIR, env=environment).returncode != 0:
            sys.exit("error: collectstatic failed; see above")
    # A folder given by the operator may hold a previous run's files, whose counters would be added in.
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server, worker) -> None:
    # A dead worker's live gauges must stop counting; its counters and histograms stay in the sums.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if _own_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
