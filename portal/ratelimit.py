"""A token bucket shared by every process that talks to one budget (an AppConfig account): kept in Redis,
updated by one Lua script, so two workers (or two machines) together never go faster than the rate.

Two kinds of callers share a bucket. Urgent ones (stops, the refresh of live deployments, detail fetches)
may take its last token; background ones (full sync passes) only take a token while more than `reserve`
tokens would remain. A background caller therefore waits as soon as the bucket is down to its reserve, and
an urgent caller that comes along finds tokens at once; when both wait, the urgent one becomes eligible
first (at one token instead of one plus the reserve), so a backlog of full passes never delays it. With no
urgent caller about, background work still gets the whole rate: the reserve only costs it a burst.

Time is Redis's own (`TIME`), so the clocks of the workers' machines do not matter. When Redis cannot be
reached, each process falls back to a bucket of its own with the same rate (one line in the log, Redis tried
again a few seconds later): sync slows to the rate per process instead of failing.

Why not a library: `limits` (and others) answer "allowed or not" for fixed or moving windows; none blocks a
caller until a token is due, nor keeps a reserve for a second class of callers.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import redis

logger = logging.getLogger(__name__)

# KEYS[1]: the bucket. ARGV: rate (tokens a second), capacity, reserve (tokens the caller must leave).
# Returns "0" when a token was taken, otherwise the seconds until one could be (nothing is taken).
_TAKE = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local reserve = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
if now > at then
  tokens = math.min(capacity, tokens + (now - at) * rate)
end
local wait = 0
if tokens >= 1 + reserve then
  tokens = tokens - 1
else
  wait = (1 + reserve - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(math.max(now, at)))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 60000)
return tostring(wait)
"""

REDIS_RETRY_SECONDS = 5.0  # after a failure, how long a process limits on its own before asking Redis again


class RateLimitTimeout(Exception):
    """No token within the caller's deadline."""


@dataclass(frozen=True)
class Budget:
    """`rate` tokens a second into a bucket of `capacity`; `reserve`: tokens only urgent callers may take."""

    key: str
    rate: float
    capacity: float
    reserve: float

    @classmethod
    def of(cls, key: str, *, rate: float, reserve_fraction: float) -> Budget:
        # Half a second's worth of calls. AWS's own bucket (and the emulator's) holds a second's worth; the
        # margin absorbs the jitter between a token taken here and the request reaching AWS, which with equal
        # buckets comes back as throttling answers (measured: about 1 % of the calls at 10 a second).
        capacity = max(1.0, float(rate) / 2)
        return cls(key, float(rate), capacity, round(capacity * reserve_fraction, 3))


class _LocalBucket:
    """The same arithmetic as the script, for one process, when Redis is out of reach."""

    def __init__(self, budget: Budget, monotonic: Callable[[], float]) -> None:
        self.tokens = budget.capacity
        self.at = monotonic()
        self.lock = threading.Lock()


class SharedRateLimiter:
    """Blocks until the budget allows one more call. Thread-safe; one per process is enough."""

    def __init__(
        self,
        redis_url: Callable[[], str],
        *,
        sleep: Callable[[float], object] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis_url = redis_url
        self._sleep = sleep
        self._monotonic = monotonic
        self._local: dict[Budget, _LocalBucket] = {}
        self._lock = threading.Lock()
        self._redis_down_until = 0.0

    def acquire(self, budget: Budget, *, urgent: bool, timeout: float) -> float:
        """Take one token (urgent callers from the whole bucket, the others above the reserve); returns the
        seconds waited. Raises RateLimitTimeout when none came within `timeout` seconds."""
        reserve = 0.0 if urgent else budget.reserve
        started = self._monotonic()
        while True:
            wait = self._try(budget, reserve)
            if wait <= 0:
                return self._monotonic() - started
            if self._monotonic() - started + wait > timeout:
                raise RateLimitTimeout(f"no API budget within {timeout:.0f} s for {budget.key}")
            # A little jitter, so the waiters that a token woke do not all ask at the same instant.
            self._sleep(wait + random.uniform(0, min(wait, 0.01)))  # noqa: S311 - not security

    def _try(self, budget: Budget, reserve: float) -> float:
        if self._monotonic() >= self._redis_down_until:
            try:
                return float(_script(self._redis_url())(keys=[budget.key], args=_args(budget, reserve)))
            except redis.RedisError as exc:
                self._redis_down_until = self._monotonic() + REDIS_RETRY_SECONDS
                logger.warning(
                    "rate limiter: Redis unreachable (%s); limiting %s in this process only for %.0f s",
                    exc,
                    budget.key,
                    REDIS_RETRY_SECONDS,
                )
        return self._try_locally(budget, reserve)

    def _try_locally(self, budget: Budget, reserve: float) -> float:
        with self._lock:
            bucket = self._local.get(budget)
            if bucket is None:
                bucket = self._local[budget] = _LocalBucket(budget, self._monotonic)
        with bucket.lock:
            now = self._monotonic()
            bucket.tokens = min(budget.capacity, bucket.tokens + max(0.0, now - bucket.at) * budget.rate)
            bucket.at = max(now, bucket.at)
            if bucket.tokens >= 1 + reserve:
                bucket.tokens -= 1
                return 0.0
            return (1 + reserve - bucket.tokens) / budget.rate


def _args(budget: Budget, reserve: float) -> list[str]:
    return [repr(budget.rate), repr(budget.capacity), repr(reserve)]


@cache
def _script(url: str):
    # Short timeouts: a Redis that hangs must cost a call a second at most, then the local fallback.
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1.0)
    return client.register_script(_TAKE)
