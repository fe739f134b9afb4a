"""manage.py list_deployments and get_deployment: AppConfig's ListDeployments and GetDeployment shapes from
the console's cache, read through to the real emulator only when asked (--refresh) or when details are
missing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.utils import timezone

from deployments import sync
from deployments.management import cli
from deployments.management.commands import get_deployment, list_deployments
from deployments.models import Deployment, DeploymentEvent
from tests.deployments.seeding import add_failing_extension, make_target, start, start_with_kms

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(account, emulator, boto_client):
    """Deployment 1 COMPLETE, deployment 2 DEPLOYING, both synced (only 2 has its details fetched)."""
    target = make_target(boto_client, duration=0, growth=100.0, bake=0)
    start(boto_client, target)
    emulator.advance(60)
    sync.sync_account(account=account)
    target.strategy_id = boto_client.create_deployment_strategy(
        Name="ten-minutes", DeploymentDurationInMinutes=10, GrowthFactor=20.0, FinalBakeTimeInMinutes=5,
        GrowthType="LINEAR", ReplicateTo="NONE",
    )["Id"]  # fmt: skip
    start(boto_client, target)
    emulator.advance(150)
    sync.sync_account(account=account)
    # As sync leaves a deployment that finished before it was first seen: summary only, no events.
    Deployment.objects.filter(deployment_number=1).update(details_fetched_at=None)
    DeploymentEvent.objects.filter(deployment__deployment_number=1).delete()
    emulator.reset_counters()
    return target


@pytest.fixture(autouse=True)
def _keep_the_test_connection(monkeypatch):
    # run_from_argv closes every connection when it ends; inside a test that would end its transaction.
    monkeypatch.setattr(connections, "close_all", lambda: None)


def where(target, *more: str) -> list[str]:
    return ["--application-id", target.application_id, "--environment-id", target.environment_id, *more]


def call(name: str, *argv: str) -> str:
    out = StringIO()
    call_command(name, *argv, stdout=out, stderr=StringIO())
    return out.getvalue()


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


COMMANDS = {"list_deployments": list_deployments.Command, "get_deployment": get_deployment.Command}


def run(name: str, *argv: str) -> Run:
    out, err = StringIO(), StringIO()
    try:
        COMMANDS[name](stdout=out, stderr=err).run_from_argv(["manage.py", name, *argv])
        code = 0
    except SystemExit as exc:
        code = exc.code
    return Run(code, out.getvalue(), err.getvalue())


def assert_fails(name: str, argv: list[str], returncode: int, message: str) -> None:
    with pytest.raises(CommandError) as raised:
        call(name, *argv)
    assert raised.value.returncode == returncode
    assert message in str(raised.value)
    result = run(name, *argv)
    assert (result.code, result.stdout) == (returncode, "")
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ")
    assert message in result.stderr


def as_aws_prints(answer: dict) -> str:
    """An answer as `aws --output json` prints it (empty lists of invocations left out, as the cache does)."""
    answer.pop("ResponseMetadata", None)
    if not answer.get("AppliedExtensions"):
        answer.pop("AppliedExtensions", None)
    for event in answer.get("EventLog", []):
        if not event.get("ActionInvocations"):
            event.pop("ActionInvocations", None)
    return cli.to_json(answer) + "\n"


# ---------------------------------------------------------------------------------------------------------
# list_deployments


def test_it_lists_the_cached_deployments_as_appconfig_does(history, boto_client, emulator):
    printed = call("list_deployments", *where(history))

    answer = boto_client.list_deployments(
        ApplicationId=history.application_id, EnvironmentId=history.environment_id
    )
    answer.pop("NextToken", None)
    assert printed == as_aws_prints(answer)
    items = json.loads(printed)["Items"]
    assert [i["DeploymentNumber"] for i in items] == [2, 1]
    assert [i["State"] for i in items] == ["DEPLOYING", "COMPLETE"]
    assert "CompletedAt" not in items[0]
    assert emulator.counters() == {"ListDeployments": 1}  # the one this test made itself


def test_it_lists_what_the_cache_holds_without_refresh(history, boto_client, emulator):
    Deployment.objects.filter(deployment_number=2).update(percentage_complete=99.0)
    items = json.loads(call("list_deployments", *where(history)))["Items"]
    assert items[0]["PercentageComplete"] == 99.0
    assert emulator.counters() == {}


def test_it_syncs_the_environment_first_with_refresh(history, boto_client, emulator):
    emulator.advance(10 * 60)  # deployment 2 is baking now
    items = json.loads(call("list_deployments", *where(history, "--refresh")))["Items"]
    assert items[0]["State"] == "BAKING"
    assert items[0]["PercentageComplete"] == 100.0
    assert emulator.counters()["ListDeployments"] == 1


def test_it_lists_for_a_user_who_may_see_the_application(history, viewer):
    items = json.loads(call("list_deployments", *where(history, "--user", "viewer")))["Items"]
    assert len(items) == 2


def test_it_lists_an_environment_without_deployments_as_empty(account, boto_client):
    target = make_target(boto_client)
    sync.sync_account(account=account)
    assert call("list_deployments", *where(target)) == '{\n    "Items": []\n}\n'


@pytest.mark.parametrize(
    ("argv", "returncode", "message"),
    [
        (["--environment-id", "e"], 252, "the following arguments are required: --application-id"),
        (["--application-id", "a"], 252, "the following arguments are required: --environment-id"),
        (
            ["--application-id", "a", "--environment-id", "e", "--max-items", "3"],
            252,
            "unrecognized arguments",
        ),
        (["--application-id", "nope123", "--environment-id", "e"], 254, "ResourceNotFoundException"),
    ],
)
def test_it_refuses_to_list(argv, returncode, message):
    assert_fails("list_deployments", argv, returncode, message)


def test_it_refuses_to_list_for_an_unknown_user(history):
    assert_fails("list_deployments", where(history, "--user", "ghost"), 254, "no user named 'ghost'")


def test_it_answers_not_found_to_a_user_who_may_not_see_the_application(history, outsider):
    assert_fails(
        "list_deployments",
        where(history, "--user", "outsider"),
        254,
        "ResourceNotFoundException: no environment",
    )


def test_it_passes_on_appconfigs_refusal_when_refreshing(history, boto_client, emulator):
    emulator.advance(20 * 60)  # AppConfig deletes no environment while it deploys
    boto_client.delete_environment(ApplicationId=history.application_id, EnvironmentId=history.environment_id)
    assert_fails("list_deployments", where(history, "--refresh"), 254, "ResourceNotFoundException")


def test_it_exits_255_when_appconfig_does_not_answer(history, account, settings):
    from deployments.appconfig import forget_clients

    settings.APPCONFIG_MAX_ATTEMPTS = 1
    account.endpoint_url = "http://127.0.0.1:9"  # nothing listens on the discard port
    account.save()
    forget_clients()
    assert_fails("list_deployments", where(history, "--refresh"), 255, "AppConfig endpoint unreachable")


# ---------------------------------------------------------------------------------------------------------
# get_deployment


def _get(boto_client, target, number: int) -> dict:
    return boto_client.get_deployment(
        ApplicationId=target.application_id, EnvironmentId=target.environment_id, DeploymentNumber=number
    )


def test_it_shows_a_cached_deployment_as_appconfig_does_without_calling_it(history, boto_client, emulator):
    printed = call("get_deployment", *where(history, "--deployment-number", "2"))
    assert emulator.counters() == {}

    shape = json.loads(printed)
    assert shape["State"] == "DEPLOYING"
    assert [e["EventType"] for e in shape["EventLog"]][-1] == "DEPLOYMENT_STARTED"
    assert printed == as_aws_prints(_get(boto_client, history, 2))


def test_it_reads_through_a_deployment_whose_details_were_never_fetched(history, boto_client, emulator):
    printed = call("get_deployment", *where(history, "--deployment-number", "1"))

    assert emulator.counters() == {"GetDeployment": 1}
    assert printed == as_aws_prints(_get(boto_client, history, 1))
    assert json.loads(printed)["EventLog"][0]["EventType"] == "DEPLOYMENT_COMPLETED"
    assert Deployment.objects.get(deployment_number=1).details_fetched_at is not None

    emulator.reset_counters()
    assert call("get_deployment", *where(history, "--deployment-number", "1")) == printed
    assert emulator.counters() == {}  # stored: the second look is the cache's


def test_it_reads_through_with_refresh(history, boto_client, emulator):
    emulator.advance(3 * 60)
    shape = json.loads(call("get_deployment", *where(history, "--deployment-number", "2", "--refresh")))
    assert emulator.counters() == {"GetDeployment": 1}
    assert shape["PercentageComplete"] > 20.0
    assert shape == json.loads(as_aws_prints(_get(boto_client, history, 2)))


def test_it_finds_a_deployment_started_since_the_last_sync_with_refresh(history, boto_client, emulator):
    emulator.advance(60 * 60)
    number = start(boto_client, history)
    assert_fails(
        "get_deployment", where(history, "--deployment-number", str(number)), 254, f"no deployment {number}"
    )
    shape = json.loads(
        call("get_deployment", *where(history, "--deployment-number", str(number), "--refresh"))
    )
    assert (shape["DeploymentNumber"], shape["State"]) == (number, "DEPLOYING")


def test_it_shows_a_deployment_to_a_user_who_may_see_it(history, viewer):
    shape = json.loads(
        call("get_deployment", *where(history, "--deployment-number", "2", "--user", "viewer"))
    )
    assert shape["DeploymentNumber"] == 2


@pytest.mark.parametrize(
    ("argv", "returncode", "message"),
    [
        (["--application-id", "a", "--environment-id", "e"], 252, "required: --deployment-number"),
        (["--deployment-number", "1"], 252, "required: --application-id, --environment-id"),
        (
            ["--application-id", "a", "--environment-id", "e", "--deployment-number", "one"],
            252,
            "argument --deployment-number: invalid integer value: 'one'",
        ),
        (
            ["--application-id", "nope123", "--environment-id", "e", "--deployment-number", "1"],
            254,
            "ResourceNotFoundException: no environment 'e' of application 'nope123'",
        ),
    ],
)
def test_it_refuses_to_get(argv, returncode, message):
    assert_fails("get_deployment", argv, returncode, message)


def test_it_answers_not_found_for_an_unknown_number(history, emulator):
    assert_fails(
        "get_deployment",
        where(history, "--deployment-number", "42"),
        254,
        f"ResourceNotFoundException: no deployment 42 in environment '{history.environment_id}'",
    )
    assert emulator.counters() == {}
    assert_fails(
        "get_deployment", where(history, "--deployment-number", "42", "--refresh"), 254, "no deployment 42"
    )
    assert emulator.counters()["ListDeployments"] == 2  # one per attempt: call_command, then the command line


def test_it_answers_not_found_to_a_user_who_may_not_see_the_deployment(history, outsider, make_user):
    argv = where(history, "--deployment-number", "2", "--user", "outsider")
    assert_fails("get_deployment", argv, 254, "ResourceNotFoundException")
    assert_fails("get_deployment", [*argv[:-1], "ghost"], 254, "no user named 'ghost'")


def test_it_shows_applied_extensions_kms_keys_and_invocations_as_appconfig_does(
    account, emulator, boto_client
):
    target = make_target(boto_client, duration=10, growth=20.0, bake=5)
    add_failing_extension(boto_client, emulator, target)
    number = start_with_kms(boto_client, target)
    emulator.advance(60)
    sync.sync_account(account=account)
    boto_client.stop_deployment(
        ApplicationId=target.application_id, EnvironmentId=target.environment_id, DeploymentNumber=number
    )
    emulator.reset_counters()

    printed = call("get_deployment", *where(target, "--deployment-number", str(number), "--refresh"))

    answer = _get(boto_client, target, number)
    assert printed == as_aws_prints(answer)  # members and nested structures in the model's order
    shape = json.loads(printed)
    keys = list(shape)
    assert keys.index("EventLog") < keys.index("AppliedExtensions") < keys.index("KmsKeyArn")
    assert keys.index("KmsKeyArn") < keys.index("KmsKeyIdentifier")
    assert shape["KmsKeyIdentifier"] == "alias/payments-appconfig"
    assert shape["AppliedExtensions"][0]["Parameters"] == {"channel": "#payments"}
    failed = [i for e in shape["EventLog"] for i in e.get("ActionInvocations", []) if i.get("ErrorCode")]
    assert [i["ActionName"] for i in failed] == ["page-on-call"]


def test_it_asks_which_account_when_an_application_id_is_in_several(history, boto_client):
    from tests.factories import AccountFactory, ApplicationFactory, DeploymentFactory, EnvironmentFactory

    twin = ApplicationFactory(account=AccountFactory(name="eu"), application_id=history.application_id)
    environment = EnvironmentFactory(application=twin, environment_id=history.environment_id)
    DeploymentFactory(
        environment=environment,
        deployment_number=1,
        configuration_name="eu-flags",
        details_fetched_at=timezone.now(),
    )

    assert_fails("list_deployments", where(history), 254, "exists in several accounts (eu, test)")
    assert_fails("get_deployment", where(history, "--deployment-number", "1"), 254, "--account NAME")
    assert_fails("list_deployments", where(history, "--account", "nope"), 252, "no account named 'nope'")

    eu = json.loads(call("list_deployments", *where(history, "--account", "eu")))["Items"]
    ours = json.loads(call("list_deployments", *where(history, "--account", "test")))["Items"]
    assert [i["ConfigurationName"] for i in eu] == ["eu-flags"]
    assert [i["DeploymentNumber"] for i in ours] == [2, 1]
    shown = json.loads(call("get_deployment", *where(history, "--deployment-number", "1", "--account", "eu")))
    assert shown["ConfigurationName"] == "eu-flags"
