"""The in-process API: start the emulator on a port, drive its clock, inject faults, seed data, stop it.

    with Emulator(clock=ManualClock()) as emu:       # started on 127.0.0.1, an ephemeral port
        client = boto3.client("appconfig", endpoint_url=emu.url, ...)
        emu.advance(180)

Every control endpoint under /_emulator/ maps onto a method here (see control.py and README.md).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import demo, estate, persistence
from .clock import Clock, ManualClock, ScaledClock, iso8601
from .counters import CallCounter
from .faults import Fault, FaultInjector
from .pacing import Latency, Pacing, RateLimit
from .server import EmulatorServer
from .state import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, Store

log = logging.getLogger("appconfig_emulator")

STOP_RESPONSES = ("sparse", "full")


class Emulator:
    def __init__(
        self,
        clock: Clock | None = None,
        stop_response: str = "sparse",
        *,
        state_file: str | os.PathLike[str] | None = None,
        save_interval: float = 5.0,
        latency: Latency | None = None,
        rate_limit: RateLimit | None = None,
        sleep: Callable[[float], object] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        """`latency` and `rate_limit` are what reset() returns to; `sleep` waits out a latency (by default
        on the stopping event, so stop() cuts it short) and `monotonic` refills the rate-limit buckets: both
        replaceable by tests. `account_id` is the account that STS GetCallerIdentity and every ARN name."""
        if stop_response not in STOP_RESPONSES:
            raise ValueError(f"stop_response must be one of {', '.join(STOP_RESPONSES)}")
        self.clock: Clock = clock or ScaledClock(1.0)
        self.stop_response = stop_response
        self.store = Store(account_id)
        self.call_counter = CallCounter()
        self.throttle_counter = CallCounter()  # requests answered 429 ThrottlingException, per operation
        self.fault_injector = FaultInjector()
        # Set while stopping: wakes injected delays, the demo and the saver, so that stop() never waits long.
        self.stopping = threading.Event()
        self.pacing = Pacing(
            latency=latency,
            rate_limit=rate_limit,
            sleep=self.stopping.wait if sleep is None else sleep,
            monotonic=monotonic,
        )
        self.state_file = Path(state_file) if state_file else None
        self.save_interval = save_interval
        self.restored = False  # whether the store was loaded from an existing state file
        self._server: EmulatorServer | None = None
        self._threads: list[threading.Thread] = []
        self._demo_activities: list[demo.DemoActivity] = []
        self._rng = random.Random(2019)  # a fixed seed: the same demo every time
        if self.state_file and self.state_file.exists():
            self._restore(self.state_file)

    @property
    def account_id(self) -> str:
        return self.store.account_id

    def _restore(self, state_file: Path) -> None:
        """Loads the state file. A manual clock resumes where the saved state left off. A clock that follows
        the wall clock stays honest instead: a state saved ahead of it (by an earlier, faster --time-scale
        run) is moved back in time as a whole, so that nothing restored lies in the future."""
        saved_at = persistence.load(state_file, self.store)
        if isinstance(self.clock, ManualClock):
            self.clock.catch_up(saved_at)
        elif (lead := saved_at - self.clock.now()) > 0:
            log.info("The state file was saved %.0f s ahead of the clock; moving it back", lead)
            self.store.shift_times(-lead)
        self.restored = True

    # --- life cycle -----------------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Emulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self.stopping.clear()
        self._server = EmulatorServer((host, port), self)
        self._spawn("appconfig-emulator-server", self._server.serve_forever, 0.05)
        if self.state_file:
            self._spawn("appconfig-emulator-saver", self._save_periodically)
        return self

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Stops serving, closes open connections, joins every thread, and saves the state file if any."""
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections(timeout=5.0)
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=10.0)
        self._threads.clear()
        if self.state_file:
            self.save_state()

    def __enter__(self) -> Emulator:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # --- state file -----------------------------------------------------------------------------------------

    def save_state(self) -> None:
        if self.state_file is None:
            raise RuntimeError("no state file was configured")
        persistence.save(self.state_file, self.store, self.clock.now())

    def _save_periodically(self) -> None:
        saved = self.store.changes
        while not self.stopping.wait(self.save_interval):
            if self.store.changes != saved:
                saved = self.store.changes
                try:
                    self.save_state()
                except OSError:
                    log.exception("Could not save the state file %s", self.state_file)

    # --- control --------------------------------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """AWS API requests per operation since the last reset, failed and fault-injected ones included."""
        return self.call_counter.snapshot()

    def throttled(self) -> dict[str, int]:
        """AWS API requests answered 429 ThrottlingException per operation since the last reset, by the rate
        limit or by an injected `throttle` fault."""
        return self.throttle_counter.snapshot()

    def reset_counters(self) -> None:
        self.call_counter.reset()
        self.throttle_counter.reset()

    def reset(self) -> None:
        """Empties the account (predefined strategies remain), the counters and the faults; the latency and
        the rate limit return to those given at start, every rate-limit bucket full."""
        with self.store.lock:
            for activity in self._demo_activities:
                activity.cancelled.set()
            self._demo_activities.clear()
            self.store.clear()
        self.reset_counters()
        self.fault_injector.clear()
        self.pacing.reset()

    def set_latency(self, ms: float, jitter_ms: float = 0.0) -> dict[str, float]:
        """Delays every later AWS API request (not the control interface) by ms ± jitter_ms milliseconds;
        0 turns it off. Answers the setting."""
        self.pacing.latency = Latency(ms, jitter_ms)
        return self.latency()

    def latency(self) -> dict[str, float]:
        return self.pacing.latency.describe()

    def set_rate_limit(self, tps: float | None, burst: int | None = None) -> dict[str, Any]:
        """A token bucket per access key id: `tps` requests a second, bursts of `burst` (default: tps rounded
        up); a request that finds its bucket empty is answered 429 ThrottlingException. None turns it off.
        Every bucket starts full. Answers the setting."""
        self.pacing.rate_limit = None if tps is None else RateLimit.of(tps, burst)
        return self.rate_limit()

    def rate_limit(self) -> dict[str, Any]:
        limit = self.pacing.rate_limit
        return limit.describe() if limit else {"tps": None, "burst": None}

    def now(self) -> float:
        return self.clock.now()

    def clock_status(self) -> dict[str, Any]:
        now = self.clock.now()
        return {"now": iso8601(now), "epoch": now, "manual": isinstance(self.clock, ManualClock)}

    def advance(self, seconds: float) -> float:
        """Moves a manual clock forward; returns the new emulated time (epoch seconds)."""
        if not isinstance(self.clock, ManualClock):
            raise ValueError(
                "the clock is not manual; start the emulator with a ManualClock (--manual-clock)"
            )
        return self.clock.advance(seconds)

    def fire_alarm(
        self, application_id: str, environment_id: str, alarm_arn: str | None = None
    ) -> dict[str, Any]:
        """A CloudWatch alarm of the environment goes off. Without `alarm_arn`, the first monitor's alarm (or
        a made-up one) is named. Raises ApiError (ResourceNotFoundException) for unknown ids."""
        now = self.clock.now()
        with self.store.lock:
            environment = self.store.environment(application_id, environment_id)
            if alarm_arn is None:
                made_up = (
                    f"arn:aws:cloudwatch:{DEFAULT_REGION}:{self.account_id}:alarm:"
                    f"appconfig-emulator-{environment.id}"
                )
                alarm_arn = environment.monitors[0]["AlarmArn"] if environment.monitors else made_up
            deployment = self.store.fire_alarm(environment, alarm_arn=alarm_arn, now=now)
        return {
            "ApplicationId": application_id,
            "EnvironmentId": environment_id,
            "AlarmArn": alarm_arn,
            "DeploymentNumber": deployment.number if deployment else None,
        }

    def add_fault(
        self, operation: str = "*", *, kind: str, count: int | None = 1, seconds: float = 1.0
    ) -> None:
        """Makes the next `count` requests to `operation` ("*" for any) misbehave; count None lasts until
        clear_faults(). Kinds: throttle (429), error (500), latency (sleep `seconds`, then answer),
        apply_then_timeout (apply, hold the connection `seconds`, close it unanswered)."""
        self.fault_injector.add(Fault(operation, kind, count, seconds))

    def faults(self) -> list[dict[str, Any]]:
        return self.fault_injector.describe()

    def fail_action(self, uri: str, *, error_code: str, error_message: str) -> list[dict[str, str]]:
        """Makes invocations of extension actions with this Uri fail with ErrorCode/ErrorMessage, in the
        deployments started from now on (a deployment keeps what it saw when it started); a failing
        PRE_START_DEPLOYMENT action refuses StartDeployment. Answers every failing action."""
        for name, value in (("uri", uri), ("error_code", error_code), ("error_message", error_message)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
        with self.store.lock:
            self.store.action_failures[uri] = (error_code, error_message)
            self.store.changes += 1
        return self.action_failures()

    def action_failures(self) -> list[dict[str, str]]:
        with self.store.lock:
            return [
                {"Uri": uri, "ErrorCode": code, "ErrorMessage": message}
                for uri, (code, message) in self.store.action_failures.items()
            ]

    def clear_action_failures(self) -> None:
        with self.store.lock:
            self.store.action_failures.clear()
            self.store.changes += 1

    def clear_faults(self) -> None:
        self.fault_injector.clear()

    # --- seeding --------------------------------------------------------------------------------------------

    def seed_estate(
        self, applications: int = 1, environments: int = 1, deployments: int = 0, active: int = 0
    ) -> dict[str, Any]:
        """See estate.py; answers the ids created."""
        return estate.seed_estate(
            self.store,
            self.clock.now(),
            applications=applications,
            environments=environments,
            deployments=deployments,
            active=active,
        )

    def seed_demo(self) -> None:
        """Demo applications with history, a first round of activity, and the thread that keeps it going."""
        demo.seed_demo(self.store, self.clock.now(), self._rng)
        self.start_demo_activity()

    def start_demo_activity(self) -> None:
        activity = demo.DemoActivity(self.store, self.clock, self.stopping, self._rng)
        self._demo_activities.append(activity)
        activity.round(self.clock.now())
        self._spawn("appconfig-emulator-demo", activity.run)
