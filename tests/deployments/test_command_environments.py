"""manage.py environments set / list: an environment's stop policy (approvals, critical), changed through
deployments.policy and audited with the values before and after and the operating-system user; bad input is
one line on stderr and exit status 1."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from audit.models import AuditEvent
from deployments.management.commands import environments
from deployments.models import Environment
from tests.factories import AccountFactory, ApplicationFactory, EnvironmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_the_test_connection(monkeypatch):
    # run_from_argv closes every connection when it ends; inside a test that would end its transaction.
    monkeypatch.setattr(connections, "close_all", lambda: None)


@pytest.fixture
def prod():
    application = ApplicationFactory(application_id="pay1234", name="payments")
    return EnvironmentFactory(
        application=application, environment_id="prod123", name="prod", approvals_required=1
    )


def run(*argv: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        environments.Command(stdout=out, stderr=err).run_from_argv(["manage.py", "environments", *argv])
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_it_sets_approvals_and_critical_and_audits_before_and_after(prod, monkeypatch):
    monkeypatch.setattr("audit.records.os_user", lambda: "alice")

    code, out, err = run("set", "pay1234", "prod123", "--approvals", "2", "--critical")

    assert (code, err) == (0, "")
    assert "approvals 2, critical (changed)" in out
    prod.refresh_from_db()
    assert (prod.approvals_required, prod.is_critical) == (2, True)
    event = AuditEvent.objects.get(action="policy.changed")
    assert (event.application_id, event.environment_id, event.source) == ("pay1234", "prod123", "command")
    assert event.actor_username == "system"
    assert json.loads(event.details) == {
        "approvals_required": {"before": 1, "after": 2},
        "is_critical": {"before": False, "after": True},
        "os_user": "alice",
    }


def test_it_records_nothing_when_nothing_changes(prod):
    code, out, _ = run("set", "pay1234", "prod123", "--approvals", "1", "--not-critical")
    assert code == 0 and "(unchanged)" in out
    assert not AuditEvent.objects.filter(action="policy.changed").exists()
    run("set", "pay1234", "prod123", "--critical")
    run("set", "pay1234", "prod123", "--not-critical")
    assert AuditEvent.objects.filter(action="policy.changed").count() == 2
    assert Environment.objects.get(pk=prod.pk).is_critical is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["set", "pay1234", "prod123"], "nothing to change"),
        (["set", "pay1234", "prod123", "--approvals", "4"], "approvals required must be between 0 and 3"),
        (["set", "pay1234", "prod123", "--approvals", "-1"], "approvals required must be between 0 and 3"),
        (["set", "pay1234", "prod123", "--approvals", "two"], "invalid int value"),
        (["set", "pay1234", "prod123", "--critical", "--not-critical"], "not allowed with argument"),
        (["set", "pay1234", "nosuch1", "--critical"], "no environment 'nosuch1'"),
        (["set", "pay1234", "prod123", "--critical", "--account", "nope"], "no account named 'nope'"),
        (["set", "pay1234"], "required"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_it_refuses_bad_input_in_one_line_with_exit_status_1(prod, argv, message):
    code, out, err = run(*argv)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and message in err, err
    assert not AuditEvent.objects.filter(action="policy.changed").exists()


def test_it_asks_which_account_when_the_application_is_in_several(prod):
    twin = ApplicationFactory(account=AccountFactory(name="eu"), application_id="pay1234")
    twin_prod = EnvironmentFactory(application=twin, environment_id="prod123")

    code, _, err = run("set", "pay1234", "prod123", "--critical")
    assert code == 1 and "several accounts" in err and "--account" in err

    code, out, _ = run("set", "pay1234", "prod123", "--critical", "--account", "eu")
    assert code == 0 and out.startswith("eu/pay1234/prod123")
    assert Environment.objects.get(pk=twin_prod.pk).is_critical
    assert not Environment.objects.get(pk=prod.pk).is_critical


def test_it_lists_every_environments_policy(prod):
    EnvironmentFactory(
        application=prod.application, environment_id="dev1234", name="dev", approvals_required=0
    )
    out = StringIO()
    call_command("environments", "list", "pay1234", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("(payments / dev)\tapprovals 0, not critical")
    assert lines[1].endswith("(payments / prod)\tapprovals 1, not critical")


def test_it_raises_from_call_command_too(prod):
    with pytest.raises(CommandError, match="nothing to change"):
        call_command("environments", "set", "pay1234", "prod123")
