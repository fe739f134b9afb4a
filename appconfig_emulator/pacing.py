"""How fast the AWS API answers, as AWS would: a latency of MS ± JITTER milliseconds before every AWS API
request is handled, and a token-bucket rate limit per access key id (see README.md, "Latency and throttling").

The rate limit is per access key id, parsed from the SigV4 Authorization header (`Credential=AKID/...`):
AWS meters an account's calls, and the console gives every Account its own credentials, so a key id is the
emulator's nearest thing to an account. Requests without a signature share one bucket. Buckets refill with
the wall clock (a monotonic clock, injectable for tests), not with the emulated clock: throttling is about the
pace of real clients, whatever `--time-scale` does to deployments.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_LATENCY_MS = 60_000.0
UNSIGNED = ""  # the bucket shared by requests without an access key id


@dataclass(frozen=True, slots=True)
class Latency:
    """MS ± JITTER milliseconds, spread uniformly; never below zero."""

    ms: float = 0.0
    jitter_ms: float = 0.0

    def __post_init__(self) -> None:
        for name, value in (("ms", self.ms), ("jitter_ms", self.jitter_ms)):
            if type(value) not in (int, float) or not 0 <= value <= MAX_LATENCY_MS:
                raise ValueError(
                    f"{name} must be a number of milliseconds between 0 and {MAX_LATENCY_MS:.0f}"
                )

    def seconds(self, rng: random.Random) -> float:
        jitter = rng.uniform(-self.jitter_ms, self.jitter_ms) if self.jitter_ms else 0.0
        return max(0.0, self.ms + jitter) / 1000.0

    def describe(self) -> dict[str, float]:
        return {"ms": self.ms, "jitter_ms": self.jitter_ms}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """TPS tokens a second into a bucket of BURST tokens (BURST defaults to TPS rounded up, at least 1)."""

    tps: float
    burst: int

    def __post_init__(self) -> None:
        if type(self.tps) not in (int, float) or not 0 < self.tps < math.inf:
            raise ValueError("tps must be a positive number of requests per second")
        if type(self.burst) is not int or self.burst < 1:
            raise ValueError("burst must be a positive integer")

    @classmethod
    def of(cls, tps: float, burst: int | None = None) -> RateLimit:
        if burst is None:
            # 0 for a tps that __post_init__ refuses anyway.
            burst = max(1, math.ceil(tps)) if type(tps) in (int, float) and 0 < tps < math.inf else 0
        return cls(tps, burst)

    def describe(self) -> dict[str, Any]:
        return {"tps": self.tps, "burst": self.burst}


def parse_latency(text: str) -> Latency:
    """`MS` or `MS:JITTER`, as given to --latency."""
    ms, _, jitter = text.partition(":")
    return Latency(float(ms), float(jitter) if jitter else 0.0)


def parse_rate_limit(text: str) -> RateLimit:
    """`TPS` or `TPS:BURST`, as given to --rate-limit."""
    tps, _, burst = text.partition(":")
    return RateLimit.of(float(tps), int(burst) if burst else None)


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated


class Pacing:
    """The latency and the rate limit in force, and the buckets of the rate limit.

    `sleep` waits out a latency (the emulator passes its stopping event's `wait`, so stop() cuts a delay
    short); `monotonic` is the time source the buckets refill with. Both are injectable for tests.
    """

    def __init__(
        self,
        *,
        latency: Latency | None = None,
        rate_limit: RateLimit | None = None,
        sleep: Callable[[float], object],
        monotonic: Callable[[], float],
        rng: random.Random | None = None,
    ) -> None:
        self._initial = (latency or Latency(), rate_limit)
        self._latency, self._rate_limit = self._initial
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    @property
    def latency(self) -> Latency:
        return self._latency

    @latency.setter
    def latency(self, latency: Latency) -> None:
        self._latency = latency

    @property
    def rate_limit(self) -> RateLimit | None:
        return self._rate_limit

    @rate_limit.setter
    def rate_limit(self, rate_limit: RateLimit | None) -> None:
        with self._lock:
            self._rate_limit = rate_limit
            self._buckets.clear()  # every key starts again with a full bucket

    def reset(self) -> None:
        """Back to the latency and rate limit given at start, every bucket full."""
        self.latency, self.rate_limit = self._initial

    def delay(self) -> float:
        """Waits out the latency of one request; answers the seconds chosen."""
        seconds = self._latency.seconds(self._rng)
        if seconds > 0:
            self._sleep(seconds)
        return seconds

    def admit(self, access_key_id: str) -> bool:
        """Takes a token from the key's bucket; False (throttle the request) when the bucket is empty."""
        limit = self._rate_limit
        if limit is None:
            return True
        now = self._monotonic()
        with self._lock:
            bucket = self._buckets.get(access_key_id)
            if bucket is None:
                bucket = self._buckets[access_key_id] = _Bucket(float(limit.burst), now)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(float(limit.burst), bucket.tokens + elapsed * limit.tps)
                bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return True
            return False
