"""Helpers of the browser tests (fixtures are in conftest.py)."""

from __future__ import annotations

import threading

from django.db import connections

from deployments import sync
from deployments.models import Account

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


class BackgroundSync:
    """Keeps the cache fresh as beat + worker would: `refresh_active_deployments` every `interval`
    seconds, in a thread, until stopped. Errors are kept and raised by `stop()`."""

    def __init__(self, account: Account, lock: threading.RLock, interval: float = 0.5) -> None:
        self.account, self.lock, self.interval = account, lock, interval
        self.passes = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        connection = connections["default"]
        # SQLite in memory: share the test's connection (the live server does too); PostgreSQL: own one.
        self._shared = connection if connection.vendor == "sqlite" and connection.is_in_memory_db() else None
        self._thread = threading.Thread(target=self._run, name="e2e-sync", daemon=True)

    def _run(self) -> None:
        if self._shared is not None:
            connections["default"] = self._shared
        try:
            while not self._stop.wait(self.interval):
                try:
                    with self.lock:
                        sync.refresh_active_deployments(account=self.account)
                    self.passes += 1
                except Exception as exc:  # noqa: BLE001 - reported by stop()
                    self.errors.append(exc)
        finally:
            if self._shared is None:
                connections["default"].close()

    def start(self) -> BackgroundSync:
        if self._shared is not None:
            self._shared.inc_thread_sharing()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self._shared is not None:
            self._shared.dec_thread_sharing()
        if self.errors:
            raise self.errors[0]


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")
