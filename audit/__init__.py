"""The append-only, hash-chained audit trail.

Callers write `import audit` and then `audit.record(...)`, `audit.denied(...)` or `audit.forbidden(...)`
(see `audit.records`). These wrappers import the service on first call, so importing this package never
loads models before the app registry is ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseForbidden

    from audit.models import AuditEvent


def record(**kwargs: Any) -> AuditEvent:
    """Append one event; see `audit.records.record`."""
    from audit.records import record as _record

    return _record(**kwargs)


def denied(request: HttpRequest, **kwargs: Any) -> AuditEvent:
    """Record a refused attempt (access.denied); see `audit.records.denied`."""
    from audit.records import denied as _denied

    return _denied(request, **kwargs)


def forbidden(request: HttpRequest, **kwargs: Any) -> HttpResponseForbidden:
    """Record a refused attempt and answer 403; see `audit.records.forbidden`."""
    from audit.records import forbidden as _forbidden

    return _forbidden(request, **kwargs)
