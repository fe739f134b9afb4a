"""manage.py list_deployments: `aws appconfig list-deployments`, answered from the console's cache.

Prints ListDeployments' answer ({"Items": [DeploymentSummary, ...]}, newest first, every cached deployment
on one page) so scripts need no AWS access of their own. --refresh syncs the environment first (one
ListDeployments, plus a GetDeployment per deployment in progress). --user limits what may be seen to that
user's applications; --account NAME says which Account's application is meant when its id exists in several.
Exit codes and error lines as `stop_deployment` (see deployments/management/cli.py).
"""

from __future__ import annotations

from deployments import sync
from deployments.appconfig import AppConfigError
from deployments.management import cli


class Command(cli.AwsStyleCommand):
    help = "List an environment's deployments in AppConfig's ListDeployments shape, from the console's cache."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--application-id", help="The application ID.")
        parser.add_argument("--environment-id", help="The environment ID.")
        parser.add_argument(
            "--refresh", action="store_true", help="sync the environment from AppConfig first"
        )
        parser.add_argument(
            "--user", metavar="USERNAME", help="answer as this user: only applications they may see"
        )
        cli.add_account_argument(parser)

    def handle(
        self,
        *args,
        application_id: str,
        environment_id: str,
        refresh: bool,
        user: str,
        account: str | None,
        **options,
    ):
        cli.require(
            [
                name
                for name, value in (
                    ("--application-id", application_id),
                    ("--environment-id", environment_id),
                )
                if not value
            ]
        )
        acting = cli.user_named(user) if user else None
        environment = cli.find_environment(acting, application_id, environment_id, account)
        if refresh:
            try:
                sync.sync_environment(environment=environment)
            except AppConfigError as exc:
                raise cli.appconfig_error(exc) from None
        deployments = environment.deployments.order_by("-deployment_number")
        self.write_json({"Items": [cli.deployment_summary_shape(d) for d in deployments]})
