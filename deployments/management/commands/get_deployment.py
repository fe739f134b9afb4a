"""manage.py get_deployment: `aws appconfig get-deployment`, answered from the console's cache.

Prints GetDeployment's answer (the Deployment shape, EventLog newest first). A deployment whose details were
never fetched (known only from a list), or any with --refresh, is read through from AppConfig and stored
first; with --refresh a deployment the cache does not know yet is looked for by syncing its environment.
--user limits what may be seen to that user's applications; --account NAME says which Account's application
is meant when its id exists in several. Exit codes and error lines as `stop_deployment`
(see deployments/management/cli.py).

--evidence FILE writes the deployment's evidence pack (deployments/evidence.py: the same signed document as
the console's evidence.json) to FILE instead of printing the deployment, and records the export in the audit
trail (evidence.exported, source command). With --user, that user must be an auditor or an operator of the
application.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import CommandError

from audit.models import Source
from deployments import sync
from deployments.access import access_of, may_export_evidence
from deployments.appconfig import AppConfigError
from deployments.evidence import evidence_export
from deployments.management import cli


class Command(cli.AwsStyleCommand):
    help = "Show one deployment in AppConfig's GetDeployment shape, from the console's cache."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--application-id", help="The application ID.")
        parser.add_argument("--environment-id", help="The environment ID.")
        parser.add_argument(
            "--deployment-number", type=cli.integer, help="The sequence number of the deployment."
        )
        parser.add_argument("--refresh", action="store_true", help="read the deployment from AppConfig first")
        parser.add_argument(
            "--user", metavar="USERNAME", help="answer as this user: only applications they may see"
        )
        cli.add_account_argument(parser)
        parser.add_argument(
            "--evidence",
            type=Path,
            metavar="FILE",
            help="write the deployment's signed evidence pack to FILE",
        )

    def handle(
        self, *args, refresh: bool, user: str, account: str | None, evidence: Path | None = None, **options
    ) -> None:
        application_id, environment_id = options["application_id"], options["environment_id"]
        number = options["deployment_number"]
        cli.require(
            [
                name
                for name, value in (
                    ("--application-id", application_id),
                    ("--environment-id", environment_id),
                    ("--deployment-number", number),
                )
                if value in (None, "")
            ]
        )
        acting = cli.user_named(user) if user else None
        try:
            deployment = cli.find_deployment(acting, application_id, environment_id, number, account)
            if deployment is None:
                environment = cli.find_environment(acting, application_id, environment_id, account)
                if not refresh:
                    raise cli.deployment_not_found(environment, number)
                sync.sync_environment(environment=environment)
                deployment = cli.find_deployment(acting, application_id, environment_id, number, account)
                if deployment is None:
                    raise cli.deployment_not_found(environment, number)
            elif refresh or deployment.details_fetched_at is None:
                deployment = sync.deployment_fetch_details(deployment=deployment)
        except AppConfigError as exc:
            raise cli.appconfig_error(exc) from None
        if evidence is not None:
            self._write_evidence(deployment, acting, evidence)
            return
        self.write_json(cli.deployment_shape(deployment))

    def _write_evidence(self, deployment, acting, path: Path) -> None:
        if acting is not None and not may_export_evidence(
            access_of(acting).on(deployment.environment.application)
        ):
            raise CommandError(
                f"{acting.get_username()} may not export evidence of this application "
                "(auditors and operators may)"
            )
        pack = evidence_export(deployment=deployment, what="file", actor=acting, source=Source.COMMAND)
        try:
            path.write_text(json.dumps(pack, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
        self.stdout.write(
            f"evidence pack of deployment {deployment.deployment_number} written to {path}: "
            f"{len(pack['audit_events'])} audit events, signed ({pack['signature_key']} key)"
        )
