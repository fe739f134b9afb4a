"""Publishing Celery tasks: the one way services hand work to the background.

Services import their tasks at module level and publish them through `publish_on_commit`, so a task is sent
only once the transaction that asked for it has committed (a rolled-back request queues nothing). Tasks
import their services inside their bodies, so no module-level import cycle exists between the two.

Publishing never fails or hangs the caller: a broker that is down or slow (its connect and socket timeouts
are bounded in settings) costs one short retry, a log line and `False`; the work is picked up by the outbox
relay or the next beat pass, which is why every caller keeps its own durable record (a row) of what it asked.
"""

from __future__ import annotations

import logging
import threading
from functools import cache, partial
from typing import Any

import redis
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

# One quick retry (a broker restarting), never a loop: the caller may be a web request.
RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}


# Connections for publishing, per broker URL and process: kept open between publishes (a new connection per
# task costs a TCP and Redis handshake on every approval), with timeouts of their own.
_pools: dict[tuple[str, float], Any] = {}
_pools_lock = threading.Lock()
POOL_LIMIT = 8


def _pool(app: Any, timeout: float) -> Any:
    key = (app.conf.broker_url, timeout)
    with _pools_lock:
        if key not in _pools:
            options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
            connection = app.connection_for_write(connect_timeout=timeout, transport_options=options)
            _pools[key] = connection.Pool(limit=POOL_LIMIT)
        return _pools[key]


# kombu's Redis transport keeps a queue's prioritised messages in sibling lists: name + separator + step.
PRIORITY_SIBLINGS = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def waiting(queue: str) -> int | None:
    """Messages waiting in `queue` on the broker (a Redis), not yet taken by a worker; None when the broker
    cannot be asked (down, or not Redis)."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    try:
        pipe = _redis(url).pipeline(transaction=False)
        for sibling in PRIORITY_SIBLINGS:
            pipe.llen(queue + sibling)
        return sum(pipe.execute())
    except redis.RedisError as exc:
        logger.warning("broker unreachable, cannot read the %s queue: %s", queue, exc)
        return None


@cache
def _redis(url: str) -> redis.Redis:
    # One client (and connection pool) per process and URL; short timeouts: never a hang on the broker.
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def publish(task: Any, /, **kwargs: Any) -> bool:
    """Send `task` with keyword arguments `kwargs` now; False (logged) when the broker cannot take it.

    Through connections of their own whose connect and socket timeouts are CELERY_PUBLISH_TIMEOUT: a broker
    that is down refuses at once, and one that is stalled (a paused Redis still accepts connections, then
    never answers) costs at most two timeouts, not the minutes of the workers' long-lived connections."""
    timeout = settings.CELERY_PUBLISH_TIMEOUT
    try:
        with _pool(task.app, timeout).acquire(block=True, timeout=timeout) as connection:
            try:
                task.apply_async(kwargs=kwargs, connection=connection, retry=True, retry_policy=RETRY_POLICY)
            except Exception:
                # A connection that timed out may be half-way through a command: never reuse it.
                connection.collect()
                raise
    except Exception as exc:  # the broker is down, unreachable or stalled: the durable row is safe
        logger.warning("could not publish %s%s (%s); the relay or the next pass will", task.name, kwargs, exc)
        return False
    return True


def publish_on_commit(task: Any, /, **kwargs: Any) -> None:
    """Publish `task` after the current transaction commits (at once when there is none)."""
    # `publish` is looked up when the callback runs, so tests can record what would be published.
    transaction.on_commit(partial(_publish, task, kwargs))


def _publish(task: Any, kwargs: dict[str, Any]) -> None:
    publish(task, **kwargs)
