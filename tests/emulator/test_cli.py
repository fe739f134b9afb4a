"""`python -m appconfig_emulator` as a process, and the AWS CLI as an independent client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest

from tests.emulator.helpers import http_request, make_client

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running_emulator(*arguments: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Starts the emulator process on a free port; yields it and its URL; insists on a clean exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", "appconfig_emulator", "--port", "0", *arguments],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("appconfig_emulator listening on http://127.0.0.1:"), (
            line + process.stderr.read()
        )
        yield process, line.split()[-1]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _terminate(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    return stdout


def test_it_serves_from_the_command_line_and_exits_cleanly_on_sigterm():
    with running_emulator("--manual-clock", "--stop-response", "full") as (process, url):
        assert http_request(url, "GET", "/_emulator/healthz").json() == {"status": "ok"}
        client = make_client(url)
        assert client.create_application(Name="from-the-cli")["Name"] == "from-the-cli"
        assert http_request(url, "GET", "/_emulator/clock").json()["manual"] is True
        assert "appconfig_emulator stopped" in _terminate(process)


def test_it_seeds_the_demo_once_and_keeps_it_in_the_state_file(tmp_path):
    state_file = tmp_path / "state.json"
    with running_emulator("--demo", "--state-file", str(state_file)) as (process, url):
        names = [item["Name"] for item in make_client(url).list_applications()["Items"]]
        _terminate(process)
    assert names == ["payments-api", "checkout-web", "feature-flags", "search"]
    saved = json.loads(state_file.read_text())
    assert [application["name"] for application in saved["applications"]] == names

    with running_emulator("--demo", "--time-scale", "2", "--state-file", str(state_file)) as (process, url):
        again = make_client(url).list_applications()["Items"]
        _terminate(process)
    assert [item["Name"] for item in again] == names


def test_it_takes_latency_and_rate_limit_from_the_command_line():
    with running_emulator("--manual-clock", "--latency", "20:5", "--rate-limit", "0.01:2") as (process, url):
        assert http_request(url, "GET", "/_emulator/latency").json() == {"ms": 20.0, "jitter_ms": 5.0}
        assert http_request(url, "GET", "/_emulator/rate-limit").json() == {"tps": 0.01, "burst": 2}
        client = make_client(url, retries={"total_max_attempts": 1})
        client.list_applications()
        client.list_applications()
        with pytest.raises(client.exceptions.ClientError) as raised:
            client.list_applications()  # a token every 100 s: the bucket of two is empty
        assert raised.value.response["Error"]["Code"] == "ThrottlingException"
        assert http_request(url, "GET", "/_emulator/counters/throttled").json() == {"ListApplications": 1}
        _terminate(process)


@pytest.mark.parametrize(
    ("option", "value"),
    [("--latency", "soon"), ("--rate-limit", "0"), ("--rate-limit", "5:many"), ("--account-id", "42")],
)
def test_it_refuses_pacing_options_it_cannot_apply(option, value):
    result = subprocess.run(
        [sys.executable, "-m", "appconfig_emulator", option, value],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert option in result.stderr


def test_it_names_the_account_id_from_the_command_line_in_sts():
    with running_emulator("--manual-clock", "--account-id", "555555555555") as (process, url):
        sts = boto3.client(
            "sts",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="AKID",
            aws_secret_access_key="x",
        )
        assert sts.get_caller_identity()["Account"] == "555555555555"
        _terminate(process)


def test_it_refuses_bad_arguments():
    result = subprocess.run(
        [sys.executable, "-m", "appconfig_emulator", "--time-scale", "0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--time-scale" in result.stderr


@pytest.fixture
def aws_cli(emulator, tmp_path):
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")} | {
        "AWS_ACCESS_KEY_ID": "AKIDCLI",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }

    def run(*arguments: str) -> dict:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "awscli",
                "appconfig",
                *arguments,
                "--endpoint-url",
                emulator.url,
                "--output",
                "json",
            ],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return run


def test_it_works_with_the_aws_cli(aws_cli, boto3_client):
    application = aws_cli("create-application", "--name", "cli-app")["Id"]
    environment = boto3_client.create_environment(ApplicationId=application, Name="prod")["Id"]
    profile = boto3_client.create_configuration_profile(
        ApplicationId=application, Name="flags", LocationUri="ssm-parameter://flags"
    )["Id"]
    ids = ["--application-id", application, "--environment-id", environment]

    started = aws_cli(
        "start-deployment",
        *ids,
        "--deployment-strategy-id",
        "AppConfig.Canary10Percent20Minutes",
        "--configuration-profile-id",
        profile,
        "--configuration-version",
        "3",
    )
    assert (started["DeploymentNumber"], started["State"]) == (1, "DEPLOYING")

    stopped = aws_cli("stop-deployment", *ids, "--deployment-number", "1")
    assert stopped == {
        "DeploymentNumber": 0,
        "DeploymentDurationInMinutes": 0,
        "GrowthFactor": 0.0,
        "FinalBakeTimeInMinutes": 0,
        "PercentageComplete": 0.0,
    }

    deployment = boto3_client.get_deployment(
        ApplicationId=application, EnvironmentId=environment, DeploymentNumber=1
    )
    assert deployment["State"] == "ROLLED_BACK"
    assert deployment["EventLog"][1]["Description"] == "Rollback initiated by AKIDCLI"
