"""The cache of AppConfig state, the record of sync runs, role grants, and the stop workflow's rows.

Cached rows mirror AppConfig's own resources and words (ApplicationId -> application_id, EventLog -> events)
and are written only by the sync services (`deployments.sync`). RoleGrant is written by `deployments.roles`;
StopRequest and StopDecision by `stops.services` (their tables stay in this app). No model method does I/O.
"""

import re

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse


def default_approvals_required() -> int:
    return settings.STOP_APPROVALS_REQUIRED_DEFAULT


# AppConfig calls a second per Account unless it says otherwise: well under what AWS lets an account make
# before answering ThrottlingException, so other tools sharing the account keep some budget of their own.
DEFAULT_API_RATE_LIMIT = 10.0

# arn:aws:iam::123456789012:role/name (any partition): the account a role belongs to.
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/.+$")


def account_id_from_role_arn(role_arn: str) -> str:
    """The 12-digit AWS account id named by an IAM role ARN, or "" for anything else."""
    match = _ROLE_ARN.match(role_arn.strip())
    return match.group(1) if match else ""


class Account(models.Model):
    """One AWS account (or one role in it) whose AppConfig the console mirrors."""

    name = models.SlugField(max_length=64, unique=True)
    region = models.CharField(max_length=32, blank=True, help_text="Blank: the AWS_REGION setting.")
    endpoint_url = models.URLField(
        blank=True, help_text="Blank: AWS itself (or AWS_ENDPOINT_URL_APPCONFIG when that is set)."
    )
    role_arn = models.CharField(
        max_length=2048, blank=True, help_text="Role to assume; blank: the base credentials."
    )
    enabled = models.BooleanField(default=True)
    # The AWS account these credentials reach (from the role ARN, or sts:GetCallerIdentity on first sync):
    # two Accounts for the same AWS account and region would mirror every application twice.
    aws_account_id = models.CharField(
        max_length=12, blank=True, help_text="Filled from the role ARN or on the first sync."
    )
    # Shared by every worker process (a Redis token bucket, see deployments/appconfig.py); full sync passes
    # leave APPCONFIG_RATE_LIMIT_RESERVE of it to stops and the refresh of live deployments.
    api_rate_limit = models.FloatField(
        "API rate limit",
        default=DEFAULT_API_RATE_LIMIT,
        validators=[MinValueValidator(0)],
        help_text="AppConfig calls a second, across all workers; 0: no limit.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # Region as stored (blank: the AWS_REGION setting); `clean()` and the sync also compare the
            # effective region, which the database cannot see.
            models.UniqueConstraint(
                fields=["aws_account_id", "region"],
                condition=~Q(aws_account_id=""),
                name="account_one_per_aws_account_and_region",
                violation_error_message="Another Account already mirrors this AWS account in this region.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_region(self) -> str:
        return self.region or settings.AWS_REGION

    def same_aws_account(self):
        """Other Accounts that reach the same AWS account in the same (effective) region."""
        if not self.aws_account_id:
            return Account.objects.none()
        regions = {self.effective_region}
        if self.effective_region == settings.AWS_REGION:
            regions.add("")
        return Account.objects.filter(aws_account_id=self.aws_account_id, region__in=regions).exclude(
            pk=self.pk
        )

    def clean(self) -> None:
        # The admin form's validation (Model.full_clean): the account id a role ARN names is known without
        # asking AWS; a duplicate is refused with a message that names the Account already holding it.
        if self.role_arn and not self.aws_account_id:
            self.aws_account_id = account_id_from_role_arn(self.role_arn)
        other = self.same_aws_account().first()
        if other is not None:
            raise ValidationError(duplicate_account_message(self, other))


def duplicate_account_message(account: Account, other: Account) -> str:
    return (
        f"AWS account {account.aws_account_id} in {account.effective_region} is already mirrored by the "
        f"Account {other.name!r}; a second Account for it would list every application twice."
    )


class SoftDeletable(models.Model):
    # Set when the resource disappeared from AppConfig; history stays readable, pages hide it by default.
    deleted_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Application(SoftDeletable):
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="applications")
    application_id = models.CharField(max_length=64)
    name = models.CharField(max_length=128)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name", "application_id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "application_id"], name="application_natural_key"),
        ]
        permissions = [
            ("view_console", "Can view applications, environments and deployments"),
            ("sync_now", "Can ask for an immediate sync"),
            ("request_stop", "Can request that a deployment be stopped"),
            ("approve_stop", "Can approve or reject stop requests"),
            ("stop_without_approval", "Can stop a deployment without approval (break-glass)"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.application_id})"

    def get_absolute_url(self) -> str:
        return reverse("application_detail", args=[self.application_id])

    def audit_target(self) -> dict:
        return {"application_id": self.application_id, "label": self.name}


class EnvironmentState(models.TextChoices):
    READY_FOR_DEPLOYMENT = "READY_FOR_DEPLOYMENT"
    DEPLOYING = "DEPLOYING"
    ROLLING_BACK = "ROLLING_BACK"
    ROLLED_BACK = "ROLLED_BACK"
    REVERTED = "REVERTED"


class Environment(SoftDeletable):
    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="environments")
    environment_id = models.CharField(max_length=64)
    name = models.CharField(max_length=128)
    description = models.TextField(blank=True)
    # Free text rather than choices: AWS may add states, and the cache must store what it is told.
    state = models.CharField(max_length=32, blank=True)
    monitors = models.JSONField(default=list, blank=True)
    # The portal's own stop policy, not AppConfig's: distinct approvals a stop needs here.
    approvals_required = models.PositiveSmallIntegerField(
        default=default_approvals_required, validators=[MinValueValidator(0), MaxValueValidator(3)]
    )
    # Critical environments make the requester type the environment's name to confirm a stop.
    is_critical = models.BooleanField(default=False)
    # True once a ListDeployments walk reached the last page: until then sync must not stop paging early,
    # or an interrupted first sync would leave a hole in the history for good.
    history_complete = models.BooleanField(default=False)
    # Compare-and-swap claim so overlapping sync runs of one environment never race (see sync.py).
    sync_claimed_until = models.DateTimeField(null=True, blank=True)
    sync_claim = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["application", "name"]
        constraints = [
            models.UniqueConstraint(fields=["application", "environment_id"], name="environment_natural_key"),
            models.CheckConstraint(
                condition=Q(approvals_required__lte=3), name="approvals_required_at_most_3"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.environment_id})"

    def get_absolute_url(self) -> str:
        return reverse("environment_detail", args=[self.application.application_id, self.environment_id])

    def audit_target(self) -> dict:
        application = self.application
        return {
            "application_id": application.application_id,
            "environment_id": self.environment_id,
            "label": f"{application.name} / {self.name}",
        }


class DeploymentState(models.TextChoices):
    BAKING = "BAKING"
    VALIDATING = "VALIDATING"
    DEPLOYING = "DEPLOYING"
    COMPLETE = "COMPLETE"
    ROLLING_BACK = "ROLLING_BACK"
    ROLLED_BACK = "ROLLED_BACK"
    REVERTED = "REVERTED"


# States in which AppConfig may still change a deployment; sync refreshes these and pages poll them.
ACTIVE_STATES = (
    DeploymentState.DEPLOYING,
    DeploymentState.BAKING,
    DeploymentState.VALIDATING,
    DeploymentState.ROLLING_BACK,
)
STOPPABLE_STATES = (DeploymentState.DEPLOYING, DeploymentState.BAKING)


class Deployment(models.Model):
    """AppConfig's Deployment shape (every member the seed lists, plus VersionLabel)."""

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="deployments")
    deployment_number = models.PositiveIntegerField()
    deployment_strategy_id = models.CharField(max_length=128, blank=True)
    configuration_profile_id = models.CharField(max_length=128, blank=True)
    configuration_name = models.CharField(max_length=128, blank=True)
    configuration_location_uri = models.CharField(max_length=2048, blank=True)
    configuration_version = models.CharField(max_length=1024, blank=True)
    version_label = models.CharField(max_length=64, blank=True)
    description = models.TextField(blank=True)
    deployment_duration_in_minutes = models.PositiveIntegerField(default=0)
    growth_type = models.CharField(max_length=32, blank=True)
    growth_factor = models.FloatField(default=0.0)
    final_bake_time_in_minutes = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=32, choices=DeploymentState.choices)
    percentage_complete = models.FloatField(default=0.0)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Only GetDeployment carries these (never a ListDeployments summary).
    applied_extensions = models.JSONField(default=list, blank=True)
    kms_key_arn = models.CharField(max_length=2048, blank=True)
    kms_key_identifier = models.CharField(max_length=2048, blank=True)
    # When the full GetDeployment answer (strategy, profile, location, description, EventLog) was last
    # stored. Null for terminal deployments known only from ListDeployments: fetched lazily on first view.
    details_fetched_at = models.DateTimeField(null=True, blank=True)
    # Last error of a lazy fetch, shown on the page instead of an endless "loading".
    details_error = models.TextField(blank=True)
    # Bumped on every change; the live pages send it back so an unchanged poll answers 204.
    version = models.PositiveIntegerField(default=1)
    # Hash of the members a ListDeployments summary carries, so sync recognises an unchanged row cheaply.
    summary_fingerprint = models.CharField(max_length=40, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["environment", "-deployment_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "deployment_number"], name="deployment_natural_key"
            ),
        ]
        indexes = [
            # The dashboard and the active refresh: "every deployment still in progress".
            models.Index(
                fields=["state"],
                name="deployment_active_idx",
                condition=Q(state__in=["DEPLOYING", "BAKING", "VALIDATING", "ROLLING_BACK"]),
            ),
            # The environment page: newest first, optionally filtered by state.
            models.Index(
                fields=["environment", "state", "-deployment_number"], name="deployment_env_state_idx"
            ),
            # The dashboard's "latest finished".
            models.Index(fields=["-completed_at"], name="deployment_completed_idx"),
        ]

    def __str__(self) -> str:
        return f"deployment {self.deployment_number} of {self.environment}"

    def get_absolute_url(self) -> str:
        return reverse("deployment_detail", args=self._keys())

    def _keys(self) -> list:
        environment = self.environment
        return [environment.application.application_id, environment.environment_id, self.deployment_number]

    def get_stop_url(self) -> str:
        return reverse("stop_dialog", args=self._keys())

    def get_configuration_url(self) -> str:
        return reverse("deployment_configuration", args=self._keys())

    def get_evidence_url(self) -> str:
        return reverse("deployment_evidence", args=self._keys())

    def get_evidence_json_url(self) -> str:
        return reverse("deployment_evidence_json", args=self._keys())

    def audit_target(self) -> dict:
        application_id, environment_id, number = self._keys()
        environment = self.environment
        return {
            "application_id": application_id,
            "environment_id": environment_id,
            "deployment_number": number,
            "label": f"{environment.application.name} / {environment.name} / deployment {number}",
        }

    @property
    def is_terminal(self) -> bool:
        return self.state not in ACTIVE_STATES

    @property
    def is_stoppable(self) -> bool:
        return self.state in STOPPABLE_STATES


class DeploymentEvent(models.Model):
    """One EventLog entry. AppConfig gives events no id and only ever prepends to the log, so an event's
    natural key is its position counted from the oldest (`sequence`)."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="events")
    sequence = models.PositiveIntegerField()
    event_type = models.CharField(max_length=64)
    triggered_by = models.CharField(max_length=32)
    description = models.TextField(blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    action_invocations = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["deployment", "-sequence"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "sequence"], name="event_natural_key"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} ({self.triggered_by})"


class SyncRun(models.Model):
    """One pass of sync over one scope, so pages can show health and staleness."""

    class Scope(models.TextChoices):
        ACCOUNT = "account"
        APPLICATION = "application"
        ENVIRONMENT = "environment"
        ACTIVE = "active"
        DEPLOYMENT = "deployment"

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        SKIPPED = "skipped"

    scope = models.CharField(max_length=16, choices=Scope.choices)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sync_runs", null=True)
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    api_calls = models.PositiveIntegerField(default=0)
    # Throttling answers (429) received, all retried or the run would have failed on them.
    throttles = models.PositiveIntegerField(default=0)
    rows_created = models.PositiveIntegerField(default=0)
    rows_updated = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            # Sync health: the latest run per account and scope.
            models.Index(fields=["account", "scope", "-started_at"], name="syncrun_latest_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} sync {self.status} at {self.started_at:%Y-%m-%d %H:%M:%S}"


class Role(models.TextChoices):
    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    AUDITOR = "auditor"
    BREAK_GLASS = "break-glass"


class GrantSource(models.TextChoices):
    MANUAL = "manual", "By hand (admin, command)"
    # Reconciled with the identity provider's groups at every single sign-on (deployments.roles).
    SSO = "sso", "Single sign-on"


class RoleGrant(models.Model):
    """A role (a Group and its permissions) granted to a user for every application or for one."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_grants")
    # PROTECT: deleting a role group would silently revoke every grant of it (no role.revoked events).
    group = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="role_grants")
    # Null: every application of every account, present and future.
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="role_grants", null=True, blank=True
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    granted_at = models.DateTimeField(auto_now_add=True)
    # SSO grants come and go with the identity provider's groups at each sign-on; grants made by hand are
    # never touched by that reconciliation.
    source = models.CharField(max_length=8, choices=GrantSource.choices, default=GrantSource.MANUAL)
    # The identity provider group that caused an SSO grant (the first of them, when several map to it).
    idp_group = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "group", "application"], name="role_grant_scoped_unique"),
            models.UniqueConstraint(
                fields=["user", "group"],
                condition=Q(application__isnull=True),
                name="role_grant_global_unique",
            ),
        ]

    def __str__(self) -> str:
        scope = self.application.application_id if self.application_id else "all applications"
        return f"{self.user} is {self.group.name} for {scope}"


class StopKind(models.TextChoices):
    STOP = "stop", "Stop (roll back)"
    REVERT = "revert", "Revert (Allow-Revert)"


class StopStatus(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    APPROVED = "approved", "Approved, waiting to run"
    EXECUTING = "executing", "Stopping"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SUPERSEDED = "superseded", "Superseded"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


OPEN_STOP_STATUSES = (StopStatus.PENDING, StopStatus.APPROVED, StopStatus.EXECUTING)


class StopRequest(models.Model):
    """A request to stop (or revert) one deployment, bound to the state it was made in.

    A row, not a task: the state machine lives in `stops.services`, every transition is a
    compare-and-swap UPDATE on `status`, and an approved row is the outbox entry that the execution task
    (and the beat relay, if that task never ran) acts on.
    """

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="stop_requests")
    kind = models.CharField(max_length=8, choices=StopKind.choices, default=StopKind.STOP)
    status = models.CharField(max_length=12, choices=StopStatus.choices, default=StopStatus.PENDING)
    # The deployment's state when the request was made; execution refuses to act on any other.
    state_at_request = models.CharField(max_length=32)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    break_glass = models.BooleanField(default=False)
    source = models.CharField(max_length=16, default="web")
    # Snapshot of the environment's policy at request time: a later policy change does not move the goal.
    approvals_required = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    approved_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Set (and committed) just before StopDeployment is sent: from then on the outcome must be reconciled
    # with GetDeployment, never assumed.
    stop_called_at = models.DateTimeField(null=True, blank=True)
    stop_calls = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True)
    # Bumped on every transition and decision; live regions send it back so an unchanged poll answers 204.
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment"],
                condition=Q(status__in=["pending", "approved", "executing"]),
                name="one_open_stop_request_per_deployment",
            ),
        ]
        indexes = [
            # The approval queue, the relay and expiry all look for open requests by status.
            models.Index(
                fields=["status", "created_at"],
                name="stop_request_open_idx",
                condition=Q(status__in=["pending", "approved", "executing"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} request #{self.pk} for {self.deployment}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STOP_STATUSES

    def audit_target(self) -> dict:
        environment = self.deployment.environment
        return {
            "application_id": environment.application.application_id,
            "environment_id": environment.environment_id,
            "deployment_number": self.deployment.deployment_number,
            "stop_request_id": self.pk,
            "label": f"{self.kind} request #{self.pk}: {environment.application.name} / {environment.name} "
            f"/ deployment {self.deployment.deployment_number}",
        }


class StopDecision(models.Model):
    class Verdict(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"

    stop_request = models.ForeignKey(StopRequest, on_delete=models.PROTECT, related_name="decisions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # One say per person: twenty posts from one approver are one approval.
            models.UniqueConstraint(fields=["stop_request", "user"], name="one_decision_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.verdict}d #{self.stop_request_id}"


class ConfigurationContent(models.Model):
    """The bytes of one hosted configuration version, stored once per content (content-addressed by
    SHA-256): a version deployed to many environments, or a baseline shared by many deployments, is one row.
    Hosted versions never change in AppConfig, so a row is written once and never refreshed. At most
    AppConfig's 2 MB (deployments.appconfig.HOSTED_CONTENT_MAX_BYTES)."""

    sha256 = models.CharField(max_length=64, unique=True)
    data = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"content {self.sha256[:12]} ({len(self.data)} bytes)"


class DeploymentConfiguration(models.Model):
    """What a deployment deploys, as the diff and the evidence pack need it: the configuration's location,
    the digest, size and content type of a hosted version (never the bytes: those are in
    ConfigurationContent, kept only while SHOW_CONFIG_CONTENT is on), and the baseline: the deployment of
    the same profile in the same environment that last reached COMPLETE before this one (null for a first
    deployment). Written by `deployments.configuration` in a task, never in a request."""

    deployment = models.OneToOneField(Deployment, on_delete=models.CASCADE, related_name="configuration")
    location_uri = models.CharField(max_length=2048, blank=True)
    profile_type = models.CharField(max_length=64, blank=True)
    version_label = models.CharField(max_length=64, blank=True)
    content_type = models.CharField(max_length=255, blank=True)
    size = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    baseline = models.ForeignKey(
        Deployment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    fetched_at = models.DateTimeField(null=True, blank=True)
    # Why the content could not be read (AppConfig's refusal); the page shows it instead of "loading".
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"configuration of {self.deployment_id}"

    @property
    def is_hosted(self) -> bool:
        return self.location_uri == "hosted"
