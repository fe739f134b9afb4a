"""Browser tests: Playwright for Python driving Debian's chromium against pytest-django's live server, with
a real-time emulator (ScaledClock: one second is a minute) so deployments move on their own.

They skip, saying why, when no chromium is installed (`.ci/run` installs Debian's). Playwright's own browser
download is never used: the executable is /usr/bin/chromium or $CHROMIUM_PATH.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.handlers.wsgi import WSGIHandler

from appconfig_emulator import Emulator, ScaledClock
from deployments import appconfig
from deployments.models import Account
from tests.e2e.helpers import BackgroundSync

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip(
            "browser tests need Chromium: install Debian's `chromium` (apt-get install chromium) "
            "or set CHROMIUM_PATH to a Chromium executable"
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop in this thread, which trips Django's "async unsafe" guard
    # on every query the test itself makes; the test's own queries are ordinary synchronous ones.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="Europe/Paris"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def scaled_emulator() -> Iterator[Emulator]:
    """An emulator of its own whose clock runs 60 times faster than the wall clock."""
    emulator = Emulator(clock=ScaledClock(60)).start(host="127.0.0.1", port=0)
    yield emulator
    emulator.stop()


@pytest.fixture
def live_account(transactional_db, scaled_emulator, settings) -> Iterator[Account]:
    settings.APPCONFIG_READ_TIMEOUT = 5.0
    settings.APPCONFIG_MAX_ATTEMPTS = 2
    appconfig.forget_clients()
    yield Account.objects.create(name="e2e", region="us-east-1", endpoint_url=scaled_emulator.url)
    appconfig.forget_clients()


@pytest.fixture
def scaled_boto(scaled_emulator):
    import boto3

    return boto3.client(
        "appconfig",
        endpoint_url=scaled_emulator.url,
        region_name="us-east-1",
        aws_access_key_id="AKIASEEDER",
        aws_secret_access_key="x",
    )


@pytest.fixture
def serialised(monkeypatch) -> threading.RLock:
    """One lock around every live-server request and every background sync pass.

    When the SQLite test database lives in memory, the live server shares the test's one connection across
    threads (as Django's LiveServerTestCase does) and the lock keeps a sync transaction and a page request
    from interleaving on it; with a SQLite file it spares the single writer lock contention. It costs
    nothing that matters on PostgreSQL, where every thread has its own connection."""
    lock = threading.RLock()
    original = WSGIHandler.__call__

    def locked(self, environ, start_response):
        with lock:
            return original(self, environ, start_response)

    monkeypatch.setattr(WSGIHandler, "__call__", locked)
    return lock


@pytest.fixture
def eager_tasks(settings):
    """Tasks a page enqueues (the lazy event-log fetch) run in place: there is no broker in these tests."""
    from portal.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def background_sync(live_account, serialised) -> Iterator:
    started: list[BackgroundSync] = []

    def start(interval: float = 0.5) -> BackgroundSync:
        syncer = BackgroundSync(live_account, serialised, interval).start()
        started.append(syncer)
        return syncer

    yield start
    for syncer in started:
        syncer.stop()
