"""Services that pull AppConfig into the cache.

Costs are the design constraint. An initial sync of an estate makes only List calls plus one GetDeployment
per deployment still in progress; a re-sync with nothing changed makes one ListApplications page per 50
applications, one ListEnvironments per application and one ListDeployments per environment, and writes no
deployment or event rows. Terminal deployments first seen in a list keep only their summary until someone
opens them (`deployment_fetch_details`). SQL per environment is a constant number of queries per page.

No AWS call is made inside a database transaction: each step reads from AppConfig first, then writes.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from deployments import tasks
from deployments.appconfig import AppConfigClient, AppConfigError, PermanentAppConfigError, client_for
from deployments.models import (
    ACTIVE_STATES,
    Account,
    Application,
    Deployment,
    DeploymentEvent,
    Environment,
    SyncRun,
    account_id_from_role_arn,
    duplicate_account_message,
)
from portal.queue import publish

logger = logging.getLogger(__name__)

# AppConfig member -> Deployment field. ListDeployments' summaries carry a subset; GetDeployment all of them.
DEPLOYMENT_FIELDS = {
    "DeploymentStrategyId": "deployment_strategy_id",
    "ConfigurationProfileId": "configuration_profile_id",
    "ConfigurationName": "configuration_name",
    "ConfigurationLocationUri": "configuration_location_uri",
    "ConfigurationVersion": "configuration_version",
    "VersionLabel": "version_label",
    "Description": "description",
    "DeploymentDurationInMinutes": "deployment_duration_in_minutes",
    "GrowthType": "growth_type",
    "GrowthFactor": "growth_factor",
    "FinalBakeTimeInMinutes": "final_bake_time_in_minutes",
    "State": "state",
    "PercentageComplete": "percentage_complete",
    "StartedAt": "started_at",
    "CompletedAt": "completed_at",
    # GetDeployment only.
    "AppliedExtensions": "applied_extensions",
    "KmsKeyArn": "kms_key_arn",
    "KmsKeyIdentifier": "kms_key_identifier",
}
_UPDATABLE = [
    *DEPLOYMENT_FIELDS.values(),
    "summary_fingerprint",
    "details_fetched_at",
    "details_error",
    "version",
    "updated_at",
]


@dataclass
class SyncCounts:
    created: int = 0
    updated: int = 0
    skipped_environments: list[str] = field(default_factory=list)

    def add(self, other: SyncCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.skipped_environments += other.skipped_environments


# ---------------------------------------------------------------------------------------------------------
# Applying AppConfig answers to rows (pure, no queries)


def _apply_deployment(deployment: Deployment, data: dict[str, Any]) -> bool:
    """Copy the members present in `data` onto the row; True when anything changed."""
    changed = False
    for member, attr in DEPLOYMENT_FIELDS.items():
        if member not in data:
            continue
        value = data[member]
        if attr == "applied_extensions":
            value = _jsonable(value or [])
        elif value is None:
            value = None if attr in ("started_at", "completed_at") else ""
        if getattr(deployment, attr) != value:
            setattr(deployment, attr, value)
            changed = True
    return changed


# The members a ListDeployments summary carries; their fingerprint lets an unchanged page be recognised
# from a narrow query instead of loading every cached row as a model.
SUMMARY_FIELDS = (
    "ConfigurationName",
    "ConfigurationVersion",
    "VersionLabel",
    "DeploymentDurationInMinutes",
    "GrowthType",
    "GrowthFactor",
    "FinalBakeTimeInMinutes",
    "State",
    "PercentageComplete",
    "StartedAt",
    "CompletedAt",
)


def _fingerprint(values: Iterable[Any]) -> str:
    # str() renders an aware datetime the same whether botocore or the database built it ("+00:00").
    return hashlib.sha1("\x1f".join(map(str, values)).encode(), usedforsecurity=False).hexdigest()


_DATE_MEMBERS = {"StartedAt", "CompletedAt"}


def _fingerprint_item(item: dict) -> str:
    # The same normalisation as _apply_deployment: a missing member is None for dates, "" otherwise.
    return _fingerprint(
        item.get(member) if item.get(member) is not None or member in _DATE_MEMBERS else ""
        for member in SUMMARY_FIELDS
    )


def _fingerprint_row(deployment: Deployment) -> str:
    return _fingerprint(getattr(deployment, DEPLOYMENT_FIELDS[member]) for member in SUMMARY_FIELDS)


def _new_events(deployment: Deployment, event_log: list[dict], known: int) -> list[DeploymentEvent]:
    # EventLog is newest first and AppConfig only ever prepends, so the oldest-first position is stable.
    oldest_first = list(reversed(event_log))
    return [
        DeploymentEvent(
            deployment=deployment,
            sequence=sequence,
            event_type=event.get("EventType", ""),
            triggered_by=event.get("TriggeredBy", ""),
            description=event.get("Description", ""),
            occurred_at=event.get("OccurredAt"),
            action_invocations=_jsonable(event.get("ActionInvocations", [])),
        )
        for sequence, event in enumerate(oldest_first)
        if sequence >= known
    ]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# ---------------------------------------------------------------------------------------------------------
# Writing


def _known_event_counts(deployments: Iterable[Deployment]) -> dict[int, int]:
    ids = [d.pk for d in deployments if d.pk]
    if not ids:
        return {}
    rows = (
        DeploymentEvent.objects.filter(deployment_id__in=ids)
        .values("deployment_id")
        .annotate(top=Max("sequence"))
    )
    return {row["deployment_id"]: row["top"] + 1 for row in rows}


def _store_deployments(
    *, new: list[Deployment], changed: list[Deployment], details: list[tuple[Deployment, dict]], now
) -> SyncCounts:
    """Write one batch: new rows, changed rows (version bumped) and the new events of the deployments that
    come with a fresh GetDeployment answer in `details`."""
    counts = SyncCounts()
    if not (new or changed or details):
        return counts  # an unchanged page opens no transaction at all
    for deployment in (*new, *changed):
        deployment.summary_fingerprint = _fingerprint_row(deployment)
    with transaction.atomic():
        if new:
            Deployment.objects.bulk_create(new)
            counts.created += len(new)
        if changed:
            for deployment in changed:
                # Relative to what the database holds, never to this (possibly stale) copy: the live pages'
                # 204 depends on the version only ever going up.
                deployment.version = F("version") + 1
                deployment.updated_at = now
            Deployment.objects.bulk_update(changed, _UPDATABLE)
            counts.updated += len(changed)
        if details:
            # Rows created by bulk_create above have pks on PostgreSQL and SQLite alike (RETURNING), and no
            # events yet; the count query only concerns rows that existed before.
            known = _known_event_counts(d for d, _ in details if d not in new)
            events: list[DeploymentEvent] = []
            for deployment, answer in details:
                events += _new_events(deployment, answer.get("EventLog", []), known.get(deployment.pk, 0))
            if events:
                DeploymentEvent.objects.bulk_create(events, ignore_conflicts=True)
                counts.created += len(events)
    return counts


# ---------------------------------------------------------------------------------------------------------
# Environment


def _claim_environments(environments: list[Environment], now) -> tuple[uuid.UUID, set[int]]:
    """Compare-and-swap claim: one sync of an environment at a time, across processes, without a lock
    server. One UPDATE claims every free environment of the batch under a fresh token; the claim lapses after
    SYNC_LOCK_SECONDS so a crashed worker never blocks an environment for good."""
    token = uuid.uuid4()
    Environment.objects.filter(
        Q(sync_claimed_until__isnull=True) | Q(sync_claimed_until__lt=now),
        pk__in=[e.pk for e in environments],
    ).update(sync_claimed_until=now + timedelta(seconds=settings.SYNC_LOCK_SECONDS), sync_claim=token)
    return token, set(Environment.objects.filter(sync_claim=token).values_list("pk", flat=True))


def _release_environments(token: uuid.UUID) -> None:
    Environment.objects.filter(sync_claim=token).update(sync_claimed_until=None, sync_claim=None)


def sync_environments(*, environments: list[Environment], client: AppConfigClient) -> SyncCounts:
    """Claim the environments that no other run holds, sync each, release them; the others are reported as
    skipped."""
    now = timezone.now()
    counts = SyncCounts()
    token, claimed = _claim_environments(environments, now)
    try:
        mine = [e for e in environments if e.pk in claimed]
        counts.skipped_environments += [e.environment_id for e in environments if e.pk not in claimed]
        # First pages of every environment, then one query for all their cached rows: in a steady state
        # that first page is all there is, so the whole application costs one query, not one per environment.
        first_pages = {
            e.pk: client.list_deployments(e.application.application_id, e.environment_id) for e in mine
        }
        first_cached = _cached_summaries(mine, [p.get("Items", []) for p in first_pages.values()])
        for environment in mine:
            counts.add(
                _sync_claimed_environment(
                    environment,
                    client,
                    now,
                    first_page=first_pages[environment.pk],
                    first_cached=first_cached,
                )
            )
    finally:
        _release_environments(token)
    return counts


def _cached_summaries(
    environments: list[Environment], pages: list[list[dict]]
) -> dict[tuple[int, int], tuple]:
    """(environment pk, deployment number) -> (summary fingerprint, state) for the numbers on these pages."""
    numbers = {item["DeploymentNumber"] for items in pages for item in items}
    if not numbers or not environments:
        return {}
    rows = Deployment.objects.filter(
        environment__in=[e.pk for e in environments], deployment_number__in=sorted(numbers)
    ).values_list("environment_id", "deployment_number", "summary_fingerprint", "state")
    return {(env, number): (fingerprint, state) for env, number, fingerprint, state in rows}


def _sync_environment(*, environment: Environment, client: AppConfigClient) -> SyncCounts:
    return sync_environments(environments=[environment], client=client)


def _sync_claimed_environment(
    environment: Environment, client: AppConfigClient, now, *, first_page: dict, first_cached: dict
) -> SyncCounts:
    """Bring one (claimed) environment's deployments up to date.

    1. Walk ListDeployments newest first; per page, compare each summary's fingerprint with the cached one
       (a narrow query: no row is loaded as a model unless it changed).
    2. GetDeployment for every deployment that is (or was, when last seen) in progress.
    3. Write the page: new rows, changed rows, new events.
    4. Stop after a page of nothing but unchanged, terminal, cached deployments, once the history has been
       walked to its end at least once.
    """
    counts = SyncCounts()
    application_id = environment.application.application_id
    page, cached_by_key = first_page, first_cached
    while True:
        items = page.get("Items", [])
        token = page.get("NextToken")
        cached = {
            number: cached_by_key[(environment.pk, number)]
            for number in (item["DeploymentNumber"] for item in items)
            if (environment.pk, number) in cached_by_key
        }
        new: list[Deployment] = []
        stale: dict[int, dict] = {}  # cached rows whose summary changed, or that are (or were) in progress
        for item in items:
            number = item["DeploymentNumber"]
            if number not in cached:
                deployment = Deployment(environment=environment, deployment_number=number)
                _apply_deployment(deployment, item)
                new.append(deployment)
                continue
            fingerprint, state = cached[number]
            if (
                state in ACTIVE_STATES
                or item.get("State") in ACTIVE_STATES
                or fingerprint != _fingerprint_item(item)
            ):
                stale[number] = item

        changed: list[Deployment] = []
        fetch: list[Deployment] = [d for d in new if d.state in ACTIVE_STATES]
        if stale:
            for deployment in environment.deployments.filter(deployment_number__in=list(stale)):
                # In progress now, or when last seen: its final fields and events are still to be read.
                was_active = deployment.state in ACTIVE_STATES
                summary_changed = _apply_deployment(deployment, stale[deployment.deployment_number])
                if was_active or deployment.state in ACTIVE_STATES:
                    fetch.append(deployment)
                elif summary_changed:
                    changed.append(deployment)

        fetched_changed, details = _read_details(fetch, client, now)
        changed += fetched_changed
        counts.add(_store_deployments(new=new, changed=changed, details=details, now=now))

        if not token:
            if not environment.history_complete:
                environment.history_complete = True
                Environment.objects.filter(pk=environment.pk).update(history_complete=True)
            break
        if items and not new and not stale and environment.history_complete:
            break
        page = client.list_deployments(application_id, environment.environment_id, token)
        cached_by_key = _cached_summaries([environment], [page.get("Items", [])])
    return counts


# ---------------------------------------------------------------------------------------------------------
# Application and account


def _upsert(model, parent: dict[str, Any], cached: dict[str, Any], items: list[dict], values, now):
    """Mirror one list answer onto its cached rows, in one transaction and at most two bulk statements:
    create the new, update the changed, soft-delete the vanished. `values(item)` gives the mirrored fields;
    `parent` the foreign key of new rows. Returns the counts and every row still alive."""
    counts = SyncCounts()
    key = "environment_id" if model is Environment else "application_id"
    new, changed = [], []
    fields: list[str] = []
    for item in items:
        mirrored = {**values(item), "deleted_at": None}
        fields = list(mirrored)
        row = cached.get(item["Id"])
        if row is None:
            new.append(model(**parent, **{key: item["Id"]}, synced_at=now, **mirrored))
            continue
        if any(getattr(row, k) != v for k, v in mirrored.items()):
            for k, v in mirrored.items():
                setattr(row, k, v)
            row.synced_at = now
            changed.append(row)
    seen = {item["Id"] for item in items}
    gone = [row for row in cached.values() if getattr(row, key) not in seen and row.deleted_at is None]
    for row in gone:
        row.deleted_at = now
    if new or changed or gone:
        with transaction.atomic():
            model.objects.bulk_create(new)
            model.objects.bulk_update([*changed, *gone], [*(fields or ["deleted_at"]), "synced_at"])
    counts.created += len(new)
    counts.updated += len(changed) + len(gone)
    return counts, [row for row in (*cached.values(), *new) if row.deleted_at is None]


def _upsert_environments(
    application: Application, items: list[dict], now
) -> tuple[SyncCounts, list[Environment]]:
    """Returns the counts and the live environments (as rows, ready to sync)."""
    counts, live = _upsert(
        Environment,
        {"application": application},
        {e.environment_id: e for e in application.environments.all()},
        items,
        lambda item: {
            "name": item.get("Name", ""),
            "description": item.get("Description", "") or "",
            "state": item.get("State", "") or "",
            "monitors": _jsonable(item.get("Monitors", [])),
        },
        now,
    )
    for environment in live:
        environment.application = application  # spare each environment a query for its application
    return counts, sorted(live, key=lambda e: e.name)


def _upsert_applications(account: Account, items: list[dict], now) -> SyncCounts:
    counts, _ = _upsert(
        Application,
        {"account": account},
        {a.application_id: a for a in account.applications.all()},
        items,
        lambda item: {"name": item.get("Name", ""), "description": item.get("Description", "") or ""},
        now,
    )
    return counts


class DuplicateAccountError(PermanentAppConfigError):
    """The Account reaches an AWS account and region that another Account already mirrors."""


def account_identify(*, account: Account, client: AppConfigClient | None = None) -> str:
    """Fill `aws_account_id` once: from the role ARN when there is one, otherwise with sts:GetCallerIdentity
    (made outside any transaction). Raises DuplicateAccountError, without saving, when another Account
    already mirrors that AWS account in the same region, so its applications are never listed twice."""
    if account.aws_account_id:
        return account.aws_account_id
    account_id = account_id_from_role_arn(account.role_arn)
    if not account_id:
        account_id = (client or client_for(account)).caller_identity()["Account"]
    account.aws_account_id = account_id
    other = account.same_aws_account().first()
    if other is not None:
        message = duplicate_account_message(account, other)
        account.aws_account_id = ""
        raise DuplicateAccountError(message, code="DuplicateAccount")
    try:
        with transaction.atomic():
            Account.objects.filter(pk=account.pk).update(aws_account_id=account_id)
    except IntegrityError:  # another Account was identified as the same one at the same moment
        account.aws_account_id = ""
        raise DuplicateAccountError(
            f"AWS account {account_id} in {account.effective_region} is already mirrored by another Account.",
            code="DuplicateAccount",
        ) from None
    return account_id


class _Run:
    """Opens a SyncRun row, and on exit stores its outcome, duration, API calls and throttling answers."""

    def __init__(self, *, scope: str, client: AppConfigClient, account: Account, **targets: Any) -> None:
        self.client = client
        self.counts = SyncCounts()
        self.record = SyncRun.objects.create(
            scope=scope, account=account, started_at=timezone.now(), **targets
        )
        self._calls_before = client.api_calls
        self._throttles_before = client.throttles

    def __enter__(self) -> _Run:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        record = self.record
        record.finished_at = timezone.now()
        record.api_calls = self.client.api_calls - self._calls_before
        record.throttles = self.client.throttles - self._throttles_before
        record.rows_created = self.counts.created
        record.rows_updated = self.counts.updated
        if exc is None:
            record.status = SyncRun.Status.SUCCEEDED
            if self.counts.skipped_environments:
                record.error = "skipped (another sync held them): " + ", ".join(
                    self.counts.skipped_environments
                )
        else:
            record.status = SyncRun.Status.FAILED
            record.error = str(exc) if isinstance(exc, AppConfigError) else f"{type(exc).__name__}: {exc}"
        record.save()
        return False  # never swallow: the caller decides between retrying and reporting


def sync_application(*, application: Application, client: AppConfigClient | None = None) -> SyncRun:
    """List an application's environments, upsert them (soft-deleting the ones AppConfig no longer has),
    then sync every live environment's deployments. Raises AppConfigError after recording it."""
    account = application.account
    client = client or client_for(account)
    with _Run(
        scope=SyncRun.Scope.APPLICATION, client=client, account=account, application=application
    ) as run:
        now = timezone.now()
        items = list(client.iter_environments(application.application_id))
        counts, live = _upsert_environments(application, items, now)
        run.counts.add(counts)
        run.counts.add(sync_environments(environments=live, client=client))
    return run.record


def sync_account(
    *,
    account: Account,
    client: AppConfigClient | None = None,
    application_ids: Iterable[str] | None = None,
    fan_out: bool = False,
) -> SyncRun:
    """One incremental pass over an account.

    1. Identify the AWS account on the first pass (`account_identify`): a second Account for the same AWS
       account and region fails here, before it lists anything.
    2. ListApplications (every page); upsert applications, soft-deleting the ones AppConfig no longer has.
    3. For each live application (or only those in `application_ids`): with `fan_out`, publish one
       `sync_application_task` each (the beat pass: workers split the applications); otherwise (the
       command) run `sync_application` in place.
    A failure of one application is recorded on its own run and does not stop the others.
    """
    client = client or client_for(account)
    with _Run(scope=SyncRun.Scope.ACCOUNT, client=client, account=account) as run:
        account_identify(account=account, client=client)
        items = list(client.iter_applications())
        run.counts.add(_upsert_applications(account, items, timezone.now()))
    applications = account.applications.filter(deleted_at__isnull=True)
    if application_ids is not None:
        applications = applications.filter(application_id__in=list(application_ids))
    for application in applications.select_related("account"):
        if fan_out:
            publish(tasks.sync_application_task, application_id=application.pk)
            continue
        try:
            sync_application(application=application, client=client)
        except AppConfigError as exc:
            # Expected (throttling, a refusal) and written on the application's run: one line, no traceback.
            logger.warning("sync of application %s failed: %s", application.application_id, exc)
    return run.record


def sync_accounts_fan_out(*, accounts: Iterable[Account]) -> int:
    """The periodic full pass over every account; returns the application tasks published.

    1. For each account, its account step (`sync_account` with no application): identify, ListApplications,
       upsert. A failure is recorded on that account's run and leaves the others alone; the next pass (one
       SYNC_INTERVAL_SECONDS away) tries it again.
    2. Publish one `sync_application_task` per live application, taking the accounts in turn (a1, b1, c1,
       a2, ...). Each account's calls are held to its own API budget: queued account by account, every
       worker would wait on the first account's budget while the others' stood unused.
    """
    per_account: list[list[int]] = []
    for account in accounts:
        try:
            sync_account(account=account, application_ids=())
        except AppConfigError as exc:
            logger.warning("sync of account %s failed: %s", account.name, exc)
            continue
        live = account.applications.filter(deleted_at__isnull=True).order_by("name", "pk")
        per_account.append(list(live.values_list("pk", flat=True)))
    published = 0
    for application_ids in itertools.zip_longest(*per_account):
        for application_id in application_ids:
            if application_id is not None:
                publish(tasks.sync_application_task, application_id=application_id)
                published += 1
    return published


# ---------------------------------------------------------------------------------------------------------
# Deployments in progress and lazy details


def refresh_active_deployments(*, account: Account, client: AppConfigClient | None = None) -> SyncRun | None:
    """GetDeployment for each cached deployment still in progress on the account (one per environment at
    most, as AppConfig allows one at a time), so live pages move between full passes."""
    active = list(
        Deployment.objects.filter(
            state__in=ACTIVE_STATES,
            environment__application__account=account,
            environment__deleted_at__isnull=True,
        ).select_related("environment__application")
    )
    if not active:
        return None
    client = client or client_for(account)
    with _Run(scope=SyncRun.Scope.ACTIVE, client=client, account=account) as run:
        run.counts.add(_refresh(active, client))
    return run.record


def _absorb(deployment: Deployment, answer: dict, known_events: int, now) -> bool:
    """Apply a GetDeployment answer to the row; True when it holds anything new (fields, events, or the
    first full answer for this row), in which case the caller must store the row and its events."""
    fields_changed = _apply_deployment(deployment, answer)
    new_events = len(answer.get("EventLog", [])) > known_events
    first_time = deployment.details_fetched_at is None or bool(deployment.details_error)
    if deployment.pk is None or fields_changed or new_events or first_time:
        deployment.details_fetched_at = now
        deployment.details_error = ""
        return True
    return False


def _read_details(
    deployments: list[Deployment], client: AppConfigClient, now
) -> tuple[list[Deployment], list[tuple[Deployment, dict]]]:
    """GetDeployment for each; returns the existing rows that changed, and (row, answer) pairs whose events
    must be stored. A row whose answer holds nothing new is left out, so an unchanged poll stays 204."""
    known = _known_event_counts(deployments)
    changed, details = [], []
    for deployment in deployments:
        environment = deployment.environment
        answer = client.get_deployment(
            environment.application.application_id, environment.environment_id, deployment.deployment_number
        )
        if _absorb(deployment, answer, known.get(deployment.pk, 0), now):
            details.append((deployment, answer))
            if deployment.pk is not None:
                changed.append(deployment)
    return changed, details


def deployment_store_answer(*, deployment: Deployment, answer: dict) -> bool:
    """Store a GetDeployment answer read elsewhere (the stop flow) exactly as sync would; True if anything
    was written."""
    now = timezone.now()
    known = _known_event_counts([deployment]).get(deployment.pk, 0)
    if not _absorb(deployment, answer, known, now):
        return False
    _store_deployments(new=[], changed=[deployment], details=[(deployment, answer)], now=now)
    return True


def _refresh(deployments: list[Deployment], client: AppConfigClient) -> SyncCounts:
    now = timezone.now()
    changed, details = _read_details(deployments, client, now)
    if not changed:
        return SyncCounts()
    return _store_deployments(new=[], changed=changed, details=details, now=now)


def deployment_fetch_details(*, deployment: Deployment, client: AppConfigClient | None = None) -> Deployment:
    """The lazy fetch: GetDeployment for one deployment (typically an old terminal one first opened in the
    console) and store its full shape and EventLog. A refusal from AppConfig is stored on the row so the page
    can say why, then re-raised."""
    environment = deployment.environment
    account = environment.application.account
    client = client or client_for(account)
    try:
        _refresh([deployment], client)
    except AppConfigError as exc:
        Deployment.objects.filter(pk=deployment.pk).update(details_error=str(exc), version=F("version") + 1)
        raise
    deployment.refresh_from_db()
    return deployment


def accounts_to_sync(name: str | None = None) -> list[Account]:
    accounts = Account.objects.filter(enabled=True)
    if name is not None:
        accounts = accounts.filter(name=name)
    return list(accounts)


def sync_environment(*, environment: Environment, client: AppConfigClient | None = None) -> SyncRun:
    """One environment, with its own sync run record: the operator's "Sync now" and the read commands."""
    application = environment.application
    client = client or client_for(application.account)
    with _Run(
        scope=SyncRun.Scope.ENVIRONMENT,
        client=client,
        account=application.account,
        application=application,
        environment=environment,
    ) as run:
        run.counts.add(_sync_environment(environment=environment, client=client))
    return run.record
