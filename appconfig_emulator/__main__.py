"""`python -m appconfig_emulator`: serve until SIGINT or SIGTERM, then save the state file and exit 0."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from .clock import Clock, ManualClock, ScaledClock
from .emulator import STOP_RESPONSES, Emulator
from .pacing import Latency, RateLimit, parse_latency, parse_rate_limit
from .state import DEFAULT_ACCOUNT_ID


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _latency(text: str) -> Latency:
    try:
        return parse_latency(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected MS or MS:JITTER in milliseconds ({error})") from None


def _rate_limit(text: str) -> RateLimit:
    try:
        return parse_rate_limit(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected TPS or TPS:BURST ({error})") from None


def _account_id(text: str) -> str:
    if not (len(text) == 12 and text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError("an AWS account id is 12 digits")
    return text


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m appconfig_emulator", description="AWS AppConfig control-plane emulator"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4566, help="port to listen on; 0 picks a free one")
    clock = parser.add_mutually_exclusive_group()
    clock.add_argument(
        "--time-scale",
        type=_positive,
        default=1.0,
        help="emulated seconds per wall-clock second; 60 makes a 10-minute deployment take 10 seconds",
    )
    clock.add_argument(
        "--manual-clock",
        action="store_true",
        help="freeze emulated time; move it with POST /_emulator/clock/advance",
    )
    parser.add_argument(
        "--demo", action="store_true", help="seed demo data (unless restored) and keep it moving"
    )
    parser.add_argument(
        "--state-file", help="load state from this JSON file if present; save it periodically"
    )
    parser.add_argument(
        "--save-interval", type=_positive, default=5.0, help="seconds between saves of the state file"
    )
    parser.add_argument(
        "--stop-response",
        choices=STOP_RESPONSES,
        default="sparse",
        help="StopDeployment's 202 body: AWS's near-empty one (sparse) or the full Deployment",
    )
    parser.add_argument(
        "--latency",
        type=_latency,
        metavar="MS[:JITTER]",
        help="delay every AWS API request (not /_emulator/) by MS plus or minus JITTER milliseconds",
    )
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit,
        metavar="TPS[:BURST]",
        help="a token bucket per access key id: TPS requests a second, bursts of BURST (default TPS); "
        "an empty bucket answers 429 ThrottlingException",
    )
    parser.add_argument(
        "--account-id",
        type=_account_id,
        default=DEFAULT_ACCOUNT_ID,
        help=f"the AWS account id that STS GetCallerIdentity and ARNs name (default {DEFAULT_ACCOUNT_ID})",
    )
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=arguments.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    clock: Clock = ManualClock() if arguments.manual_clock else ScaledClock(arguments.time_scale)
    emulator = Emulator(
        clock=clock,
        stop_response=arguments.stop_response,
        state_file=arguments.state_file,
        save_interval=arguments.save_interval,
        latency=arguments.latency,
        rate_limit=arguments.rate_limit,
        account_id=arguments.account_id,
    )
    if arguments.demo:
        # A restored state already holds the demo's data; seeding again would duplicate every application.
        if emulator.restored:
            emulator.start_demo_activity()
        else:
            emulator.seed_demo()
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        emulator.start(arguments.host, arguments.port)
    except OSError as error:
        print(
            f"appconfig_emulator: cannot listen on {arguments.host}:{arguments.port}: {error}",
            file=sys.stderr,
        )
        emulator.stop()
        return 1
    print(f"appconfig_emulator listening on {emulator.url}", flush=True)
    stop_requested.wait()
    emulator.stop()
    print("appconfig_emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
