"""The AWS boundary: the only module that imports boto3.

One client per Account (its region, endpoint and role), retry mode `standard` with bounded attempts, connect
and read timeouts, and botocore's errors translated into the project's own exceptions so callers decide on
"retry later" (TransientAppConfigError) versus "give up and say why" (PermanentAppConfigError) without
knowing botocore. Every HTTP attempt, retries included, is counted on the client (`api_calls`), so sync runs
can record what they cost, and so is every throttling answer (`throttles`).

Every HTTP attempt first takes a token from the Account's budget (`Account.api_rate_limit` calls a second),
shared by all worker processes through Redis (`portal.ratelimit`). Calls made inside `background_calls()`
(full sync passes) leave a reserve of that budget to the others: stops, the refresh of live deployments and
detail fetches. A throttling answer that gets through anyway is retried inside the call, with backoff, for up
to APPCONFIG_THROTTLE_RETRY_SECONDS: the budget allows progress, so it is not a failure.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
import botocore.exceptions
import botocore.parsers
import botocore.session
import botocore.utils
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from django.conf import settings

from portal.ratelimit import Budget, RateLimitTimeout, SharedRateLimiter

if TYPE_CHECKING:
    from deployments.models import Account

logger = logging.getLogger(__name__)

PAGE_SIZE = 50  # AppConfig's maximum for every List* call.
# AppConfig's limit on a hosted configuration version: anything larger is not what AppConfig stores.
HOSTED_CONTENT_MAX_BYTES = 2 * 1024 * 1024

_THROTTLING_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}

_TRANSIENT_CODES = _THROTTLING_CODES | {
    "InternalServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
}


class AppConfigError(Exception):
    """Anything that went wrong talking to AppConfig; `str()` is a sentence a person can read."""

    def __init__(self, message: str, *, code: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class TransientAppConfigError(AppConfigError):
    """Throttling, 5xx, connection trouble: worth retrying later (botocore already retried a few times)."""


class OutcomeUnknownError(TransientAppConfigError):
    """The request may or may not have been applied (a read timeout, a dropped connection): a caller of a
    non-idempotent operation must reconcile by reading state before trying again."""


class PermanentAppConfigError(AppConfigError):
    """Access denied, bad request, unknown resource, a malformed answer: retrying will not help."""


class NotFoundError(PermanentAppConfigError):
    pass


class BadRequestError(PermanentAppConfigError):
    pass


def _translate(exc: Exception, operation: str) -> AppConfigError:
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        message = error.get("Message") or str(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        text = f"{operation}: {code or 'error'}: {message}"
        if code in _TRANSIENT_CODES or (status is not None and status >= 500) or status == 429:
            return TransientAppConfigError(text, code=code, status=status)
        if code == "ResourceNotFoundException" or status == 404:
            return NotFoundError(text, code=code, status=status)
        if code == "BadRequestException":
            return BadRequestError(text, code=code, status=status)
        return PermanentAppConfigError(text, code=code, status=status)
    if isinstance(exc, botocore.exceptions.ReadTimeoutError | botocore.exceptions.ConnectionClosedError):
        return OutcomeUnknownError(f"{operation}: no answer from AppConfig ({exc})", code="Timeout")
    if isinstance(exc, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError):
        return TransientAppConfigError(
            f"{operation}: AppConfig endpoint unreachable ({exc})", code="Unreachable"
        )
    if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return PermanentAppConfigError(
            f"{operation}: no AWS credentials configured ({exc})", code="NoCredentials"
        )
    if isinstance(exc, botocore.parsers.ResponseParserError):
        return PermanentAppConfigError(
            f"{operation}: malformed answer from AppConfig ({exc})", code="Malformed"
        )
    if isinstance(exc, botocore.exceptions.ParamValidationError):
        return BadRequestError(f"{operation}: {exc}", code="ParamValidation")
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return TransientAppConfigError(f"{operation}: {exc}", code=type(exc).__name__)
    raise exc


@dataclass(frozen=True)
class _ClientKey:
    account_pk: int | None
    region: str
    endpoint_url: str
    role_arn: str
    rate_limit: float


_background = contextvars.ContextVar("appconfig_background_calls", default=False)


@contextlib.contextmanager
def background_calls() -> Iterator[None]:
    """AppConfig calls made inside this block (a full sync pass) leave the budget's reserve to urgent work."""
    reset = _background.set(True)
    try:
        yield
    finally:
        _background.reset(reset)


_limiter = SharedRateLimiter(lambda: settings.REDIS_URL)


class AppConfigClient:
    """A thin wrapper over boto3's appconfig client with the project's errors, the account's shared API
    budget (`budget`; None: unlimited) and counters of calls and throttling answers."""

    def __init__(self, boto_client: Any, sts_client: Any = None, *, budget: Budget | None = None) -> None:
        self._client = boto_client
        # Built lazily from the same session (credentials, role, region, endpoint): most clients never ask.
        self._sts_client = sts_client
        self._local = threading.local()
        self.budget = budget
        # before-send: once per HTTP attempt, retries included, which is what AWS meters and throttles.
        boto_client.meta.events.register("before-send.appconfig", self._before_send)
        boto_client.meta.events.register("needs-retry.appconfig", self._count_throttle)

    def _before_send(self, **kwargs: Any) -> None:
        if self.budget is not None:
            _limiter.acquire(
                self.budget, urgent=not _background.get(), timeout=settings.APPCONFIG_RATE_LIMIT_MAX_WAIT
            )
        self._local.calls = getattr(self._local, "calls", 0) + 1

    def _count_throttle(self, response: Any = None, **kwargs: Any) -> None:
        # Every attempt's answer passes here (botocore's own retry handler decides; this one only counts).
        if response is not None and response[0].status_code == 429:
            self._local.throttles = getattr(self._local, "throttles", 0) + 1

    @property
    def api_calls(self) -> int:
        """HTTP requests sent by this thread through this client, retries included."""
        return getattr(self._local, "calls", 0)

    @property
    def throttles(self) -> int:
        """Throttling answers (429) this thread received through this client, retried or not."""
        return getattr(self._local, "throttles", 0)

    def _call(self, operation: str, **params: Any) -> dict:
        """One operation. Throttling that outlasts botocore's own attempts is waited out here, with
        exponential backoff, for up to APPCONFIG_THROTTLE_RETRY_SECONDS: a 429 means AppConfig did not apply
        the request, so repeating it is safe even for StopDeployment."""
        method = getattr(self._client, _snake(operation))
        deadline = time.monotonic() + settings.APPCONFIG_THROTTLE_RETRY_SECONDS
        attempt = 0
        while True:
            try:
                response = method(**params)
                break
            except RateLimitTimeout as exc:
                raise TransientAppConfigError(f"{operation}: {exc}", code="RateLimited") from exc
            except Exception as exc:
                error = _translate(exc, operation)
                if not _is_throttling(error):
                    raise error from exc
                pause = random.uniform(0, min(5.0, 0.25 * 2**attempt))  # noqa: S311 - jitter, not security
                if time.monotonic() + pause > deadline:
                    raise error from exc
                logger.info("%s throttled; retrying in %.2f s", operation, pause)
                time.sleep(pause)
                attempt += 1
        response.pop("ResponseMetadata", None)
        _check_shape(operation, response)
        return response

    def list_applications(self, next_token: str | None = None) -> dict:
        return self._call("ListApplications", **_page_params(next_token))

    def list_environments(self, application_id: str, next_token: str | None = None) -> dict:
        return self._call("ListEnvironments", ApplicationId=application_id, **_page_params(next_token))

    def list_deployments(
        self, application_id: str, environment_id: str, next_token: str | None = None
    ) -> dict:
        return self._call(
            "ListDeployments",
            ApplicationId=application_id,
            EnvironmentId=environment_id,
            **_page_params(next_token),
        )

    def get_deployment(self, application_id: str, environment_id: str, deployment_number: int) -> dict:
        return self._call(
            "GetDeployment",
            ApplicationId=application_id,
            EnvironmentId=environment_id,
            DeploymentNumber=deployment_number,
        )

    def stop_deployment(
        self, application_id: str, environment_id: str, deployment_number: int, *, allow_revert: bool = False
    ) -> dict:
        params: dict[str, Any] = {
            "ApplicationId": application_id,
            "EnvironmentId": environment_id,
            "DeploymentNumber": deployment_number,
        }
        if allow_revert:
            params["AllowRevert"] = True
        return self._call("StopDeployment", **params)

    def get_configuration_profile(self, application_id: str, profile_id: str) -> dict:
        return self._call(
            "GetConfigurationProfile", ApplicationId=application_id, ConfigurationProfileId=profile_id
        )

    def get_hosted_configuration_version(
        self, application_id: str, profile_id: str, version_number: int
    ) -> dict:
        """The version's metadata, with `Content` read into bytes: at most HOSTED_CONTENT_MAX_BYTES are
        read, and a larger body is refused (PermanentAppConfigError) rather than held in memory."""
        response = self._call(
            "GetHostedConfigurationVersion",
            ApplicationId=application_id,
            ConfigurationProfileId=profile_id,
            VersionNumber=version_number,
        )
        body = response.get("Content")
        try:
            content = body.read(HOSTED_CONTENT_MAX_BYTES + 1) if body is not None else b""
        except Exception as exc:
            raise _translate(exc, "GetHostedConfigurationVersion") from exc
        finally:
            if body is not None:
                body.close()
        if len(content) > HOSTED_CONTENT_MAX_BYTES:
            raise PermanentAppConfigError(
                "GetHostedConfigurationVersion: the content is larger than AppConfig's 2 MB limit",
                code="TooLarge",
            )
        response["Content"] = content
        return response

    def caller_identity(self) -> dict:
        """STS GetCallerIdentity with the account's credentials ({"Account", "Arn", "UserId"}): which AWS
        account this client reaches. Not counted in `api_calls` (not an AppConfig call)."""
        client = self._sts_client() if callable(self._sts_client) else self._sts_client
        if client is None:
            raise PermanentAppConfigError("GetCallerIdentity: no STS client configured", code="NoSts")
        try:
            response = client.get_caller_identity()
        except Exception as exc:
            raise _translate(exc, "GetCallerIdentity") from exc
        response.pop("ResponseMetadata", None)
        if not isinstance(response.get("Account"), str):
            raise PermanentAppConfigError(
                "GetCallerIdentity: malformed answer from STS (no Account)", code="Malformed"
            )
        return response

    def iter_applications(self) -> Iterator[dict]:
        yield from self._iter_pages(self.list_applications)

    def iter_environments(self, application_id: str) -> Iterator[dict]:
        yield from self._iter_pages(lambda token: self.list_environments(application_id, token))

    @staticmethod
    def _iter_pages(fetch) -> Iterator[dict]:
        token = None
        while True:
            page = fetch(token)
            yield from page.get("Items", [])
            token = page.get("NextToken")
            if not token:
                return


# What every answer of these operations carries. botocore turns a body that is not JSON into an almost
# empty dict instead of an error; taking that at face value would read as "no applications" and soft-delete
# the whole cache, so a missing member is a malformed answer.
_REQUIRED_MEMBERS = {
    "ListApplications": ("Items", list),
    "ListEnvironments": ("Items", list),
    "ListDeployments": ("Items", list),
    "GetDeployment": ("State", str),
    "GetConfigurationProfile": ("Id", str),
    "GetHostedConfigurationVersion": ("VersionNumber", int),
}


def _is_throttling(error: AppConfigError) -> bool:
    return error.code in _THROTTLING_CODES or error.status == 429


def _check_shape(operation: str, response: dict) -> None:
    member, kind = _REQUIRED_MEMBERS.get(operation, (None, None))
    if member is not None and not isinstance(response.get(member), kind):
        raise PermanentAppConfigError(
            f"{operation}: malformed answer from AppConfig (no {member})", code="Malformed"
        )


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def _page_params(next_token: str | None) -> dict:
    params: dict[str, Any] = {"MaxResults": PAGE_SIZE}
    if next_token:
        params["NextToken"] = next_token
    return params


_clients: dict[_ClientKey, AppConfigClient] = {}
_clients_lock = threading.Lock()


def client_for(account: Account) -> AppConfigClient:
    """The (cached, thread-safe) client for an account. boto3 clients are thread-safe once built; building
    one is not cheap, so each worker process keeps one per account configuration."""
    key = _ClientKey(
        account_pk=account.pk,
        region=account.region or settings.AWS_REGION,
        endpoint_url=account.endpoint_url or settings.AWS_ENDPOINT_URL_APPCONFIG,
        role_arn=account.role_arn,
        rate_limit=account.api_rate_limit,
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            session, config = _build_session(key)
            client = _clients[key] = AppConfigClient(
                session.client("appconfig", endpoint_url=key.endpoint_url or None, config=config),
                functools.cache(lambda: _build_sts_client(session, key, config)),
                budget=_budget(key),
            )
        return client


def _budget(key: _ClientKey) -> Budget | None:
    if not key.rate_limit or key.account_pk is None:
        return None  # 0: no limit (an emulator without one, a benchmark of sync itself)
    return Budget.of(
        f"appconfig-budget:{key.account_pk}",
        rate=key.rate_limit,
        reserve_fraction=settings.APPCONFIG_RATE_LIMIT_RESERVE,
    )


def forget_clients() -> None:
    """Drop cached clients (tests that point one account at a new emulator; credentials rotation)."""
    with _clients_lock:
        _clients.clear()


def _build_session(key: _ClientKey) -> tuple[Any, Config]:
    config = Config(
        region_name=key.region,
        connect_timeout=settings.APPCONFIG_CONNECT_TIMEOUT,
        read_timeout=settings.APPCONFIG_READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": settings.APPCONFIG_MAX_ATTEMPTS},
        max_pool_connections=20,
    )
    base = botocore.session.get_session()
    base.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
    session = boto3.session.Session(botocore_session=base, region_name=key.region)
    if key.role_arn:
        _assume_role(base, key.role_arn)
    return session, config


def _build_sts_client(session: Any, key: _ClientKey, config: Config) -> Any:
    # An Account with its own endpoint is the emulator (or a test double), which answers STS at that same
    # address; against AWS, the regional STS endpoint (AWS_ENDPOINT_URL_STS still applies, as in boto3).
    return session.client("sts", endpoint_url=key.endpoint_url or None, config=config)


def parse_timestamp(value: Any) -> datetime:
    """The clients' timestamp parser. AppConfig's model declares its timestamps ISO 8601, which botocore's
    default parser reads through dateutil: about a third of a sync's time, spent on every StartedAt,
    CompletedAt and OccurredAt. The standard library reads them far faster; anything it does not take (an
    epoch number, an odd format) still goes to botocore's own parser."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return botocore.utils.parse_timestamp(value)


def _assume_role(base: Any, role_arn: str) -> None:
    # The same refreshing credentials boto3 builds for a profile with role_arn: assumed lazily, renewed
    # before they expire, so a long-lived worker never holds stale keys. `base`: the botocore session.
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=base.create_client,
        source_credentials=base.get_credentials(),
        role_arn=role_arn,
        extra_args={"RoleSessionName": "appconfig-console"},
    )
    base._credentials = DeferredRefreshableCredentials(
        method="assume-role", refresh_using=fetcher.fetch_credentials
    )
