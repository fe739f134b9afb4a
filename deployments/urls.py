from django.urls import path, register_converter

from deployments import views


class AppConfigIdConverter:
    """AppConfig ids (7 characters of [a-z0-9] in practice; a little leeway for other resources). Anything
    else, a NUL byte or a 5,000-character segment included, does not match: a friendly 404, never a
    database error."""

    regex = "[A-Za-z0-9._-]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class DeploymentNumberConverter:
    """A DeploymentNumber: a positive integer that fits the database column."""

    regex = "[0-9]{1,9}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(AppConfigIdConverter, "appconfig_id")
register_converter(DeploymentNumberConverter, "deployment_number")

APPLICATION = "applications/<appconfig_id:application_id>/"
ENVIRONMENT = f"{APPLICATION}environments/<appconfig_id:environment_id>/"
DEPLOYMENT = f"{ENVIRONMENT}deployments/<deployment_number:deployment_number>/"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("applications/", views.application_list, name="application_list"),
    path(APPLICATION, views.application_detail, name="application_detail"),
    path(ENVIRONMENT, views.environment_detail, name="environment_detail"),
    path(f"{ENVIRONMENT}sync/", views.environment_sync, name="environment_sync"),
    path(
        DEPLOYMENT,
        views.deployment_detail,
        name="deployment_detail",
    ),
    path(f"{DEPLOYMENT}configuration/", views.deployment_configuration, name="deployment_configuration"),
    path(f"{DEPLOYMENT}evidence/", views.deployment_evidence, name="deployment_evidence"),
    path(f"{DEPLOYMENT}evidence.json", views.deployment_evidence_json, name="deployment_evidence_json"),
]
