"""manage.py sync_appconfig and manage.py roles: output, effects, and one readable line on bad input."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from deployments.models import Deployment, RoleGrant

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_syncs_in_the_foreground_and_prints_a_summary(account, emulator):
    emulator.seed_estate(applications=2, environments=1, deployments=3)

    output = _run("sync_appconfig")

    assert "account test: succeeded, 1 API calls, 2 created" in output
    assert output.count("application app-") == 2
    assert Deployment.objects.count() == 6


def test_it_syncs_only_the_named_application(account, emulator):
    ids = emulator.seed_estate(applications=2, environments=1, deployments=3)
    first = ids["applications"][0]
    application_id = first["Id"] if isinstance(first, dict) else first

    _run("sync_appconfig", "--account", "test", "--application", application_id)

    assert set(Deployment.objects.values_list("environment__application__application_id", flat=True)) == {
        application_id
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--account", "nope"], "no enabled account named 'nope'"),
        (["--application", "zzzzzzz"], "no application with id 'zzzzzzz'"),
    ],
)
def test_it_refuses_bad_arguments_with_one_line(account, emulator, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("sync_appconfig", *args, stdout=StringIO(), stderr=StringIO())


def test_it_exits_non_zero_when_a_run_fails(account, emulator):
    emulator.add_fault(operation="ListApplications", kind="error", count=None)
    with pytest.raises(CommandError, match="1 sync run"):
        call_command("sync_appconfig", stdout=StringIO(), stderr=StringIO())


def test_it_grants_lists_and_revokes_roles(make_user, emulator, account):
    emulator.seed_estate(applications=1, environments=1, deployments=1)
    _run("sync_appconfig")
    user = make_user(username="ops")
    application_id = Deployment.objects.get().environment.application.application_id

    assert "operator for all applications granted" in _run("roles", "grant", "ops", "operator")
    assert "already held" in _run("roles", "grant", "ops", "operator")
    assert f"approver for application {application_id} granted" in _run(
        "roles", "grant", "ops", "approver", "--application", application_id
    )
    assert _run("roles", "list", "ops").splitlines() == [
        "ops\toperator\t*",
        f"ops\tapprover\t{application_id}",
    ]
    assert "revoked" in _run("roles", "revoke", "ops", "operator")
    assert "was not held" in _run("roles", "revoke", "ops", "operator")
    assert RoleGrant.objects.filter(user=user).count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["grant", "ghost", "viewer"], "no user named 'ghost'"),
        (["grant", "ops", "viewer", "--application", "nope123"], "no application with id 'nope123'"),
    ],
)
def test_it_refuses_bad_role_arguments(make_user, args, message):
    make_user(username="ops")
    with pytest.raises(CommandError, match=message):
        call_command("roles", *args, stdout=StringIO(), stderr=StringIO())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["grant", "ops", "approver", "--application", ""], "--application is empty"),
        (["grant", "ops", "approver", "--application", "  "], "--application is empty"),
        (["revoke", "ops", "approver", "--application", ""], "--application is empty"),
        (["grant", "ops", "superhero"], "unknown role 'superhero'"),
        (["grant", "ghost", "approver"], "no user named 'ghost'"),
        (["grant", "ops", "approver", "--account", "test"], "--account needs --application"),
    ],
)
@pytest.mark.django_db(transaction=True)  # the command runs in another process: it must see the user
def test_it_refuses_an_empty_application_or_unknown_role_in_one_line_with_exit_1(make_user, args, message):
    """Protects against `roles grant NAME ROLE --application ''` granting the role for every application."""
    make_user(username="ops")
    result = subprocess.run(
        [sys.executable, "manage.py", "roles", *args],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DATABASE_URL": _database_url()},
        timeout=60,
    )
    assert result.returncode == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not RoleGrant.objects.filter(user__username="ops").exists()


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def test_it_names_the_account_when_an_application_id_is_in_two(make_user):
    from tests.factories import AccountFactory, ApplicationFactory

    user = make_user(username="ops")
    ApplicationFactory(application_id="twin123", account=AccountFactory(name="one"))
    second = ApplicationFactory(application_id="twin123", account=AccountFactory(name="two"))
    with pytest.raises(CommandError, match=r"several accounts \(one, two\): add --account NAME"):
        call_command("roles", "grant", "ops", "approver", "--application", "twin123", stdout=StringIO())
    call_command(
        "roles", "grant", "ops", "approver", "--application", "twin123", "--account", "two", stdout=StringIO()
    )
    assert RoleGrant.objects.get(user=user).application == second
