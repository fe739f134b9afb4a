"""Single sign-on in tests: the demo identity provider (portal/mock_idp.py, oidc-provider-mock) in a thread,
the console configured for it, and a sign-in driven through both sides over HTTP."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from deployments import idp_groups
from portal import sso

CLIENT_ID = "appconfig-console-test"
GROUP_ROLES = """
appconfig-viewers: viewer
appconfig-operators: operator
appconfig-approvers: approver
appconfig-approvers-payments:
  - role: approver
    applications: [payments]
"""


@pytest.fixture(scope="session")
def idp_url():
    from portal.mock_idp import serve_in_thread

    with serve_in_thread(users=[]) as url:
        yield url


@pytest.fixture
def sso_settings(settings, idp_url, tmp_path):
    """The console configured for the provider, local passwords still on (both ways in)."""
    mapping = tmp_path / "group-roles.yaml"
    mapping.write_text(GROUP_ROLES)
    settings.OIDC_ISSUER = idp_url
    settings.OIDC_ENABLED = True
    settings.OIDC_CLIENT_ID = settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET = "test-secret"
    settings.OIDC_GROUP_ROLES_FILE = str(mapping)
    settings.OIDC_PROVIDER_NAME = "the test provider"
    settings.LOCAL_LOGIN = True
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "django.contrib.auth.backends.ModelBackend",
        "portal.sso.ConsoleOIDCBackend",
    ]
    idp_groups._cached.cache_clear()
    sso.forget_discovery()
    yield settings
    idp_groups._cached.cache_clear()
    sso.forget_discovery()


def set_identity(idp_url: str, sub: str, **claims) -> None:
    """The claims the provider puts in `sub`'s ID token (replacing any earlier ones)."""
    claims.setdefault("preferred_username", sub)
    response = requests.put(f"{idp_url}/users/{quote(sub, safe='')}", json=claims, timeout=5)
    assert response.status_code == 204, response.text


def authorize(client, start_url: str, sub: str) -> tuple[str, dict]:
    """Start a sign-in at the console, sign in as `sub` at the provider; returns the console callback path
    (with query) the provider redirects to, and the authorization request's parameters."""
    started = client.get(start_url)
    assert started.status_code == 302, started.content
    location = started["Location"]
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    answer = requests.post(location, data={"sub": sub}, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    callback = urlsplit(answer.headers["Location"])
    return f"{callback.path}?{callback.query}", params


def sso_sign_in(client, sub: str, *, start_url: str = "/accounts/sso/"):
    callback, _ = authorize(client, start_url, sub)
    return client.get(callback)


def now() -> int:
    return int(time.time())
