"""STS GetCallerIdentity at the emulator's endpoint, through boto3 and on the wire."""

from __future__ import annotations

from urllib.parse import urlencode

import boto3
import pytest
from botocore.exceptions import ClientError

from appconfig_emulator import Emulator, ManualClock
from tests.emulator.helpers import START


def _sts(url: str, key: str = "AKIDTEST"):
    return boto3.client(
        "sts",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key="x",
    )


def test_it_answers_get_caller_identity_with_the_demo_account(emulator):
    identity = _sts(emulator.url, "AKIDCONSOLE").get_caller_identity()
    assert identity["Account"] == "123456789012"
    assert identity["Arn"] == "arn:aws:iam::123456789012:user/AKIDCONSOLE"
    assert identity["UserId"] == "AKIDCONSOLE"
    assert identity["ResponseMetadata"]["HTTPStatusCode"] == 200
    # One request id, in the body (where botocore reads it) and in the header.
    request_id = identity["ResponseMetadata"]["RequestId"]
    assert request_id and identity["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"] == request_id
    assert emulator.counters() == {"sts:GetCallerIdentity": 1}


def test_it_names_the_account_it_was_given():
    with Emulator(clock=ManualClock(start=START), account_id="210987654321") as emulator:
        assert _sts(emulator.url).get_caller_identity()["Account"] == "210987654321"
        assert emulator.account_id == "210987654321"


@pytest.mark.parametrize("account_id", ["12345", "12345678901a", "1234567890123"])
def test_it_refuses_an_account_id_that_is_not_twelve_digits(account_id):
    with pytest.raises(ValueError):
        Emulator(account_id=account_id)


def test_it_answers_the_query_protocols_xml_on_the_wire(raw):
    response = raw(
        "POST",
        "/",
        body=urlencode({"Action": "GetCallerIdentity", "Version": "2011-06-15"}),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/xml"
    body = response.body.decode()
    assert '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">' in body
    assert "<Account>123456789012</Account>" in body
    assert "<UserId>anonymous</UserId>" in body  # unsigned


def test_it_answers_get_caller_identity_asked_in_the_query_string(raw):
    response = raw("GET", "/?Action=GetCallerIdentity&Version=2011-06-15")
    assert response.status == 200 and b"<Account>123456789012</Account>" in response.body


def test_it_refuses_other_sts_actions_as_sts_does(emulator):
    client = _sts(emulator.url)
    with pytest.raises(ClientError) as raised:
        client.assume_role(RoleArn="arn:aws:iam::123456789012:role/x", RoleSessionName="session")
    assert raised.value.response["Error"]["Code"] == "InvalidAction"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert emulator.counters() == {}


def test_it_still_answers_404_for_the_root_without_an_action(raw):
    response = raw("GET", "/")
    assert (response.status, response.headers["x-amzn-ErrorType"]) == (404, "UnknownOperationException")


def test_it_applies_the_latency_to_sts_but_not_the_rate_limit():
    sleeps: list[float] = []
    with Emulator(clock=ManualClock(start=START), sleep=sleeps.append) as emulator:
        emulator.set_latency(40)
        emulator.set_rate_limit(1, burst=1)
        client = _sts(emulator.url)
        for _ in range(3):
            client.get_caller_identity()
        assert sleeps == [0.04, 0.04, 0.04]
        assert emulator.throttled() == {}
