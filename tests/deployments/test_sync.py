"""Sync services against the real emulator over HTTP: costs (API calls, SQL queries), incrementality,
soft deletion, locking and faults."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments import sync
from deployments.appconfig import client_for
from deployments.models import Account, Application, Deployment, DeploymentEvent, Environment, SyncRun
from tests.deployments.seeding import add_failing_extension, make_target, start, start_with_kms

pytestmark = pytest.mark.django_db


def _calls(emulator) -> dict[str, int]:
    """AppConfig calls made (the one GetCallerIdentity of an account's first sync has its own tests)."""
    return {op: n for op, n in emulator.counters().items() if n and not op.startswith("sts:")}


def _writes(queries) -> list[str]:
    tables = ('"deployments_deployment"', '"deployments_deploymentevent"')
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        and any(t in q["sql"] for t in tables)
    ]


def test_it_mirrors_a_finished_estate_with_list_calls_only(account, emulator):
    emulator.seed_estate(applications=3, environments=2, deployments=5)
    emulator.reset_counters()

    sync.sync_account(account=account)

    assert _calls(emulator) == {"ListApplications": 1, "ListEnvironments": 3, "ListDeployments": 6}
    assert Application.objects.count() == 3
    assert Environment.objects.count() == 6
    assert Deployment.objects.count() == 30
    assert not Deployment.objects.exclude(state="COMPLETE").exists()
    # Terminal deployments keep their summary until someone opens them.
    assert DeploymentEvent.objects.count() == 0
    assert not Deployment.objects.filter(details_fetched_at__isnull=False).exists()
    run = SyncRun.objects.get(scope=SyncRun.Scope.ACCOUNT)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.api_calls == 1
    assert sum(SyncRun.objects.filter(scope="application").values_list("api_calls", flat=True)) == 3 + 6


def test_it_gets_details_once_per_deployment_in_progress(account, emulator):
    emulator.seed_estate(applications=2, environments=2, deployments=3, active=2)
    emulator.reset_counters()

    sync.sync_account(account=account)

    assert _calls(emulator)["GetDeployment"] == 2
    active = Deployment.objects.filter(state__in=["DEPLOYING", "BAKING"])
    assert active.count() == 2
    for deployment in active:
        assert deployment.details_fetched_at is not None
        assert deployment.deployment_strategy_id
        assert deployment.events.filter(event_type="DEPLOYMENT_STARTED").exists()


def test_it_resyncs_an_unchanged_estate_with_one_list_per_scope_and_no_writes(account, emulator):
    emulator.seed_estate(applications=4, environments=3, deployments=6)
    sync.sync_account(account=account)
    emulator.reset_counters()
    versions = dict(Deployment.objects.values_list("pk", "version"))

    with CaptureQueriesContext(connection) as queries:
        sync.sync_account(account=account)

    assert _calls(emulator) == {"ListApplications": 1, "ListEnvironments": 4, "ListDeployments": 12}
    assert _writes(queries.captured_queries) == []
    assert dict(Deployment.objects.values_list("pk", "version")) == versions


def test_it_pages_list_applications_fifty_at_a_time(account, emulator):
    emulator.seed_estate(applications=60, environments=1, deployments=1)
    sync.sync_account(account=account)
    emulator.reset_counters()

    sync.sync_account(account=account)

    calls = _calls(emulator)
    assert calls["ListApplications"] == 2
    assert calls["ListEnvironments"] == 60
    assert calls["ListDeployments"] == 60


def test_it_walks_every_page_of_a_long_history_once_then_stops_early(account, emulator):
    emulator.seed_estate(applications=1, environments=1, deployments=120)
    emulator.reset_counters()
    sync.sync_account(account=account)
    assert _calls(emulator)["ListDeployments"] == 3
    assert Deployment.objects.count() == 120
    assert Environment.objects.get().history_complete

    emulator.reset_counters()
    sync.sync_account(account=account)
    assert _calls(emulator)["ListDeployments"] == 1


def _initial_sync_queries(account, emulator, deployments: int) -> int:
    emulator.reset()
    Deployment.objects.all().delete()
    Environment.objects.all().delete()
    Application.objects.all().delete()
    emulator.seed_estate(applications=2, environments=2, deployments=deployments)
    # A first sync each time: the account is identified (its AWS account id read and checked) both times.
    Account.objects.filter(pk=account.pk).update(aws_account_id="")
    account.aws_account_id = ""
    with CaptureQueriesContext(connection) as queries:
        sync.sync_account(account=account)
    assert Deployment.objects.count() == 4 * deployments
    return len(queries.captured_queries)


def test_it_runs_the_same_number_of_queries_whatever_the_number_of_deployments(account, emulator):
    # Both sizes fit in one ListDeployments page, so the page count is the same. And in one INSERT: Django
    # splits a bulk_create at SQLite's 999 parameters, 39 deployment rows of 25 columns (PostgreSQL: none).
    assert _initial_sync_queries(account, emulator, 3) == _initial_sync_queries(account, emulator, 36)


def test_it_picks_up_a_new_deployment_and_follows_it_to_the_end(account, emulator, boto_client):
    target = make_target(boto_client, duration=10, growth=50.0, bake=2)
    sync.sync_account(account=account)
    number = start(boto_client, target)
    emulator.reset_counters()

    sync.sync_account(account=account)
    deployment = Deployment.objects.get(deployment_number=number)
    assert _calls(emulator) == {
        "ListApplications": 1,
        "ListEnvironments": 1,
        "ListDeployments": 1,
        "GetDeployment": 1,
    }
    assert deployment.state == "DEPLOYING"
    assert deployment.description == "from the tests"
    assert list(deployment.events.values_list("event_type", flat=True)) == ["DEPLOYMENT_STARTED"]
    first_version = deployment.version

    emulator.advance(timedelta(minutes=4).total_seconds())
    sync.refresh_active_deployments(account=account)
    deployment.refresh_from_db()
    assert deployment.percentage_complete == 50.0
    assert deployment.version > first_version
    assert deployment.events.first().description == "Configuration available to 50.00% of clients"

    emulator.advance(timedelta(minutes=20).total_seconds())
    sync.refresh_active_deployments(account=account)
    deployment.refresh_from_db()
    assert deployment.state == "COMPLETE"
    assert deployment.completed_at is not None
    types = list(deployment.events.order_by("sequence").values_list("event_type", flat=True))
    assert types[0] == "DEPLOYMENT_STARTED"
    assert types[-2:] == ["BAKE_TIME_STARTED", "DEPLOYMENT_COMPLETED"]
    assert list(deployment.events.order_by("sequence").values_list("sequence", flat=True)) == list(
        range(len(types))
    )

    emulator.reset_counters()
    assert sync.refresh_active_deployments(account=account) is None
    assert _calls(emulator) == {}


def test_it_does_not_touch_an_unchanged_deployment_in_progress(account, emulator, boto_client):
    target = make_target(boto_client, duration=10, growth=50.0)
    start(boto_client, target)
    sync.sync_account(account=account)
    deployment = Deployment.objects.get()

    with CaptureQueriesContext(connection) as queries:
        sync.refresh_active_deployments(account=account)

    assert _writes(queries.captured_queries) == []
    assert Deployment.objects.get().version == deployment.version


def test_it_fetches_the_details_of_an_old_deployment_lazily(account, emulator):
    emulator.seed_estate(applications=1, environments=1, deployments=2)
    sync.sync_account(account=account)
    deployment = Deployment.objects.order_by("deployment_number").first()
    assert deployment.details_fetched_at is None
    emulator.reset_counters()

    sync.deployment_fetch_details(deployment=deployment)

    assert _calls(emulator) == {"GetDeployment": 1}
    deployment.refresh_from_db()
    assert deployment.details_fetched_at is not None
    assert deployment.deployment_strategy_id
    assert deployment.events.filter(event_type="DEPLOYMENT_COMPLETED").exists()


def test_it_stores_why_a_lazy_fetch_was_refused(account, emulator):
    emulator.seed_estate(applications=1, environments=1, deployments=1)
    sync.sync_account(account=account)
    deployment = Deployment.objects.get()
    deployment.deployment_number = 99  # AppConfig has no such deployment
    deployment.save()

    with pytest.raises(sync.AppConfigError):
        sync.deployment_fetch_details(deployment=deployment)

    deployment.refresh_from_db()
    assert "ResourceNotFoundException" in deployment.details_error


def test_it_soft_deletes_what_disappeared_from_appconfig(account, emulator, boto_client):
    keep = make_target(boto_client, name="keep")
    gone = make_target(boto_client, name="gone")
    extra_env = boto_client.create_environment(ApplicationId=keep.application_id, Name="staging")["Id"]
    sync.sync_account(account=account)

    boto_client.delete_environment(ApplicationId=keep.application_id, EnvironmentId=extra_env)
    boto_client.delete_environment(ApplicationId=gone.application_id, EnvironmentId=gone.environment_id)
    boto_client.delete_configuration_profile(
        ApplicationId=gone.application_id, ConfigurationProfileId=gone.profile_id
    )
    boto_client.delete_application(ApplicationId=gone.application_id)
    sync.sync_account(account=account)

    assert Application.objects.get(application_id=gone.application_id).deleted_at is not None
    assert Application.objects.get(application_id=keep.application_id).deleted_at is None
    assert Environment.objects.get(environment_id=extra_env).deleted_at is not None
    assert Environment.objects.get(environment_id=keep.environment_id).deleted_at is None


def test_it_skips_an_environment_another_run_holds(account, emulator):
    emulator.seed_estate(applications=1, environments=2, deployments=1)
    sync.sync_account(account=account)
    held = Environment.objects.order_by("name").first()
    Environment.objects.filter(pk=held.pk).update(sync_claimed_until=timezone.now() + timedelta(minutes=1))
    emulator.reset_counters()

    sync.sync_account(account=account)

    assert _calls(emulator)["ListDeployments"] == 1
    run = SyncRun.objects.filter(scope="application").first()
    assert held.environment_id in run.error
    assert Environment.objects.get(pk=held.pk).sync_claimed_until is not None  # not released by the skipper


def test_it_retries_throttling_and_succeeds(account, emulator):
    emulator.seed_estate(applications=1, environments=1, deployments=1)
    emulator.add_fault(operation="ListApplications", kind="throttle", count=2)
    emulator.reset_counters()

    run = sync.sync_account(account=account)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.api_calls == 3
    assert _calls(emulator)["ListApplications"] == 3
    assert Deployment.objects.count() == 1


def test_it_fails_one_application_on_persistent_5xx_while_the_others_proceed(account, emulator, settings):
    emulator.seed_estate(applications=3, environments=1, deployments=2)
    # Exactly the attempts of the first application's ListEnvironments (settings: 3 attempts).
    emulator.add_fault(operation="ListEnvironments", kind="error", count=3)

    sync.sync_account(account=account)

    runs = SyncRun.objects.filter(scope="application").order_by("started_at")
    assert [r.status for r in runs] == ["failed", "succeeded", "succeeded"]
    assert "InternalServerException" in runs[0].error
    assert runs[0].api_calls == 3
    assert Deployment.objects.count() == 4


class _FixedAnswer(BaseHTTPRequestHandler):
    status = 200
    headers_out: dict[str, str] = {}
    body = b""

    def _answer(self) -> None:
        self.send_response(self.status)
        for key, value in self.headers_out.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args) -> None:
        pass


def _fixed_server(status: int, body: bytes, headers: dict[str, str]):
    handler = type("Handler", (_FixedAnswer,), {"status": status, "body": body, "headers_out": headers})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (
            403,
            b'{"Message": "User is not authorized"}',
            {"x-amzn-ErrorType": "AccessDeniedException"},
            "AccessDenied",
        ),
        (200, b"<html>this is not json", {"Content-Type": "application/json"}, "malformed answer"),
    ],
    ids=["access-denied", "malformed"],
)
def test_it_records_a_readable_error_and_other_accounts_proceed(
    account, emulator, status, body, headers, expected
):
    emulator.seed_estate(applications=1, environments=1, deployments=1)
    server = _fixed_server(status, body, headers)
    # Identified already (as after its first sync): the errors under test are AppConfig's, not STS's.
    broken = Account.objects.create(
        name="broken", endpoint_url=f"http://127.0.0.1:{server.server_port}", aws_account_id="111111111111"
    )
    try:
        for acct in sync.accounts_to_sync():
            with contextlib.suppress(sync.AppConfigError):
                sync.sync_account(account=acct)
    finally:
        server.shutdown()

    failed = SyncRun.objects.get(account=broken)
    assert failed.status == SyncRun.Status.FAILED
    assert expected in failed.error
    assert "Traceback" not in failed.error
    assert SyncRun.objects.get(account=account, scope="account").status == SyncRun.Status.SUCCEEDED
    assert Deployment.objects.count() == 1


def test_it_records_an_unreachable_endpoint(db, settings):
    settings.APPCONFIG_MAX_ATTEMPTS = 1
    settings.APPCONFIG_CONNECT_TIMEOUT = 0.5
    from portal.embedded import free_port

    dead = Account.objects.create(name="dead", endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(sync.AppConfigError):
        sync.sync_account(account=dead, client=client_for(dead))
    run = SyncRun.objects.get(account=dead)
    assert run.status == SyncRun.Status.FAILED
    assert "unreachable" in run.error


# ---------------------------------------------------------------------------------------------------------
# What only GetDeployment carries, and the account's identity


def test_it_stores_applied_extensions_kms_keys_and_failed_action_invocations(account, emulator, boto_client):
    target = make_target(boto_client)
    association = add_failing_extension(boto_client, emulator, target)
    number = start_with_kms(boto_client, target)
    emulator.advance(60)
    sync.sync_account(account=account)
    client_for(account).stop_deployment(target.application_id, target.environment_id, number)
    sync.refresh_active_deployments(account=account)

    deployment = Deployment.objects.get(deployment_number=number)
    assert deployment.kms_key_identifier == "alias/payments-appconfig"
    assert deployment.kms_key_arn.startswith("arn:aws:kms:us-east-1:123456789012:key/")
    [applied] = deployment.applied_extensions
    assert applied["ExtensionAssociationId"] == association["Id"]
    assert applied["Parameters"] == {"channel": "#payments"}
    rolled_back = deployment.events.get(event_type="ROLLBACK_COMPLETED")
    [failed] = rolled_back.action_invocations
    assert (failed["ActionName"], failed["ErrorCode"]) == ("page-on-call", "AuthorizationError")


def test_it_reads_the_aws_account_once_on_the_first_sync(account, emulator):
    emulator.seed_estate(applications=1, environments=1)
    emulator.reset_counters()

    sync.sync_account(account=account)
    sync.sync_account(account=account)

    account.refresh_from_db()
    assert account.aws_account_id == emulator.account_id == "123456789012"
    assert emulator.counters()["sts:GetCallerIdentity"] == 1


def test_it_takes_the_aws_account_from_the_role_arn_without_asking_sts(account, emulator):
    Account.objects.filter(pk=account.pk).update(role_arn="arn:aws:iam::210987654321:role/console")
    account.refresh_from_db()
    assert sync.account_identify(account=account, client=client_for(account)) == "210987654321"
    assert emulator.counters().get("sts:GetCallerIdentity", 0) == 0
    assert Account.objects.get(pk=account.pk).aws_account_id == "210987654321"


def test_it_refuses_to_sync_a_second_account_for_the_same_aws_account_and_region(account, emulator):
    emulator.seed_estate(applications=2, environments=1)
    sync.sync_account(account=account)
    twin = Account.objects.create(name="twin", region="us-east-1", endpoint_url=emulator.url)

    with pytest.raises(sync.DuplicateAccountError):
        sync.sync_account(account=twin)

    run = SyncRun.objects.get(account=twin)
    assert run.status == SyncRun.Status.FAILED
    assert "123456789012" in run.error and "'test'" in run.error
    assert not Application.objects.filter(account=twin).exists()  # nothing listed twice
    twin.refresh_from_db()
    assert twin.aws_account_id == ""


def test_it_lets_one_aws_account_be_mirrored_in_two_regions(account, emulator):
    sync.sync_account(account=account)
    other_region = Account.objects.create(name="eu", region="eu-west-1", endpoint_url=emulator.url)
    sync.sync_account(account=other_region)
    other_region.refresh_from_db()
    assert other_region.aws_account_id == "123456789012"


def test_it_records_an_sts_failure_readably(account, emulator):
    server = _fixed_server(403, b"<html>no</html>", {"Content-Type": "text/html"})
    broken = Account.objects.create(name="broken", endpoint_url=f"http://127.0.0.1:{server.server_port}")
    try:
        with pytest.raises(sync.AppConfigError):
            sync.sync_account(account=broken)
    finally:
        server.shutdown()
    run = SyncRun.objects.get(account=broken)
    assert run.status == SyncRun.Status.FAILED and run.error.startswith("GetCallerIdentity: ")
    assert "Traceback" not in run.error


def test_it_logs_a_failed_application_sync_in_one_line(account, emulator, caplog, monkeypatch):
    emulator.seed_estate(applications=1, environments=1)

    def throttled(**kwargs):
        raise sync.PermanentAppConfigError("ListEnvironments: ThrottlingException: Rate exceeded", code="x")

    monkeypatch.setattr(sync, "sync_application", throttled)
    with caplog.at_level("WARNING", logger="deployments.sync"):
        sync.sync_account(account=account)
    [line] = [r for r in caplog.records if r.name == "deployments.sync"]
    assert "ThrottlingException" in line.getMessage() and line.exc_info is None


def test_it_publishes_a_full_pass_taking_the_accounts_in_turn(account, emulator, monkeypatch):
    """Workers then spend every account's budget at once, instead of waiting on one account's."""
    emulator.seed_estate(applications=3, environments=1)
    Account.objects.filter(pk=account.pk).update(aws_account_id="111111111111")
    other = Account.objects.create(
        name="other", region="us-east-1", endpoint_url=emulator.url, aws_account_id="222222222222"
    )
    published = []
    monkeypatch.setattr(sync, "publish", lambda task, **kwargs: published.append(kwargs["application_id"]))

    assert sync.sync_accounts_fan_out(accounts=[account, other]) == 6

    owners = dict(Application.objects.values_list("pk", "account__name"))
    assert [owners[pk] for pk in published] == ["test", "other"] * 3
    assert SyncRun.objects.filter(scope="account", status="succeeded").count() == 2
    assert not SyncRun.objects.filter(scope="application").exists()
