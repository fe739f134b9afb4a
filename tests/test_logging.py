"""Structured logs (portal/logs.py): LOG_FORMAT=json gives one JSON object per line with time, level, logger,
message, request id and user in a request, task name and id in a Celery task; plain text by default."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
from celery import shared_task
from gunicorn.glogging import SafeAtoms

from portal.embedded import free_port
from portal.logs import ContextFilter, JsonFormatter

pytestmark = pytest.mark.django_db


@shared_task(name="tests.test_logging.log_from_a_task")
def log_from_a_task() -> None:
    logging.getLogger("tests.task").warning("inside the task")


@pytest.fixture
def captured():
    """JSON lines of every record logged while the test runs, formatted as the console handler does."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lines
    root.removeHandler(handler)


def test_it_logs_the_request_id_and_the_user_of_a_request(client_for, viewer, settings, captured):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"  # readyz logs the failing broker

    response = client_for(viewer).get("/readyz")

    records = [json.loads(line) for line in captured]
    warning = next(r for r in records if r["logger"] == "portal.health")
    assert warning["level"] == "WARNING"
    assert warning["message"].startswith("readiness: broker failing")
    assert warning["request_id"] == response["X-Request-ID"]
    assert warning["user"] == "viewer"
    assert warning["task_name"] is None and warning["task_id"] is None
    assert warning["time"].endswith("Z") and "T" in warning["time"]


def test_it_logs_no_user_for_an_anonymous_request(client, settings, captured):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/readyz", headers={"X-Request-ID": "lb-trace-42"})
    warning = next(json.loads(line) for line in captured if '"portal.health"' in line)
    assert response["X-Request-ID"] == "lb-trace-42"
    assert warning["request_id"] == "lb-trace-42" and warning["user"] is None


def test_it_logs_the_task_name_and_id_in_a_task(captured):
    result = log_from_a_task.apply()

    record = next(json.loads(line) for line in captured if '"tests.task"' in line)
    assert record["message"] == "inside the task"
    assert record["task_name"] == "tests.test_logging.log_from_a_task"
    assert record["task_id"] == result.id
    assert record["request_id"] is None
    logging.getLogger("tests.after").warning("after the task")
    after = next(json.loads(line) for line in captured if '"tests.after"' in line)
    assert after["task_name"] is None and after["task_id"] is None


def test_it_formats_an_exception_and_gunicorns_access_log():
    formatter = JsonFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    assert "ValueError: boom" in json.loads(formatter.format(record))["exception"]

    atoms = SafeAtoms(
        {"h": "10.0.0.1", "m": "GET", "U": "/", "q": "", "s": "200", "B": "512", "M": "7", "a": "curl",
         "{x-request-id}o": "abc123"}
    )  # fmt: skip
    access = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "%(h)s %(s)s", atoms, None)
    line = json.loads(formatter.format(access))
    assert line["message"] == "10.0.0.1 200"
    assert line["status"] == 200 and line["duration_ms"] == 7 and line["path"] == "/"
    assert line["request_id"] == "abc123"


def _shell(env: dict[str, str], code: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOG_")}
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
    )


def test_it_writes_one_json_object_per_line_with_log_format_json():
    code = "import logging; logging.getLogger('console.test').warning('two\\nlines')"
    result = _shell({"LOG_FORMAT": "json"}, code)
    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.strip().splitlines()
    record = json.loads(line)
    assert record["logger"] == "console.test" and record["message"] == "two\nlines"
    assert set(record) >= {"time", "level", "logger", "message", "request_id", "user", "task_name", "task_id"}


def test_it_writes_plain_text_by_default_and_refuses_an_unknown_format():
    plain = _shell({}, "import logging; logging.getLogger('console.test').warning('hello')")
    assert plain.returncode == 0 and plain.stderr.rstrip().endswith("WARNING console.test hello")

    refused = _shell({"LOG_FORMAT": "xml"}, "pass")
    assert refused.returncode == 1 and refused.stderr.startswith("error: LOG_FORMAT must be plain or json")
