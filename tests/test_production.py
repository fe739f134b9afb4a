"""The production profile, as the Procfile's `web` runs it: `manage.py release`, then gunicorn with
portal/gunicorn.conf.py (two workers, DEBUG off, static files collected at start and served by WhiteNoise
under hashed names, JSON logs, /metrics adding up every worker's request metrics)."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from portal.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "production-test-metrics-token-0123"
PASSWORD = "correct horse battery staple"
HASHED = re.compile(r"\.[0-9a-f]{12}\.(css|js|svg)$")


class Server:
    def __init__(self, url: str, log: Path) -> None:
        self.url, self.log = url, log
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
        self.jar = jar

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with self.opener.open(request, timeout=20) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def sign_in(self, username: str) -> None:
        self.get("/accounts/login/")
        token = next(c.value for c in self.jar if c.name == "csrftoken")
        body = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token, "username": username, "password": PASSWORD}
        ).encode()
        request = urllib.request.Request(
            self.url + "/accounts/login/", data=body, headers={"Referer": self.url + "/accounts/login/"}
        )
        try:
            self.opener.open(request, timeout=20)
        except urllib.error.HTTPError as error:
            assert error.code == 302, error.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _environment(tmp: Path, redis_url: str) -> dict[str, str]:
    # Not the test suite's own switches (plain static names, a test database): what production sets.
    ours = ("DJANGO_", "PORTAL_", "DATABASE_", "LOG_", "METRICS_", "WEB_", "PROMETHEUS_", "STATIC_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(
        {
            "DJANGO_SECRET_KEY": "production-profile-test-secret-" + "s" * 40,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECURE": "false",  # plain HTTP on loopback; the deploy checklist test covers TLS
            "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
            "PORTAL_VAR_DIR": str(tmp),
            "STATIC_ROOT": str(tmp / "static"),
            "REDIS_URL": redis_url,
            "LOG_FORMAT": "json",
            "METRICS_TOKEN": TOKEN,
            "WEB_CONCURRENCY": "2",
            "WEB_PORT": str(free_port()),
            "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        }
    )
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_url):
    """gunicorn started from the Procfile's `web` line, against a database of its own (SQLite file)."""
    tmp = tmp_path_factory.mktemp("production")
    env = _environment(tmp, redis_url)
    manage = [sys.executable, "manage.py"]
    release = subprocess.run([*manage, "release"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert release.returncode == 0, release.stderr
    assert release.stdout.splitlines() == [
        "release: migrations applied",
        "release: static files collected",
        "release: role groups in place",
    ]
    create = (
        "from django.contrib.auth import get_user_model; from deployments.roles import role_grant; "
        f"u = get_user_model().objects.create_user('watcher', password={PASSWORD!r}); "
        "role_grant(user=u, role='viewer')"
    )
    subprocess.run([*manage, "shell", "-c", create], env=env, cwd=ROOT, check=True, capture_output=True)
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    log = tmp / "web.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            shlex.split(web.removeprefix("web:")), env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{env['WEB_PORT']}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1).read()
            break
        except OSError:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    yield Server(url, log)
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def _static_urls(html: str) -> list[str]:
    return sorted(set(re.findall(r'(?:href|src)="(/static/[^"]+)"', html)))


def test_it_serves_every_static_file_the_pages_reference_with_debug_off(server):
    _, _, login = server.get("/accounts/login/")
    server.sign_in("watcher")
    status, _, dashboard = server.get("/")
    assert status == 200
    urls = _static_urls(login.decode()) + _static_urls(dashboard.decode())
    assert any(u.endswith(".css") for u in urls) and any("htmx" in u for u in urls)
    for url in urls:
        assert HASHED.search(url), f"{url} is not content-hashed"
        status, headers, body = server.get(url, {"Accept-Encoding": "gzip"})
        assert status == 200, url
        assert body
        assert "immutable" in headers.get("Cache-Control", ""), url
    status, _, _ = server.get("/static/portal/no-such-file.css")
    assert status == 404


def test_it_is_ready_and_hides_debug_pages(server):
    status, _, body = server.get("/readyz")
    assert status == 200, body
    assert json.loads(body)["checks"] == {"database": "ok", "broker": "ok", "migrations": "ok"}
    status, _, body = server.get("/no-such-page/")
    assert status in (302, 404)
    assert b"Traceback" not in body and b"URLconf" not in body


def _healthz_count(server) -> float:
    status, _, body = server.get("/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    line = re.search(
        r'^django_http_responses_total_by_status_view_method_total\{[^}]*view="healthz"[^}]*\} (\S+)$',
        body.decode(),
        re.MULTILINE,
    )
    return float(line.group(1)) if line else 0.0


def test_it_adds_up_the_request_metrics_of_every_worker(server):
    assert server.get("/metrics")[0] == 404
    before = _healthz_count(server)
    for _ in range(30):
        assert server.get("/healthz")[0] == 200
    assert _healthz_count(server) - before == 30  # whichever of the two workers answered each request
    status, _, body = server.get("/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert "appconfig_console_queue_length" in body.decode()


def test_it_logs_json_lines_with_the_request_id(server):
    status, headers, _ = server.get("/healthz", {"X-Request-ID": "probe-from-lb-1"})
    assert status == 200 and headers["X-Request-ID"] == "probe-from-lb-1"
    deadline = time.monotonic() + 10
    while "probe-from-lb-1" not in server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    records = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]
    access = [
        r for r in records if r["logger"] == "gunicorn.access" and r.get("request_id") == "probe-from-lb-1"
    ]
    assert access and access[0]["status"] == 200 and access[0]["path"] == "/healthz"
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["message"] for r in records)


def test_the_sample_alert_rules_are_valid_prometheus_rules():
    rules = yaml.safe_load((ROOT / "docs" / "alerts.yml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert {
        "ConsoleSyncStale",
        "ConsoleStopFailed",
        "ConsoleStopPendingTooLong",
        "ConsoleAuditVerificationOverdue",
        "ConsoleAuditChainBroken",
        "ConsoleQueueBacklog",
    } <= set(alerts)
    for name, rule in alerts.items():
        assert set(rule) >= {"alert", "expr", "labels", "annotations"}, name
        assert "appconfig_console_" in rule["expr"], name
        assert rule["labels"]["severity"] in ("page", "ticket"), name
        assert rule["annotations"]["summary"], name


def test_every_setting_the_console_reads_is_in_env_example():
    documented = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    read = set(re.findall(r'env_\w+\(\s*"([A-Z][A-Z0-9_]+)"', (ROOT / "portal" / "settings.py").read_text()))
    gunicorn = (ROOT / "portal" / "gunicorn.conf.py").read_text()
    read |= set(re.findall(r'(?:environ\.get|_int)\("([A-Z][A-Z0-9_]+)"', gunicorn))
    read |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", (ROOT / "Procfile").read_text()))
    assert {"METRICS_TOKEN", "LOG_FORMAT", "WEB_CONCURRENCY", "TRUSTED_PROXIES"} <= read
    assert read - documented == set()
