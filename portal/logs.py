"""Log records that say which request or task they belong to, and the JSON format (LOG_FORMAT=json).

`ContextFilter` (on the console handler, both formats) gives every record `request_id` and `user` while a
request is served (the request the audit middleware remembers, `audit.middleware.current_request`) and
`task_name` and `task_id` while a Celery task runs (`task_started`/`task_ended`, from Celery's
task_prerun/task_postrun signals in `portal.celery`). `JsonFormatter` writes one JSON object per line.

The standard library, not python-json-logger: the format is a dozen lines that the tests pin down, and a
dependency would add nothing but its own field-naming rules to learn.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

from django.utils.functional import SimpleLazyObject, empty

from audit.middleware import current_request

# (task name, task id) of the Celery task this thread or process is running, if any.
current_task: ContextVar[tuple[str, str] | None] = ContextVar("log_current_task", default=None)

CONTEXT_FIELDS = ("request_id", "user", "task_name", "task_id")


def task_started(name: str, task_id: str) -> None:
    current_task.set((name, task_id))


def task_ended() -> None:
    current_task.set(None)


def _username(request) -> str | None:
    # Only a user the request has already loaded: a log call must never query the database (it may be
    # logging from inside the very query that loads the user).
    user = request.__dict__.get("user")
    if user is None or (isinstance(user, SimpleLazyObject) and user._wrapped is empty):
        return None
    return user.get_username() if user.is_authenticated else None


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request = current_request.get()
        record.request_id = getattr(request, "request_id", None) if request is not None else None
        record.user = _username(request) if request is not None else None
        record.task_name, record.task_id = current_task.get() or (None, None)
        return True


# gunicorn's access log record carries the request's atoms as its arguments; these become fields.
_ACCESS_FIELDS = {
    "remote_addr": "h",
    "method": "m",
    "path": "U",
    "query": "q",
    "status": "s",
    "bytes": "B",
    "duration_ms": "M",
    "user_agent": "a",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601, milliseconds), level, logger, message, request_id,
    user, task_name, task_id (null when not in a request or a task), and exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        payload: dict = {
            "time": stamp.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in CONTEXT_FIELDS:
            payload[field] = getattr(record, field, None)
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            payload.update(self._access(record.args))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return json.dumps(payload, default=str, ensure_ascii=False)

    @staticmethod
    def _access(atoms: dict) -> dict:
        fields = {}
        for field, atom in _ACCESS_FIELDS.items():
            value = atoms.get(atom)
            if value not in (None, "-", ""):
                fields[field] = int(value) if field in ("status", "bytes", "duration_ms") else value
        request_id = atoms.get("{x-request-id}o")  # gunicorn keys response headers in lower case
        if request_id not in (None, "-", ""):
            fields["request_id"] = request_id
        return fields
