"""Receivers of Django's auth signals (connected in AuditConfig.ready): one event per login, failed login
and logout. A failed login records the username that was tried (bounded), never the password."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from audit.models import Action, Outcome, Source
from audit.records import record

USERNAME_MAX_CHARS = 150


def _source(request) -> str:
    path = getattr(request, "path", "") or ""
    return Source.ADMIN if path.startswith("/admin/") else Source.WEB


def login(sender, request, user, **kwargs: Any) -> None:
    record(action=Action.AUTH_LOGIN, actor=user, request=request, source=_source(request))


def logout(sender, request, user, **kwargs: Any) -> None:
    if user is None:  # logging out without being logged in changes nothing
        return
    record(action=Action.AUTH_LOGOUT, actor=user, request=request, source=_source(request))


def login_failed(sender, credentials: dict, request=None, **kwargs: Any) -> None:
    # `credentials` has passwords and other secrets already masked by Django; only the username is kept.
    field = get_user_model().USERNAME_FIELD
    attempted = str(credentials.get(field) or credentials.get("username") or "")[:USERNAME_MAX_CHARS]
    record(
        action=Action.AUTH_LOGIN_FAILED,
        outcome=Outcome.FAILED,
        request=request,
        target={"label": attempted},
        details={"username": attempted},
        source=_source(request),
    )
