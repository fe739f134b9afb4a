"""The one way to write the audit trail: `record()`, and the refusal helpers built on it.

Call `record()` inside the transaction of the change it describes: the event and the change commit or roll
back together. It opens a transaction (or a savepoint) itself when there is none, so it never writes an
event outside one.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from audit import chain
from audit.middleware import current_request, request_id_for
from audit.models import Action, AuditEvent, Outcome, Source
from portal import http
from portal.commands import os_user

# pg_advisory_xact_lock key that serialises appends on PostgreSQL ("audit" in ASCII). Held until the
# caller's transaction ends, so two writers can never read the same last hash.
CHAIN_LOCK_KEY = 0x6175646974

SYSTEM_ACTOR = "system"
ANONYMOUS_ACTOR = "anonymous"
DETAILS_MAX_BYTES = 4096
REASON_MAX_CHARS = 4000
ATTEMPTED_MAX_CHARS = 200


def _text(value: Any, limit: int) -> str:
    """Bounded text PostgreSQL can store (no NUL) and UTF-8 can encode (no lone surrogates)."""
    text = "" if value is None else str(value)
    text = text.replace("\x00", "\ufffd")[:limit]
    return text.encode("utf-8", "replace").decode("utf-8")


def _number(value: Any) -> int | None:
    # Hashed as a JSON number and stored in an integer column: "7" must become 7 before either happens.
    return None if value in (None, "") else int(value)


def _details(details: Mapping[str, Any] | None) -> str:
    """Canonical JSON of `details`, at most DETAILS_MAX_BYTES: larger objects keep a truncated preview, so a
    caller's mistake costs detail, never the event."""
    if not details:
        return "{}"
    try:
        text = chain.canonical_json(json.loads(json.dumps(dict(details), default=str)))
    except ValueError:  # NaN or infinity: not JSON
        text = chain.canonical_json({"unserialisable": _text(repr(dict(details)), DETAILS_MAX_BYTES // 2)})
    if len(text.encode()) <= DETAILS_MAX_BYTES:
        return text
    return chain.canonical_json({"truncated": True, "preview": _text(text, DETAILS_MAX_BYTES // 2)})


@lru_cache(maxsize=8)
def _trusted_networks(proxies: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _address(value: str):
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """The client's address. X-Forwarded-For is believed only when REMOTE_ADDR is one of TRUSTED_PROXIES;
    then the right-most address that is not itself a trusted proxy is the client (each proxy appends the
    address it received from, so everything left of that may be written by the client)."""
    trusted = _trusted_networks(tuple(settings.TRUSTED_PROXIES))
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    if remote is None:
        return ""

    def is_trusted(address) -> bool:
        return any(address in network for network in trusted)

    client = remote
    if is_trusted(remote):
        hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                # Garbage is never written by a proxy we trust: stop at the last address we could believe.
                break
            client = address
            if not is_trusted(address):
                break
    return str(client)[:45]


def _target(target: Any) -> dict[str, Any]:
    """The ids and label an event is filed under: a mapping as given, or the object's `audit_target()`
    (Application, Environment, Deployment and StopRequest have one), so this module knows no other app."""
    if target is None:
        return {}
    if isinstance(target, Mapping):
        return dict(target)
    if hasattr(target, "audit_target"):
        return target.audit_target()
    raise TypeError(
        f"cannot audit a target of type {type(target).__name__}: give it an audit_target() method"
    )


def _actor(actor: AbstractBaseUser | None, request: HttpRequest | None) -> tuple[int | None, str]:
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            actor = user
        else:
            return None, ANONYMOUS_ACTOR
    if actor is None:
        return None, SYSTEM_ACTOR
    return actor.pk, _text(actor.get_username(), 150)


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
    # SQLite: the project opens every transaction with BEGIN IMMEDIATE (settings: transaction_mode), which
    # takes the database's single write lock before the last hash is read; writers are serialised already.


def record(
    *,
    action: str,
    outcome: str = Outcome.SUCCESS,
    actor: AbstractBaseUser | None = None,
    request: HttpRequest | None = None,
    target: Any = None,
    reason: str = "",
    details: Mapping[str, Any] | None = None,
    source: str = Source.WEB,
) -> AuditEvent:
    """Append one event to the audit trail and return it.

    1. Validate the action, outcome and source against their fixed vocabularies (ValueError otherwise).
    2. Resolve the actor (the given user; else the request's authenticated user; else anonymous for a
       request, the system actor without one), the target's ids and label, and the request's client address
       (TRUSTED_PROXIES), user agent and request id. Without a request, the request being served (if any)
       supplies address, user agent and request id, but never the actor.
    3. In the caller's transaction (or a new one): take the chain lock, read the last event, and insert this
       one with the next sequence, the last hash as prev_hash, and its own hash.
    """
    if action not in Action.values:
        raise ValueError(f"unknown audit action {action!r}")
    if outcome not in Outcome.values:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    if source not in Source.values:
        raise ValueError(f"unknown audit source {source!r}")

    actor_id, actor_username = _actor(actor, request)
    seen = request if request is not None else current_request.get()
    target_fields = _target(target)
    fields: dict[str, Any] = {
        "action": str(action),
        "outcome": str(outcome),
        "source": str(source),
        "actor_id": actor_id,
        "actor_username": actor_username,
        "application_id": _text(target_fields.get("application_id"), 64),
        "environment_id": _text(target_fields.get("environment_id"), 64),
        "deployment_number": _number(target_fields.get("deployment_number")),
        "stop_request_id": _number(target_fields.get("stop_request_id")),
        "target_label": _text(target_fields.get("label"), 255),
        "ip": client_ip(seen) if seen is not None else "",
        "user_agent": _text(seen.META.get("HTTP_USER_AGENT"), 512) if seen is not None else "",
        "request_id": _text(_request_id(seen), 64) if seen is not None else "",
        "reason": _text(reason, REASON_MAX_CHARS),
        # A command has no console user behind it: say which operating-system user ran it.
        "details": _details(
            {**(details or {}), "os_user": os_user()} if source == Source.COMMAND else details
        ),
    }
    with transaction.atomic():
        _lock_chain()
        last = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash", "occurred_at").first()
        sequence, prev_hash = (last[0] + 1, last[1]) if last else (1, chain.GENESIS)
        # Taken under the lock, and never earlier than the previous event (a server whose clock is behind
        # records the previous event's time): time order is chain order, so a time range is an id range.
        occurred_at = max(timezone.now(), last[2]) if last else timezone.now()
        fields["sequence"] = sequence
        fields["occurred_at"] = chain.timestamp(occurred_at)
        digest = chain.event_hash(prev_hash, fields)
        event = AuditEvent(**{**fields, "occurred_at": occurred_at}, prev_hash=prev_hash, hash=digest)
        event.save(force_insert=True)
    return event


def _request_id(request: HttpRequest) -> str:
    # Set by RequestIdMiddleware; a request built elsewhere (tests, a RequestFactory) gets one here.
    if not getattr(request, "request_id", ""):
        request.request_id = request_id_for(request)
    return request.request_id


def denied(
    request: HttpRequest,
    *,
    permission: str,
    target: Any = None,
    attempted: str,
    reason: str = "",
    source: str = Source.WEB,
) -> AuditEvent:
    """Record a refused attempt (`access.denied`, outcome denied): who, what they attempted, the permission
    they lacked, the method and path."""
    return record(
        action=Action.ACCESS_DENIED,
        outcome=Outcome.DENIED,
        request=request,
        target=target,
        reason=reason,
        details={
            "attempted": _text(attempted, ATTEMPTED_MAX_CHARS),
            "permission": permission,
            "method": request.method,
            "path": _text(request.get_full_path(), 500),
        },
        source=source,
    )


def forbidden(
    request: HttpRequest,
    *,
    permission: str,
    target: Any = None,
    attempted: str = "",
    reason: str = "",
) -> HttpResponse:
    """Record the refusal (see `denied`) and answer 403 with the console's 403 page. What views return when a
    user may see something but not do it."""
    denied(
        request,
        permission=permission,
        target=target,
        attempted=attempted or f"{request.method} {request.path}",
        reason=reason,
    )
    return http.forbidden(request)
