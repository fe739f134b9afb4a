"""manage.py stop_deployment: `aws appconfig stop-deployment`, routed through the console.

The AWS CLI's options and output, but the request goes through the same stop service as the Stop button:
the user's roles, the environment's approval policy and the audit trail (source "command").

1. Parse and validate as the AWS CLI does (--cli-input-json/yaml, command-line values over the file's,
   botocore's model); the skeletons print and stop here. Errors: 252.
2. Resolve --user (254 unknown or inactive) and the deployment among the applications they may see (254
   when not there; an environment the console knows is synced once first, for a deployment started since the
   last pass).
3. `stop_request_create`: --allow-revert on a COMPLETE deployment asks for a revert, otherwise a stop (as
   AppConfig does: it ignores Allow-Revert on a deployment still running). Refusals: 254, audited by the
   service.
4. Pending approval without --wait: print the request and where to approve it, exit 0. Otherwise wait, at
   most --timeout seconds, for the outcome: an approved request is run by the worker, so even without --wait
   the command waits for it. Succeeded: GetDeployment, print the Deployment. Anything else, or the timeout:
   one line on stderr, 254.
"""

from __future__ import annotations

import argparse
import time

from django.conf import settings
from django.urls import reverse

from deployments import sync
from deployments.appconfig import AppConfigError
from deployments.management import cli
from deployments.models import (
    OPEN_STOP_STATUSES,
    Deployment,
    DeploymentState,
    StopDecision,
    StopKind,
    StopRequest,
    StopStatus,
)
from stops import services

OPERATION = "StopDeployment"
POLL_SECONDS = 1.0
DEFAULT_TIMEOUT = 300.0
FINAL_STATUSES = frozenset(StopStatus.values) - {s.value for s in OPEN_STOP_STATUSES}

# Module-level so tests can run the clock and "the worker" between looks.
_sleep = time.sleep
_monotonic = time.monotonic


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {value!r}") from None
    if not 0 <= seconds <= 24 * 3600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 86400 seconds: {value!r}")
    return seconds


class Command(cli.AwsStyleCommand):
    help = (
        "Stop (or, with --allow-revert, revert) an AppConfig deployment as `aws appconfig stop-deployment` "
        "does, through the console's permissions, approvals and audit trail."
    )

    def add_arguments(self, parser) -> None:
        cli.add_operation_arguments(parser, OPERATION)
        portal = parser.add_argument_group("console")
        portal.add_argument("--user", metavar="USERNAME", help="who asks (required): their roles apply")
        portal.add_argument("--reason", help="why (required): recorded on the request and the audit trail")
        cli.add_account_argument(portal)
        portal.add_argument(
            "--confirmation",
            metavar="ENVIRONMENT_NAME",
            default="",
            help="on a critical environment, its name (what the Stop dialog asks to type)",
        )
        portal.add_argument(
            "--wait", action="store_true", help="when approvals are needed, wait for them and the outcome"
        )
        portal.add_argument(
            "--timeout",
            type=_seconds,
            default=DEFAULT_TIMEOUT,
            metavar="SECONDS",
            help=f"how long to wait for the outcome (default {DEFAULT_TIMEOUT:g})",
        )

    def handle(self, *args, **options) -> None:
        skeleton = options["generate_cli_skeleton"]
        if skeleton == "input":
            self.stdout.write(cli.input_skeleton_json(OPERATION), ending="")
            return
        if skeleton == "yaml-input":
            self.stdout.write(cli.input_skeleton_yaml(OPERATION), ending="")
            return

        params, missing = cli.call_parameters(OPERATION, options)
        reason = (options["reason"] or "").strip()
        missing += [name for name, value in (("--user", options["user"]), ("--reason", reason)) if not value]
        cli.require(missing)
        user = cli.user_named(options["user"])
        if skeleton == "output":
            self.write_json(cli.output_skeleton(OPERATION))
            return

        deployment = self._deployment(user, params, options["account"])
        stop_request = self._request(deployment, user, reason, params, options)
        if stop_request.status == StopStatus.PENDING and not options["wait"]:
            self.write_json(self._pending(stop_request))
            return
        stop_request = self._wait(stop_request, options["timeout"])
        if stop_request.status != StopStatus.SUCCEEDED:
            outcome = f": {stop_request.outcome}" if stop_request.outcome else ""
            raise cli.service_error(f"stop request #{stop_request.pk} {stop_request.status}{outcome}")
        self.write_json(cli.deployment_shape(self._read_back(deployment)))

    def _deployment(self, user, params: dict, account: str | None) -> Deployment:
        application_id, environment_id = params["ApplicationId"], params["EnvironmentId"]
        number = params["DeploymentNumber"]
        deployment = cli.find_deployment(user, application_id, environment_id, number, account)
        if deployment is not None:
            return deployment
        environment = cli.find_environment(user, application_id, environment_id, account)
        try:
            # Started since the last sync pass? One ListDeployments of this environment tells.
            sync.sync_environment(environment=environment)
        except AppConfigError as exc:
            raise cli.appconfig_error(exc) from None
        deployment = cli.find_deployment(user, application_id, environment_id, number, account)
        if deployment is None:
            raise cli.deployment_not_found(environment, number)
        return deployment

    def _request(self, deployment: Deployment, user, reason: str, params: dict, options: dict) -> StopRequest:
        # AppConfig ignores Allow-Revert on a deployment still running (it rolls it back), so only a COMPLETE
        # one turns --allow-revert into a revert.
        kind = StopKind.STOP
        if params.get("AllowRevert") and deployment.state == DeploymentState.COMPLETE:
            kind = StopKind.REVERT
        environment = deployment.environment
        try:
            return services.stop_request_create(
                deployment=deployment,
                user=user,
                reason=reason,
                kind=kind,
                confirmation=options["confirmation"],
                source="command",
            )
        except services.StopError as exc:
            hint = ""
            if environment.is_critical and options["confirmation"].strip() != environment.name:
                hint = " Pass --confirmation with its name."
            raise cli.service_error(f"{exc}{hint}") from None

    def _read_back(self, deployment: Deployment) -> Deployment:
        """GetDeployment after the stop (StopDeployment's own answer is nearly empty), stored and returned."""
        # The worker stored AppConfig's answer meanwhile; the sync service compares with the row it is given.
        deployment.refresh_from_db()
        try:
            return sync.deployment_fetch_details(deployment=deployment)
        except AppConfigError as exc:
            # The stop did succeed, and the worker stored AppConfig's answer from just after it.
            deployment.refresh_from_db()
            self.stderr.write(
                f"warning: could not read the deployment back ({cli.one_line(exc)}); "
                "printed the copy the worker stored"
            )
            return deployment

    def _pending(self, stop_request: StopRequest) -> dict:
        return {
            "StopRequestId": stop_request.pk,
            "Status": stop_request.status,
            "ApprovalsRequired": stop_request.approvals_required,
            "Approvals": stop_request.decisions.filter(verdict=StopDecision.Verdict.APPROVE).count(),
            "ApproveAt": settings.CONSOLE_BASE_URL + reverse("stop_request_queue"),
        }

    def _wait(self, stop_request: StopRequest, timeout: float) -> StopRequest:
        """Look at the request every POLL_SECONDS until it is final or `timeout` has passed."""
        deadline = _monotonic() + timeout
        while True:
            stop_request.refresh_from_db(fields=["status", "outcome", "version"])
            if stop_request.status in FINAL_STATUSES:
                return stop_request
            if _monotonic() >= deadline:
                raise cli.service_error(
                    f"timed out after {timeout:g} s waiting for stop request #{stop_request.pk} "
                    f"({stop_request.status}); it goes on in the console: "
                    f"{settings.CONSOLE_BASE_URL}{reverse('stop_request_queue')}"
                )
            _sleep(POLL_SECONDS)
