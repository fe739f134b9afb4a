"""manage.py stop_deployment: the AWS CLI's options, skeletons and exit codes, through the console's stop
service, against the real emulator. The worker is played between the command's looks by `ticks` (each
one-second sleep runs stop_request_execute on approved requests), except in the end-to-end test, which runs
a real Celery worker; a few runs go through a real `python manage.py` process for the real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from audit.models import AuditEvent
from deployments import sync
from deployments.management import cli
from deployments.models import Deployment, Role, StopRequest, StopStatus
from portal.commands import os_user
from stops import services
from stops.management.commands import stop_deployment
from tests.deployments.seeding import make_target, start
from tests.helpers import set_policy

pytestmark = pytest.mark.django_db

INPUT_SKELETON = """{
    "ApplicationId": "",
    "EnvironmentId": "",
    "DeploymentNumber": 0,
    "AllowRevert": true
}
"""

YAML_SKELETON = """ApplicationId: '' # [REQUIRED] The application ID.
EnvironmentId: '' # [REQUIRED] The environment ID.
DeploymentNumber: 0 # [REQUIRED] The sequence number of the deployment.
AllowRevert: true # A Boolean that enables AppConfig to rollback a COMPLETED deployment to the previous configuration version.
"""  # noqa: E501

OUTPUT_SKELETON = """{
    "ApplicationId": "ApplicationId",
    "EnvironmentId": "EnvironmentId",
    "DeploymentStrategyId": "DeploymentStrategyId",
    "ConfigurationProfileId": "ConfigurationProfileId",
    "DeploymentNumber": 0,
    "ConfigurationName": "ConfigurationName",
    "ConfigurationLocationUri": "ConfigurationLocationUri",
    "ConfigurationVersion": "ConfigurationVersion",
    "Description": "Description",
    "DeploymentDurationInMinutes": 0,
    "GrowthType": "GrowthType",
    "GrowthFactor": 0.0,
    "FinalBakeTimeInMinutes": 0,
    "State": "State",
    "EventLog": [
        {
            "EventType": "EventType",
            "TriggeredBy": "TriggeredBy",
            "Description": "Description",
            "ActionInvocations": [
                {
                    "ExtensionIdentifier": "ExtensionIdentifier",
                    "ActionName": "ActionName",
                    "Uri": "Uri",
                    "RoleArn": "RoleArn",
                    "ErrorMessage": "ErrorMessage",
                    "ErrorCode": "ErrorCode",
                    "InvocationId": "InvocationId"
                }
            ],
            "OccurredAt": "1970-01-01T00:00:00"
        }
    ],
    "PercentageComplete": 0.0,
    "StartedAt": "1970-01-01T00:00:00",
    "CompletedAt": "1970-01-01T00:00:00",
    "AppliedExtensions": [
        {
            "ExtensionId": "ExtensionId",
            "ExtensionAssociationId": "ExtensionAssociationId",
            "VersionNumber": 0,
            "Parameters": {
                "KeyName": ""
            }
        }
    ],
    "KmsKeyArn": "KmsKeyArn",
    "KmsKeyIdentifier": "KmsKeyIdentifier",
    "VersionLabel": "VersionLabel"
}
"""

# What GetDeployment answers that the cache does not keep.
UNCACHED = ("AppliedExtensions", "KmsKeyArn", "KmsKeyIdentifier")


# ---------------------------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture
def live(live):
    """The shared deployment in progress, in an environment that needs no approval."""
    return set_policy(live, 0)


@pytest.fixture
def completed(account, emulator, boto_client):
    """A deployment COMPLETE a minute ago (inside the 72-hour revert window), no approval needed."""
    target = make_target(boto_client, duration=0, growth=100.0, bake=0)
    number = start(boto_client, target)
    emulator.advance(60)
    sync.sync_account(account=account)
    deployment = Deployment.objects.select_related("environment__application__account").get(
        deployment_number=number
    )
    assert deployment.state == "COMPLETE"
    set_policy(deployment, 0)
    emulator.reset_counters()
    return deployment


@pytest.fixture
def two(account, emulator, boto_client):
    """Deployment 1 COMPLETE, deployment 2 DEPLOYING, in one environment that needs no approval."""
    target = make_target(boto_client, duration=0, growth=100.0, bake=0)
    start(boto_client, target)
    emulator.advance(60)
    target.strategy_id = boto_client.create_deployment_strategy(
        Name="ten-minutes", DeploymentDurationInMinutes=10, GrowthFactor=20.0, FinalBakeTimeInMinutes=5,
        GrowthType="LINEAR", ReplicateTo="NONE",
    )["Id"]  # fmt: skip
    start(boto_client, target)
    emulator.advance(150)
    sync.sync_account(account=account)
    first, second = Deployment.objects.select_related("environment__application").order_by(
        "deployment_number"
    )
    assert (first.state, second.state) == ("COMPLETE", "DEPLOYING")
    set_policy(second, 0)
    emulator.reset_counters()
    return first, second


class Ticks:
    """The command's clock and, between its looks, the worker: each sleep advances the clock, runs every
    approved request (what the stop_execute task would do), then whatever the test planned for that tick."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0
        self.plan: dict[int, object] = {}

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += 1
        for pk in StopRequest.objects.filter(status=StopStatus.APPROVED).values_list("pk", flat=True):
            services.stop_request_execute(stop_request_id=pk)
        if self.slept in self.plan:
            self.plan[self.slept]()


@pytest.fixture
def ticks(monkeypatch) -> Ticks:
    clock = Ticks()
    monkeypatch.setattr(stop_deployment, "_sleep", clock.sleep)
    monkeypatch.setattr(stop_deployment, "_monotonic", lambda: clock.now)
    return clock


@pytest.fixture(autouse=True)
def _keep_the_test_connection(monkeypatch):
    # run_from_argv closes every connection when it ends, as a process about to exit may; inside a test that
    # would throw away the test's transaction.
    monkeypatch.setattr(connections, "close_all", lambda: None)


def ids(deployment: Deployment) -> list[str]:
    environment = deployment.environment
    return [
        "--application-id",
        environment.application.application_id,
        "--environment-id",
        environment.environment_id,
        "--deployment-number",
        str(deployment.deployment_number),
    ]


def as_user(username: str = "operator", reason: str = "error rate up") -> list[str]:
    return ["--user", username, "--reason", reason]


def call(*argv: str) -> str:
    out = StringIO()
    call_command("stop_deployment", *argv, stdout=out, stderr=StringIO())
    return out.getvalue()


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def run(*argv: str) -> Run:
    """As from the shell, in this process: run_from_argv, its exit status and both streams."""
    out, err = StringIO(), StringIO()
    command = stop_deployment.Command(stdout=out, stderr=err)
    try:
        command.run_from_argv(["manage.py", "stop_deployment", *argv])
        code = 0
    except SystemExit as exc:
        code = exc.code
    return Run(code, out.getvalue(), err.getvalue())


def assert_fails(argv: list[str], returncode: int, message: str) -> None:
    """The same refusal through call_command (CommandError and its returncode) and from the command line
    (exit status, nothing on stdout, exactly one `error:` line on stderr)."""
    with pytest.raises(CommandError) as raised:
        call(*argv)
    assert raised.value.returncode == returncode
    assert message in str(raised.value)
    assert_run_fails(argv, returncode, message)


def assert_run_fails(argv: list[str], returncode: int, message: str) -> None:
    """From the command line only, for refusals that change what a second attempt would meet."""
    result = run(*argv)
    assert result.code == returncode
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ")
    assert message in result.stderr


def appconfig_answer(boto_client, deployment: Deployment) -> str:
    """GetDeployment as `aws appconfig get-deployment --output json` prints it, less what is not cached."""
    environment = deployment.environment
    answer = boto_client.get_deployment(
        ApplicationId=environment.application.application_id,
        EnvironmentId=environment.environment_id,
        DeploymentNumber=deployment.deployment_number,
    )
    for member in ("ResponseMetadata", *UNCACHED):
        answer.pop(member, None)
    for event in answer["EventLog"]:
        if not event.get("ActionInvocations"):
            event.pop("ActionInvocations", None)  # printed only when there are some
    return cli.to_json(answer) + "\n"


def actions(stop_request: StopRequest) -> list[tuple[str, str]]:
    return list(
        AuditEvent.objects.filter(stop_request_id=stop_request.pk)
        .order_by("sequence")
        .values_list("action", "source")
    )


# ---------------------------------------------------------------------------------------------------------
# Skeletons


@pytest.mark.parametrize("argv", [["--generate-cli-skeleton"], ["--generate-cli-skeleton", "input"]])
def test_it_prints_the_input_skeleton_byte_for_byte(argv):
    assert call(*argv) == INPUT_SKELETON


def test_it_prints_the_yaml_input_skeleton_byte_for_byte():
    assert call("--generate-cli-skeleton", "yaml-input") == YAML_SKELETON


def test_it_prints_input_skeletons_whatever_else_is_missing(emulator):
    assert call("--generate-cli-skeleton", "--user", "nobody") == INPUT_SKELETON
    assert emulator.counters() == {}


def test_it_validates_the_arguments_then_prints_the_sample_output(live, operator, emulator):
    assert call(*ids(live), *as_user(), "--generate-cli-skeleton", "output") == OUTPUT_SKELETON
    assert not StopRequest.objects.exists()
    assert emulator.counters() == {}


def test_it_takes_the_output_skeletons_arguments_from_cli_input_too(operator):
    document = json.dumps({"ApplicationId": "abc1234", "EnvironmentId": "def5678", "DeploymentNumber": 3})
    argv = ["--cli-input-json", document, *as_user(), "--generate-cli-skeleton", "output"]
    assert call(*argv) == OUTPUT_SKELETON


def test_it_refuses_the_output_skeleton_without_the_required_arguments():
    assert_fails(
        ["--generate-cli-skeleton", "output"],
        252,
        "the following arguments are required: --application-id, --environment-id, --deployment-number, "
        "--user, --reason",
    )


def test_it_refuses_the_output_skeleton_for_an_unknown_user(live):
    assert_fails(
        [*ids(live), *as_user("ghost"), "--generate-cli-skeleton", "output"], 254, "no user named 'ghost'"
    )


def test_it_refuses_an_unknown_skeleton_value():
    assert_fails(
        ["--generate-cli-skeleton", "xml"], 252, "argument --generate-cli-skeleton: invalid choice: 'xml'"
    )


# ---------------------------------------------------------------------------------------------------------
# Stopping


def test_it_stops_a_deployment_that_needs_no_approval_and_prints_it_read_back(
    live, operator, emulator, boto_client, ticks
):
    printed = call(*ids(live), *as_user())

    assert printed == appconfig_answer(boto_client, live)
    shape = json.loads(printed)
    assert shape["State"] == "ROLLED_BACK"
    assert [e["EventType"] for e in shape["EventLog"][:2]] == ["ROLLBACK_COMPLETED", "ROLLBACK_STARTED"]
    assert list(shape)[:5] == [
        "ApplicationId",
        "EnvironmentId",
        "DeploymentStrategyId",
        "ConfigurationProfileId",
        "DeploymentNumber",
    ]
    assert emulator.counters()["StopDeployment"] == 1
    assert ticks.slept == 1  # it waited for the worker although --wait was not given
    request = StopRequest.objects.get()
    assert (request.status, request.kind, request.source) == ("succeeded", "stop", "command")
    assert request.reason == "error rate up"
    assert actions(request) == [
        ("stop.requested", "command"),
        ("stop.approved", "command"),
        ("stop.succeeded", "worker"),
    ]


def test_it_reverts_a_completed_deployment_with_allow_revert(completed, operator, ticks):
    shape = json.loads(call(*ids(completed), *as_user(), "--allow-revert"))
    assert shape["State"] == "REVERTED"
    assert StopRequest.objects.get().kind == "revert"


def test_it_stops_a_running_deployment_even_with_allow_revert_as_appconfig_does(live, operator, ticks):
    shape = json.loads(call(*ids(live), *as_user(), "--allow-revert"))
    assert shape["State"] == "ROLLED_BACK"
    assert StopRequest.objects.get().kind == "stop"


def test_it_refuses_to_stop_a_completed_deployment_without_allow_revert(completed, operator, ticks):
    assert_fails(
        [*ids(completed), *as_user()],
        254,
        "is COMPLETE: only a deploying or baking deployment can be stopped",
    )
    assert not StopRequest.objects.exists()


def test_it_refuses_a_revert_after_72_hours(completed, operator, ticks):
    Deployment.objects.filter(pk=completed.pk).update(completed_at=completed.completed_at.replace(year=2000))
    assert_fails([*ids(completed), *as_user(), "--allow-revert"], 254, "within 72 hours")


def test_it_refuses_a_deployment_that_is_already_rolled_back(live, operator, emulator):
    Deployment.objects.filter(pk=live.pk).update(state="ROLLED_BACK")
    assert_fails([*ids(live), *as_user()], 254, "is ROLLED_BACK")
    assert not StopRequest.objects.exists()
    assert emulator.counters() == {}


def test_it_refuses_a_second_open_request(live, operator, make_user):
    set_policy(live, 1)
    call(*ids(live), *as_user())
    make_user(Role.OPERATOR, username="second")
    assert_fails([*ids(live), *as_user("second")], 254, "already open")


def test_it_asks_for_the_critical_environments_name_then_stops(live, operator, ticks):
    set_policy(live, 0, critical=True)
    name = live.environment.name
    assert_fails(
        [*ids(live), *as_user()], 254, "type its name to confirm. Pass --confirmation with its name."
    )
    assert_fails([*ids(live), *as_user(), "--confirmation", "staging"], 254, "type its name to confirm")
    shape = json.loads(call(*ids(live), *as_user(), "--confirmation", name))
    assert shape["State"] == "ROLLED_BACK"


def test_it_says_when_the_deployment_completed_before_the_stop_ran(live, operator, emulator, ticks):
    emulator.advance(60 * 60)
    assert_run_fails(
        [*ids(live), *as_user()], 254, "failed: Completed before the stop ran: request a revert instead."
    )
    assert emulator.counters().get("StopDeployment", 0) == 0


def test_it_prints_the_stored_copy_when_the_read_back_fails(live, operator, emulator, ticks):
    ticks.plan[1] = lambda: emulator.add_fault(operation="GetDeployment", kind="error", count=None)
    result = run(*ids(live), *as_user())
    assert result.code == 0
    assert json.loads(result.stdout)["State"] == "ROLLED_BACK"
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("warning: could not read the deployment back (GetDeployment: Internal")


def test_it_syncs_the_environment_once_for_a_deployment_started_since_the_last_pass(
    live, operator, emulator, boto_client, ticks
):
    Deployment.objects.filter(pk=live.pk).delete()  # as if sync had not seen it yet
    shape = json.loads(call(*ids(live), *as_user()))
    assert shape["State"] == "ROLLED_BACK"
    assert emulator.counters()["ListDeployments"] == 1


# ---------------------------------------------------------------------------------------------------------
# Approvals


def test_it_prints_a_pending_request_and_where_to_approve_it(live, operator, emulator):
    set_policy(live, 1)
    printed = call(*ids(live), *as_user())
    request = StopRequest.objects.get()
    assert printed == (
        "{\n"
        f'    "StopRequestId": {request.pk},\n'
        '    "Status": "pending",\n'
        '    "ApprovalsRequired": 1,\n'
        '    "Approvals": 0,\n'
        f'    "ApproveAt": "{settings.CONSOLE_BASE_URL}/stop-requests/"\n'
        "}\n"
    )
    assert actions(request) == [("stop.requested", "command")]
    assert emulator.counters().get("StopDeployment", 0) == 0


def test_it_waits_for_the_approval_and_prints_the_outcome(live, operator, approver, emulator, ticks):
    set_policy(live, 1)
    ticks.plan[1] = lambda: services.stop_request_approve(
        stop_request=StopRequest.objects.get(), user=approver
    )

    shape = json.loads(call(*ids(live), *as_user(), "--wait"))

    assert shape["State"] == "ROLLED_BACK"
    assert ticks.slept == 2  # approved during the first sleep, executed during the second
    assert emulator.counters()["StopDeployment"] == 1
    assert [a for a, _ in actions(StopRequest.objects.get())] == [
        "stop.requested",
        "stop.approved",
        "stop.succeeded",
    ]


def test_it_says_when_the_request_is_rejected(live, operator, approver, ticks):
    set_policy(live, 1)
    ticks.plan[1] = lambda: services.stop_request_reject(
        stop_request=StopRequest.objects.get(), user=approver, comment="metrics are fine"
    )
    assert_run_fails(
        [*ids(live), *as_user(), "--wait"], 254, "rejected: Rejected by approver: metrics are fine"
    )


def test_it_gives_up_waiting_after_the_timeout(live, operator, ticks):
    set_policy(live, 1)
    with pytest.raises(CommandError) as raised:
        call(*ids(live), *as_user(), "--wait", "--timeout", "3")
    assert raised.value.returncode == 254
    request = StopRequest.objects.get()
    assert str(raised.value) == (
        f"timed out after 3 s waiting for stop request #{request.pk} (pending); it goes on in the console: "
        f"{settings.CONSOLE_BASE_URL}/stop-requests/"
    )
    assert ticks.slept == 3
    assert request.status == "pending"


# ---------------------------------------------------------------------------------------------------------
# --cli-input-json and --cli-input-yaml


def _document(deployment: Deployment, fmt: str, **extra) -> str:
    environment = deployment.environment
    values = {
        "ApplicationId": environment.application.application_id,
        "EnvironmentId": environment.environment_id,
        "DeploymentNumber": deployment.deployment_number,
        **extra,
    }
    if fmt == "json":
        return json.dumps(values)
    return "".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items())


@pytest.mark.parametrize("fmt", ["json", "yaml"])
@pytest.mark.parametrize("where", ["string", "file"])
def test_it_reads_the_arguments_from_cli_input(live, operator, ticks, tmp_path, fmt, where):
    document = _document(live, fmt)
    if where == "file":
        path = tmp_path / f"input.{fmt}"
        path.write_text(document)
        document = f"file://{path}"
    shape = json.loads(call(f"--cli-input-{fmt}", document, *as_user()))
    assert shape["State"] == "ROLLED_BACK"


def test_it_lets_the_command_line_override_the_files_deployment_number(two, operator, ticks, tmp_path):
    first, second = two
    path = tmp_path / "input.json"
    path.write_text(_document(first, "json"))
    shape = json.loads(call("--cli-input-json", f"file://{path}", "--deployment-number", "2", *as_user()))
    assert shape["DeploymentNumber"] == 2
    assert shape["State"] == "ROLLED_BACK"
    assert StopRequest.objects.get().deployment_id == second.pk


def test_it_lets_no_allow_revert_override_the_files_allow_revert(completed, operator, ticks):
    document = _document(completed, "yaml", AllowRevert=True)
    assert_fails(["--cli-input-yaml", document, "--no-allow-revert", *as_user()], 254, "is COMPLETE")
    assert not StopRequest.objects.exists()

    shape = json.loads(call("--cli-input-yaml", document, *as_user()))
    assert shape["State"] == "REVERTED"


def test_it_refuses_both_cli_inputs(live):
    assert_fails(
        ["--cli-input-json", "{}", "--cli-input-yaml", "{}", *as_user()],
        252,
        "cannot specify both --cli-input-json and --cli-input-yaml",
    )


# ---------------------------------------------------------------------------------------------------------
# Refusals before anything is done (252)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--environment-id", "e", "--deployment-number", "1", "--user", "u", "--reason", "r"],
            "the following arguments are required: --application-id",
        ),
        (
            ["--application-id", "a", "--deployment-number", "1", "--user", "u", "--reason", "r"],
            "the following arguments are required: --environment-id",
        ),
        (
            ["--application-id", "a", "--environment-id", "e", "--user", "u", "--reason", "r"],
            "the following arguments are required: --deployment-number",
        ),
        (
            ["--application-id", "a", "--environment-id", "e", "--deployment-number", "1", "--reason", "r"],
            "the following arguments are required: --user",
        ),
        (
            ["--application-id", "a", "--environment-id", "e", "--deployment-number", "1", "--user", "u"],
            "the following arguments are required: --reason",
        ),
        (
            [
                "--application-id",
                "a",
                "--environment-id",
                "e",
                "--deployment-number",
                "1",
                *as_user("u", " "),
            ],
            "the following arguments are required: --reason",
        ),
        (
            ["--application-id", "a", "--environment-id", "e", "--deployment-number", "two", *as_user()],
            "argument --deployment-number: invalid integer value: 'two'",
        ),
        (
            ["--application-id", "a", "--environment-id", "e", "--deployment-number", "1.5", *as_user()],
            "argument --deployment-number: invalid integer value: '1.5'",
        ),
        (
            ["--cli-input-json", '{"ApplicationId": "a",', *as_user()],
            "Error parsing parameter '--cli-input-json': Invalid JSON: ",
        ),
        (
            ["--cli-input-yaml", "ApplicationId: [a", *as_user()],
            "Error parsing parameter '--cli-input-yaml': Invalid YAML: ",
        ),
        (
            ["--cli-input-json", "[1, 2]", *as_user()],
            "Error parsing parameter '--cli-input-json': the input must be a mapping of parameters",
        ),
        (
            [
                "--cli-input-json",
                '{"ApplicationId": "a", "EnvironmentId": "e", "DeploymentNumber": 1, "Force": true}',
                *as_user(),
            ],  # fmt: skip
            'Parameter validation failed: Unknown parameter in input: "Force", must be one of: '
            "ApplicationId, EnvironmentId, DeploymentNumber, AllowRevert",
        ),
        (
            [
                "--cli-input-json",
                '{"ApplicationId": "a", "EnvironmentId": "e", "DeploymentNumber": "1"}',
                *as_user(),
            ],  # fmt: skip
            "Parameter validation failed: Invalid type for parameter DeploymentNumber, value: 1, "
            "type: <class 'str'>, valid types: <class 'int'>",
        ),
        (
            ["--cli-input-yaml", "{ApplicationId: a, EnvironmentId: e, DeploymentNumber: true}", *as_user()],
            "Invalid type for parameter DeploymentNumber, value: True, type: <class 'bool'>",
        ),
        (
            [
                "--cli-input-yaml",
                "{ApplicationId: a, EnvironmentId: e, DeploymentNumber: 1, AllowRevert: 'sure'}",
                *as_user(),
            ],  # fmt: skip
            "Invalid type for parameter AllowRevert, value: sure, type: <class 'str'>, "
            "valid types: <class 'bool'>",
        ),
        (
            ["--cli-input-json", '{"ApplicationId": "a"}', *as_user()],
            "the following arguments are required: --environment-id, --deployment-number",
        ),
        (
            ["--cli-input-json", "file:///nonexistent/input.json", *as_user()],
            "Error parsing parameter '--cli-input-json': Unable to load paramfile file:///nonexistent/input.json",
        ),
        (
            [
                "--application-id",
                "a",
                "--environment-id",
                "e",
                "--deployment-number",
                "1",
                *as_user(),
                "--timeout",
                "-1",
            ],  # fmt: skip
            "argument --timeout: must be between 0 and 86400 seconds: '-1'",
        ),
        (["--app", "a"], "unrecognized arguments: --app a"),
    ],
)
def test_it_refuses_a_command_line_it_cannot_use_with_252(argv, message, emulator):
    assert_fails(argv, 252, message)
    assert not StopRequest.objects.exists()
    assert emulator.counters() == {}


@pytest.mark.parametrize(
    ("source", "problem"),
    [("/dev/zero", "not a regular file"), ("DIR", "not a regular file"), ("BIG", "larger than")],
)
def test_it_reads_only_a_bounded_regular_input_file(source, problem, emulator, tmp_path):
    """Protects against file:///dev/zero read until the kernel killed the command (~23 GB)."""
    if source == "DIR":
        source = str(tmp_path)
    elif source == "BIG":
        big = tmp_path / "input.json"
        big.write_text("{" + " " * (2 * 1024 * 1024) + "}")
        source = str(big)
    assert_fails(["--cli-input-json", f"file://{source}", *as_user()], 252, problem)
    assert not StopRequest.objects.exists()


# ---------------------------------------------------------------------------------------------------------
# Refusals by the portal's rules or AppConfig (254), and the unexpected (255)


def test_it_refuses_an_unknown_user(live):
    assert_fails([*ids(live), *as_user("ghost")], 254, "no user named 'ghost'")


def test_it_refuses_an_inactive_user(live, make_user):
    make_user(Role.OPERATOR, username="gone", is_active=False)
    assert_fails([*ids(live), *as_user("gone")], 254, "user 'gone' is inactive")


def test_it_refuses_a_viewer_and_audits_the_attempt(live, viewer):
    assert_fails([*ids(live), *as_user("viewer")], 254, "Your roles do not allow requesting a stop here.")
    assert not StopRequest.objects.exists()
    denied = AuditEvent.objects.filter(action="access.denied")
    assert denied.count() == 2  # once per attempt: call_command, then the command line
    event = denied.first()
    assert (event.outcome, event.source, event.actor_username) == ("denied", "command", "viewer")
    assert event.deployment_number == live.deployment_number


def test_it_answers_not_found_for_an_application_the_user_may_not_see(live, outsider, emulator):
    assert_fails([*ids(live), *as_user("outsider")], 254, "ResourceNotFoundException")
    assert not AuditEvent.objects.filter(action="access.denied").exists()
    assert emulator.counters() == {}


@pytest.mark.parametrize(
    ("swap", "message"),
    [
        ({1: "nope123"}, "ResourceNotFoundException: no environment"),
        ({3: "nope123"}, "ResourceNotFoundException: no environment 'nope123'"),
        ({5: "99"}, "ResourceNotFoundException: no deployment 99 in environment"),
    ],
)
def test_it_answers_not_found_for_unknown_ids(live, operator, swap, message):
    argv = ids(live)
    for index, value in swap.items():
        argv[index] = value
    assert_fails([*argv, *as_user()], 254, message)
    assert not StopRequest.objects.exists()


def test_it_reports_an_unexpected_error_in_one_line_with_255(live, operator, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the database went away\nsecond line")

    monkeypatch.setattr(services, "stop_request_create", broken)
    result = run(*ids(live), *as_user())
    assert result.code == 255
    assert result.stderr == "error: RuntimeError: the database went away second line\n"


# ---------------------------------------------------------------------------------------------------------
# For real: a real worker, a real process


@pytest.mark.django_db(transaction=True)
def test_it_stops_a_deployment_end_to_end_through_a_real_worker(
    account, emulator, boto_client, operator, celery_worker
):
    target = make_target(boto_client, duration=10, growth=20.0, bake=5)
    number = start(boto_client, target)
    emulator.advance(150)
    sync.sync_account(account=account)
    deployment = Deployment.objects.select_related("environment__application").get(deployment_number=number)
    set_policy(deployment, 0)
    emulator.reset_counters()

    printed = call(*ids(deployment), *as_user(), "--timeout", "60")

    shape = json.loads(printed)
    assert shape["State"] == "ROLLED_BACK"
    assert shape["EventLog"][1]["EventType"] == "ROLLBACK_STARTED"
    assert printed == appconfig_answer(boto_client, deployment)
    assert emulator.counters()["StopDeployment"] == 1
    request = StopRequest.objects.get()
    assert request.status == "succeeded"
    assert [source for _, source in actions(request)] == ["command", "command", "worker"]


@pytest.fixture(scope="module")
def process_env(tmp_path_factory) -> dict[str, str]:
    """Environment for `python manage.py`: its own migrated SQLite database."""
    database = tmp_path_factory.mktemp("cli") / "console.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_SECRET_KEY": "tests-only-not-secret",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
        timeout=120,
    )
    return env


def manage(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "stop_deployment", *argv],
        cwd=Path(settings.BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_exits_252_from_a_real_process_for_a_bad_number(process_env):
    done = manage(process_env, "--application-id", "a", "--environment-id", "e", "--deployment-number", "x")
    assert done.returncode == 252
    assert done.stdout == ""
    assert done.stderr == "error: argument --deployment-number: invalid integer value: 'x'\n"


def test_it_exits_254_from_a_real_process_for_an_unknown_user(process_env):
    done = manage(process_env, "--application-id", "a", "--environment-id", "e", "--deployment-number", "1",
                  "--user", "ghost", "--reason", "r")  # fmt: skip
    assert done.returncode == 254
    assert done.stdout == ""
    assert done.stderr == "error: no user named 'ghost'\n"


def test_it_prints_the_skeleton_from_a_real_process(process_env):
    done = manage(process_env, "--generate-cli-skeleton")
    assert (done.returncode, done.stdout, done.stderr) == (0, INPUT_SKELETON, "")


def test_it_records_the_operating_system_user_on_every_event_it_writes(live, operator, emulator):
    """Protects the record of who acted: `stop_deployment --user operator` named the console user but not
    the operating-system user who ran the command."""
    set_policy(live, 1)
    result = run(*ids(live), *as_user())
    assert result.code == 0
    events = AuditEvent.objects.filter(source="command")
    assert events.exists()
    assert all(json.loads(event.details)["os_user"] == os_user() for event in events)
