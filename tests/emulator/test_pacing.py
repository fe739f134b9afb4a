"""Latency and throttling like AWS: a delay of MS ± JITTER before every AWS API request, and a token bucket
per access key id answering 429 ThrottlingException. Delays are observed through an injected sleep (or as a
lower bound on a real clock), buckets refill with an injected monotonic clock: nothing here depends on how
fast the machine is."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from appconfig_emulator import Emulator, ManualClock
from appconfig_emulator.pacing import Latency, RateLimit, parse_latency, parse_rate_limit
from tests.emulator.helpers import START, http_request, make_client


class Sleeps(list):
    """An injected sleep that records the seconds asked for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Ticks:
    """An injected monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def paced(sleeps: Sleeps, ticks: Ticks) -> Iterator[Emulator]:
    with Emulator(clock=ManualClock(start=START), sleep=sleeps, monotonic=ticks) as emulator:
        yield emulator


def _strict(url: str, key: str = "AKIDTEST"):
    return make_client(url, access_key_id=key, retries={"total_max_attempts": 1, "mode": "standard"})


def _post(url: str, path: str, document: dict) -> dict:
    response = http_request(url, "POST", f"/_emulator/{path}", body=json.dumps(document))
    assert response.status == 200, response.body
    return response.json()


# --- latency ------------------------------------------------------------------------------------------------


def test_it_delays_every_api_request_by_the_latency_but_not_the_control_interface(paced, sleeps):
    client = _strict(paced.url)
    client.list_applications()
    assert sleeps == []  # no latency unless asked for

    assert paced.set_latency(250) == {"ms": 250, "jitter_ms": 0}
    client.list_applications()
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_application(ApplicationId="zzzzzzz")
    http_request(paced.url, "GET", "/no/such/operation")
    assert sleeps == [0.25, 0.25, 0.25]

    http_request(paced.url, "GET", "/_emulator/counters")
    http_request(paced.url, "GET", "/_emulator/latency")
    assert len(sleeps) == 3


def test_it_spreads_the_latency_by_the_jitter(paced, sleeps):
    _post(paced.url, "latency", {"ms": 100, "jitter_ms": 40})
    client = _strict(paced.url)
    for _ in range(30):
        client.list_applications()
    assert len(sleeps) == 30
    assert all(0.06 <= seconds <= 0.14 for seconds in sleeps)
    assert len(set(sleeps)) > 1


def test_it_never_waits_less_than_zero_when_the_jitter_exceeds_the_latency():
    rng = random.Random(1)
    assert min(Latency(10, 50).seconds(rng) for _ in range(200)) == 0.0


def test_it_waits_at_least_the_latency_on_the_real_clock():
    with Emulator(clock=ManualClock(start=START), latency=Latency(200)) as emulator:
        client = _strict(emulator.url)
        began = time.monotonic()
        client.list_applications()
        assert time.monotonic() - began >= 0.2


# --- rate limit ---------------------------------------------------------------------------------------------


def test_it_throttles_the_request_after_a_burst_with_429_and_awss_error(paced, ticks):
    paced.set_rate_limit(2, burst=3)
    client = _strict(paced.url)
    for _ in range(3):
        client.list_applications()

    with pytest.raises(ClientError) as raised:
        client.list_applications()

    error = raised.value.response
    assert error["Error"]["Code"] == "ThrottlingException"
    assert error["Error"]["Message"] == "Rate exceeded"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ThrottlingException"
    assert paced.throttled() == {"ListApplications": 1}
    assert paced.counters() == {"ListApplications": 4}  # a throttled request is still a request


def test_it_answers_the_exact_wire_form_of_a_throttle(paced):
    paced.set_rate_limit(1, burst=1)
    signed = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDRAW/20261126/us-east-1/appconfig/aws4_request"
    }
    assert http_request(paced.url, "GET", "/applications", headers=signed).status == 200
    response = http_request(paced.url, "GET", "/applications", headers=signed)
    assert response.status == 429
    assert response.headers["x-amzn-ErrorType"] == "ThrottlingException"
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"Message": "Rate exceeded"}


def test_it_refills_the_bucket_as_time_passes(paced, ticks):
    paced.set_rate_limit(2, burst=2)
    client = _strict(paced.url)
    client.list_applications()
    client.list_applications()
    with pytest.raises(ClientError):
        client.list_applications()

    ticks.now += 0.5  # one token at 2 a second
    client.list_applications()
    with pytest.raises(ClientError):
        client.list_applications()

    ticks.now += 60  # a long pause fills the bucket to its burst, no further
    client.list_applications()
    client.list_applications()
    with pytest.raises(ClientError):
        client.list_applications()
    assert paced.throttled() == {"ListApplications": 3}


def test_it_keeps_a_bucket_per_access_key_and_one_for_unsigned_requests(paced):
    paced.set_rate_limit(1, burst=1)
    first, second = _strict(paced.url, "AKIDFIRST"), _strict(paced.url, "AKIDSECOND")
    first.list_applications()
    second.list_applications()  # its own bucket, still full
    with pytest.raises(ClientError):
        first.list_applications()
    with pytest.raises(ClientError):
        second.list_applications()

    assert http_request(paced.url, "GET", "/applications").status == 200
    assert http_request(paced.url, "GET", "/deploymentstrategies").status == 429  # unsigned share one
    assert paced.throttled() == {"ListApplications": 2, "ListDeploymentStrategies": 1}


def test_it_is_retried_by_botocore_as_a_throttling_error(paced):
    paced.set_rate_limit(1, burst=1)
    retrying = make_client(paced.url, retries={"total_max_attempts": 2, "mode": "standard"})
    retrying.list_applications()
    with pytest.raises(ClientError) as raised:
        retrying.list_applications()  # the injected clock stands still, so the retry is throttled too
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    assert paced.throttled() == {"ListApplications": 2}


def test_it_counts_injected_throttle_faults_as_throttled_and_resets_the_count(paced):
    paced.add_fault(operation="GetApplication", kind="throttle")
    client = _strict(paced.url)
    with pytest.raises(ClientError):
        client.get_application(ApplicationId="abc1234")
    assert http_request(paced.url, "GET", "/_emulator/counters/throttled").json() == {"GetApplication": 1}
    http_request(paced.url, "POST", "/_emulator/counters/reset")
    assert paced.throttled() == {} and paced.counters() == {}


def test_it_sets_latency_and_rate_limit_over_the_control_interface(paced, sleeps):
    url = paced.url
    assert http_request(url, "GET", "/_emulator/rate-limit").json() == {"tps": None, "burst": None}
    assert _post(url, "rate-limit", {"tps": 0.5}) == {"tps": 0.5, "burst": 1}
    assert _post(url, "rate-limit", {"tps": 5, "burst": 10}) == {"tps": 5, "burst": 10}
    assert paced.rate_limit() == {"tps": 5, "burst": 10}
    assert http_request(url, "DELETE", "/_emulator/rate-limit").json() == {"tps": None, "burst": None}
    assert _post(url, "latency", {"ms": 30}) == {"ms": 30, "jitter_ms": 0}
    _strict(url).list_applications()
    assert sleeps == [0.03]
    assert http_request(url, "DELETE", "/_emulator/latency").json() == {"ms": 0, "jitter_ms": 0}


@pytest.mark.parametrize(
    ("path", "document"),
    [
        ("rate-limit", {"tps": 0}),
        ("rate-limit", {"tps": "fast"}),
        ("rate-limit", {"tps": 5, "burst": 0}),
        ("rate-limit", {"burst": 5}),
        ("latency", {"ms": -1}),
        ("latency", {"ms": 10, "jitter_ms": "a bit"}),
        ("latency", {"ms": 600_000}),
    ],
)
def test_it_refuses_pacing_it_cannot_apply(paced, path, document):
    response = http_request(paced.url, "POST", f"/_emulator/{path}", body=json.dumps(document))
    assert (response.status, response.headers["x-amzn-ErrorType"]) == (400, "BadRequestException")


def test_it_returns_to_the_pacing_given_at_start_on_reset(sleeps, ticks):
    emulator = Emulator(
        clock=ManualClock(start=START),
        latency=Latency(5),
        rate_limit=RateLimit.of(1),
        sleep=sleeps,
        monotonic=ticks,
    )
    with emulator:
        client = _strict(emulator.url)
        client.list_applications()
        emulator.set_rate_limit(None)
        emulator.set_latency(0)
        emulator.reset()
        assert (emulator.latency(), emulator.rate_limit()) == (
            {"ms": 5, "jitter_ms": 0},
            {"tps": 1, "burst": 1},
        )
        client.list_applications()  # the reset refilled the bucket
        with pytest.raises(ClientError):
            client.list_applications()
    assert sleeps == [0.005, 0.005, 0.005]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("250", Latency(250, 0)), ("250:50", Latency(250, 50)), ("0.5", Latency(0.5, 0))],
)
def test_it_parses_the_latency_option(text, expected):
    assert parse_latency(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10", RateLimit(10, 10)), ("10:25", RateLimit(10, 25)), ("0.2", RateLimit(0.2, 1))],
)
def test_it_parses_the_rate_limit_option(text, expected):
    assert parse_rate_limit(text) == expected


@pytest.mark.parametrize("text", ["", "fast", "-1", "0", "10:0", "10:x", "inf", "nan"])
def test_it_refuses_a_rate_limit_option_it_cannot_apply(text):
    with pytest.raises(ValueError):
        parse_rate_limit(text)
