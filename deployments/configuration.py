"""What a deployment deploys and what it changes: the lazy fetch of hosted configuration content (a task,
never a request), the content-addressed cache, the baseline, and the reads the diff page and the evidence
pack share.

The baseline of a deployment is the configuration its environment had before it: the deployment of the same
configuration profile in the same environment that last reached COMPLETE before it (a rolled-back or
reverted one never counts; a profile's first deployment has none). An environment holds one configuration per
profile, so a deployment of another profile is no baseline.

Only hosted content (`LocationUri` "hosted") is read, with GetHostedConfigurationVersion. Content in S3, SSM
or Secrets Manager is never read: secrets never leave AWS; the page says where it lives.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from deployments import diffs, sync
from deployments.appconfig import AppConfigClient, AppConfigError, PermanentAppConfigError, client_for
from deployments.models import ConfigurationContent, Deployment, DeploymentConfiguration, DeploymentState

logger = logging.getLogger(__name__)

HOSTED = "hosted"
# Deployments looked at (newest first) when looking for a baseline whose profile the cache does not know yet
# (known from ListDeployments only): each costs a GetDeployment.
BASELINE_CANDIDATES = 5

_LOCATIONS = (
    ("s3://", "an Amazon S3 object"),
    ("ssm-parameter://", "an AWS Systems Manager parameter"),
    ("ssm-document://", "an AWS Systems Manager document"),
    ("secretsmanager://", "an AWS Secrets Manager secret"),
    ("codepipeline://", "an AWS CodePipeline pipeline"),
)


def location_of(location_uri: str) -> str:
    """Where a configuration's content lives, in words."""
    if location_uri == HOSTED:
        return "the AppConfig hosted configuration store"
    for prefix, where in _LOCATIONS:
        if location_uri.startswith(prefix):
            return where
    return "a location outside AppConfig" if location_uri else "an unknown location (not reported yet)"


# ---------------------------------------------------------------------------------------------------------
# The fetch (a task calls this; never a request)


def _content_store(data: bytes) -> str:
    """Store `data` once under its SHA-256 and return the digest: a version shared by many deployments (or
    fetched twice, concurrently) is one row."""
    digest = hashlib.sha256(data).hexdigest()
    if settings.SHOW_CONFIG_CONTENT and not ConfigurationContent.objects.filter(sha256=digest).exists():
        try:
            with transaction.atomic():
                ConfigurationContent.objects.create(sha256=digest, data=data)
        except IntegrityError:
            pass  # stored meanwhile by another worker: the same bytes, by definition
    return digest


def _needs_fetch(row: DeploymentConfiguration | None) -> bool:
    if row is None or row.fetched_at is None or row.error:
        return True
    if not row.is_hosted or not settings.SHOW_CONFIG_CONTENT:
        return False
    # Fetched while contents were hidden: the bytes were never kept.
    return not ConfigurationContent.objects.filter(sha256=row.sha256).exists()


def _describe(deployment: Deployment, client: AppConfigClient) -> DeploymentConfiguration:
    """The deployment's DeploymentConfiguration, read from AppConfig once (hosted: GetConfigurationProfile
    and GetHostedConfigurationVersion; elsewhere: no call at all). A refusal is stored on the row, then
    re-raised."""
    row = DeploymentConfiguration.objects.filter(deployment=deployment).first()
    if not _needs_fetch(row):
        return row
    if deployment.details_fetched_at is None or not deployment.configuration_location_uri:
        deployment = sync.deployment_fetch_details(deployment=deployment, client=client)
    values: dict[str, Any] = {
        "location_uri": deployment.configuration_location_uri,
        "version_label": deployment.version_label,
        "error": "",
    }
    try:
        if deployment.configuration_location_uri == HOSTED:
            values |= _read_hosted(deployment, client)
    except AppConfigError as exc:
        DeploymentConfiguration.objects.update_or_create(
            deployment=deployment, defaults={**values, "error": str(exc), "fetched_at": timezone.now()}
        )
        raise
    row, _ = DeploymentConfiguration.objects.update_or_create(
        deployment=deployment, defaults={**values, "fetched_at": timezone.now()}
    )
    return row


def _read_hosted(deployment: Deployment, client: AppConfigClient) -> dict[str, Any]:
    application_id = deployment.environment.application.application_id
    profile_id = deployment.configuration_profile_id
    try:
        version_number = int(deployment.configuration_version)
    except ValueError:
        raise PermanentAppConfigError(
            f"the hosted configuration version {deployment.configuration_version!r} is not a number",
            code="BadVersion",
        ) from None
    profile = client.get_configuration_profile(application_id, profile_id)
    answer = client.get_hosted_configuration_version(application_id, profile_id, version_number)
    content = answer["Content"]
    return {
        "profile_type": profile.get("Type") or "",
        "version_label": answer.get("VersionLabel") or deployment.version_label,
        "content_type": answer.get("ContentType") or "",
        "size": len(content),
        "sha256": _content_store(content),
    }


def baseline_of(deployment: Deployment, client: AppConfigClient | None = None) -> Deployment | None:
    """The last deployment of the same profile in the same environment that reached COMPLETE before this
    one (None for a first deployment). A candidate known only from ListDeployments (no profile id cached)
    is matched by configuration name, then read with GetDeployment to be sure: at most BASELINE_CANDIDATES."""
    same_profile = Q(configuration_profile_id=deployment.configuration_profile_id) | Q(
        configuration_profile_id="", configuration_name=deployment.configuration_name
    )
    candidates = (
        Deployment.objects.filter(
            environment_id=deployment.environment_id,
            deployment_number__lt=deployment.deployment_number,
            state=DeploymentState.COMPLETE,
        )
        .filter(same_profile)
        .select_related("environment__application__account")
        .order_by("-deployment_number")
    )
    for candidate in candidates[:BASELINE_CANDIDATES]:
        if not candidate.configuration_profile_id:
            candidate = sync.deployment_fetch_details(
                deployment=candidate, client=client or client_for(candidate.environment.application.account)
            )
        if (
            candidate.state == DeploymentState.COMPLETE
            and candidate.configuration_profile_id == deployment.configuration_profile_id
        ):
            return candidate
    return None


def deployment_fetch_configuration(
    *, deployment: Deployment, client: AppConfigClient | None = None
) -> DeploymentConfiguration:
    """The lazy fetch behind the diff (the task `deployment_fetch_configuration_task`).

    1. Describe the deployment's own configuration (`_describe`: details first if the cache has none; for
       hosted content, its profile's type and the version's digest, size and content type, the bytes kept
       once in ConfigurationContent while SHOW_CONFIG_CONTENT is on).
    2. Find its baseline (`baseline_of`) and describe that configuration too (already cached when it was
       itself deployed and viewed: no call).
    3. Store the baseline on the deployment's row.
    A refusal from AppConfig is stored on the row the page reads, then re-raised for the task to retry or
    give up."""
    client = client or client_for(deployment.environment.application.account)
    row = _describe(deployment, client)
    deployment.refresh_from_db()
    try:
        baseline = baseline_of(deployment, client)
        if baseline is not None:
            _describe(baseline, client)
    except AppConfigError as exc:
        DeploymentConfiguration.objects.filter(pk=row.pk).update(error=f"baseline: {exc}")
        raise
    DeploymentConfiguration.objects.filter(pk=row.pk).update(baseline=baseline)
    row.baseline = baseline
    return row


# ---------------------------------------------------------------------------------------------------------
# Reads: the diff page and the evidence pack


@dataclass
class ConfigurationReport:
    """Everything the diff region and the evidence pack show about a deployment's configuration."""

    deployment: Deployment
    row: DeploymentConfiguration | None
    show_content: bool
    diff: diffs.ConfigurationDiff | None = None

    @property
    def pending(self) -> bool:
        return self.row is None or self.row.fetched_at is None

    @property
    def error(self) -> str:
        return self.row.error if self.row is not None else ""

    @property
    def location_uri(self) -> str:
        if self.row is not None and self.row.location_uri:
            return self.row.location_uri
        return self.deployment.configuration_location_uri

    @property
    def hosted(self) -> bool:
        return self.location_uri == HOSTED

    @property
    def where(self) -> str:
        return location_of(self.location_uri)

    @property
    def baseline(self) -> Deployment | None:
        return self.row.baseline if self.row is not None else None

    @property
    def baseline_row(self) -> DeploymentConfiguration | None:
        baseline = self.baseline
        return getattr(baseline, "configuration", None) if baseline is not None else None

    @property
    def contents_shown(self) -> bool:
        """Whether configuration content (not only digests) is part of what is shown: what is audited."""
        return self.diff is not None and self.diff.kind != diffs.BINARY

    def evidence(self) -> dict[str, Any]:
        """The configuration part of an evidence pack: location, versions, digests, and the diff when
        contents are shown."""

        def side(deployment: Deployment | None, row: DeploymentConfiguration | None) -> dict[str, Any] | None:
            if deployment is None:
                return None
            return {
                "deployment_number": deployment.deployment_number,
                "configuration_version": deployment.configuration_version,
                "version_label": (row.version_label if row else "") or deployment.version_label,
                "content_type": row.content_type if row else "",
                "size": row.size if row else None,
                "sha256": row.sha256 if row else "",
            }

        return {
            "location_uri": self.location_uri,
            "where": self.where,
            "content_read": self.hosted,
            "profile_type": self.row.profile_type if self.row else "",
            "fetched": not self.pending,
            "error": self.error,
            "deployed": side(self.deployment, self.row),
            "baseline": side(self.baseline, self.baseline_row),
            "content_shown": self.contents_shown,
            "diff": [line.text for line in self.diff.lines] if self.contents_shown else None,
            "flag_changes": (
                [vars(change) for change in self.diff.flags]
                if self.contents_shown and self.diff.flags is not None
                else None
            ),
        }


def configuration_report(deployment: Deployment) -> ConfigurationReport:
    """The deployment's configuration and, when its content is cached and may be shown, the diff from its
    baseline: one query for the rows, one more for the contents."""
    row = (
        DeploymentConfiguration.objects.select_related("baseline__configuration")
        .filter(deployment=deployment)
        .first()
    )
    report = ConfigurationReport(deployment, row, settings.SHOW_CONFIG_CONTENT)
    if report.pending or report.error or not report.hosted or not report.show_content:
        return report
    baseline = report.baseline_row
    digests = {row.sha256} | ({baseline.sha256} if baseline is not None else set())
    contents = dict(ConfigurationContent.objects.filter(sha256__in=digests).values_list("sha256", "data"))
    after = contents.get(row.sha256)
    before = contents.get(baseline.sha256) if baseline is not None else None
    if after is None or (baseline is not None and before is None):
        return report  # hidden when fetched: the next fetch keeps the bytes
    report.diff = diffs.compare(
        bytes(before) if before is not None else None,
        bytes(after),
        content_type=row.content_type,
        before_content_type=baseline.content_type if baseline is not None else "",
        profile_type=row.profile_type,
        before_name=f"deployment {report.baseline.deployment_number} (version "
        f"{report.baseline.configuration_version})"
        if report.baseline is not None
        else "nothing before",
        after_name=f"deployment {deployment.deployment_number} (version {deployment.configuration_version})",
    )
    return report


def configuration_needs_fetch(report: ConfigurationReport) -> bool:
    """Whether the page should ask for the fetch: nothing cached yet, or bytes that were not kept."""
    if report.pending:
        return True
    return bool(not report.error and report.hosted and report.show_content and report.diff is None)
