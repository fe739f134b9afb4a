"""Single sign-on (portal/sso.py) against the real mock provider over HTTP: sign-in, just-in-time users,
roles from groups, the "no access" page, every refused token and callback, sign-out. Each security check
has a test that fails without it."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from audit.models import AuditEvent
from deployments.models import GrantSource, Role, RoleGrant
from deployments.roles import role_grant
from portal import authn
from portal.models import SingleSignOnIdentity
from portal.sso import ConsoleOIDCBackend
from tests.factories import ApplicationFactory
from tests.sso_helpers import CLIENT_ID, authorize, now, set_identity, sso_sign_in

pytestmark = pytest.mark.django_db
User = get_user_model()


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


def _grants(user) -> set[tuple[str, str | None, str, str]]:
    return {
        (g.group.name, g.application.name if g.application else None, g.source, g.idp_group)
        for g in RoleGrant.objects.filter(user=user).select_related("group", "application")
    }


def _failure(client) -> dict:
    event = AuditEvent.objects.filter(action="auth.login_failed").latest("sequence")
    return json.loads(event.details)


def test_it_signs_in_through_the_provider_creating_the_user_with_roles_from_groups(
    client, sso_settings, idp_url
):
    set_identity(idp_url, "u-alice", preferred_username="alice", groups=["appconfig-operators", "other"])
    client.get(reverse("login"))
    anonymous_key = client.session.session_key

    response = sso_sign_in(client, "u-alice")

    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    alice = User.objects.get(username="alice")
    assert not alice.has_usable_password()
    assert SingleSignOnIdentity.objects.get(user=alice).subject == "u-alice"
    assert _grants(alice) == {("operator", None, GrantSource.SSO, "appconfig-operators")}
    assert client.get("/").status_code == 200
    # Session fixation: a new session key at sign-in.
    assert client.session.session_key != anonymous_key
    assert client.session[authn.AUTH_METHOD_KEY] == "sso"
    login = _events("auth.login")[-1]
    assert login.actor_username == "alice" and json.loads(login.details)["method"] == "sso"
    granted = _events("role.granted")[-1]
    assert granted.source == "sso"
    assert (
        json.loads(granted.details).items()
        >= {"grant_source": "sso", "idp_group": "appconfig-operators"}.items()
    )


def test_it_sends_pkce_state_and_nonce_and_the_verifier_with_the_code(
    client, sso_settings, idp_url, monkeypatch
):
    set_identity(idp_url, "u-pkce", groups=["appconfig-viewers"])
    sent = {}
    original = ConsoleOIDCBackend.get_token

    def spy(self, payload):
        sent.update(payload)
        return original(self, payload)

    monkeypatch.setattr(ConsoleOIDCBackend, "get_token", spy)
    callback, params = authorize(client, "/accounts/sso/", "u-pkce")
    assert params["code_challenge_method"] == "S256" and params["state"] and params["nonce"]
    assert params["client_id"] == CLIENT_ID and "openid" in params["scope"].split()

    assert client.get(callback).status_code == 302
    digest = hashlib.sha256(sent["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == params["code_challenge"]


def test_it_reconciles_grants_with_groups_at_every_sign_on_leaving_hand_made_grants(
    client, sso_settings, idp_url
):
    payments = ApplicationFactory(name="payments", application_id="pay1234")
    set_identity(idp_url, "u-bob", preferred_username="bob", groups=["appconfig-viewers"])
    sso_sign_in(client, "u-bob")
    bob = User.objects.get(username="bob")
    role_grant(user=bob, role=Role.AUDITOR, via="command")  # by hand

    set_identity(idp_url, "u-bob", preferred_username="bob", groups=["appconfig-approvers-payments"])
    client.logout()
    sso_sign_in(client, "u-bob")

    assert _grants(bob) == {
        ("approver", "payments", GrantSource.SSO, "appconfig-approvers-payments"),
        ("auditor", None, GrantSource.MANUAL, ""),
    }
    revoked = _events("role.revoked")
    assert len(revoked) == 1 and revoked[0].source == "sso"
    assert json.loads(revoked[0].details)["idp_group"] == "appconfig-viewers"
    granted = _events("role.granted")[-1]
    assert granted.application_id == payments.application_id and granted.source == "sso"


def test_it_leaves_a_grant_held_by_hand_when_a_group_asks_for_the_same(client, sso_settings, idp_url):
    set_identity(idp_url, "u-carol", preferred_username="carol", groups=["appconfig-viewers"])
    sso_sign_in(client, "u-carol")
    carol = User.objects.get(username="carol")
    RoleGrant.objects.filter(user=carol).update(source=GrantSource.MANUAL, idp_group="")

    set_identity(idp_url, "u-carol", preferred_username="carol", groups=["appconfig-operators"])
    client.logout()
    sso_sign_in(client, "u-carol")

    assert _grants(carol) == {
        ("viewer", None, GrantSource.MANUAL, ""),
        ("operator", None, GrantSource.SSO, "appconfig-operators"),
    }


def test_it_shows_no_access_to_an_identity_without_a_mapped_group(client, sso_settings, idp_url):
    set_identity(idp_url, "u-dave", preferred_username="dave", groups=["staff"])

    response = sso_sign_in(client, "u-dave")

    assert response.status_code == 403
    assert b"No access to this console" in response.content and b"staff" in response.content
    assert not User.objects.filter(username="dave").exists()
    assert "_auth_user_id" not in client.session
    event = _events("auth.no_access")[-1]
    assert event.outcome == "denied" and json.loads(event.details)["groups"] == ["staff"]


def test_it_revokes_and_refuses_a_returning_user_whose_groups_are_gone(client, sso_settings, idp_url):
    set_identity(idp_url, "u-erin", preferred_username="erin", groups=["appconfig-viewers"])
    sso_sign_in(client, "u-erin")
    client.logout()
    set_identity(idp_url, "u-erin", preferred_username="erin", groups=[])

    response = sso_sign_in(client, "u-erin")

    assert response.status_code == 403
    assert not RoleGrant.objects.filter(user__username="erin").exists()
    assert _events("role.revoked")[-1].source == "sso"
    assert _events("auth.no_access")[-1].actor_username == "erin"


def test_it_does_not_let_the_provider_take_over_a_local_account(client, sso_settings, idp_url, make_user):
    make_user(None, username="admin", is_superuser=True)
    set_identity(idp_url, "u-mallory", preferred_username="admin", groups=["appconfig-viewers"])

    response = sso_sign_in(client, "u-mallory")

    assert response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session
    assert "already a console user" in _failure(client)["why"]


def test_it_refuses_a_tampered_id_token(client, sso_settings, idp_url, monkeypatch):
    set_identity(idp_url, "u-tamper", groups=["appconfig-viewers"])
    original = ConsoleOIDCBackend.get_token

    def tamper(self, payload):
        answer = original(self, payload)
        header, body, signature = answer["id_token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        claims["groups"] = ["appconfig-approvers"]
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return {**answer, "id_token": f"{header}.{forged}.{signature}"}

    monkeypatch.setattr(ConsoleOIDCBackend, "get_token", tamper)
    response = sso_sign_in(client, "u-tamper")

    assert response["Location"] == reverse("login") and "_auth_user_id" not in client.session
    assert (
        _failure(client).items()
        >= {"method": "sso", "why": "the ID token's signature does not verify"}.items()
    )
    assert not User.objects.filter(username="u-tamper").exists()


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"exp": 1_000_000_000}, "the ID token has expired"),
        ({"aud": "someone-else"}, "the ID token is for another client (aud)"),
        ({"iss": "https://evil.example"}, "the ID token comes from another issuer (iss)"),
    ],
)
def test_it_refuses_an_expired_or_misaddressed_id_token(client, sso_settings, idp_url, claims, why):
    # Signed by the provider itself: only the claim is wrong.
    set_identity(idp_url, "u-claims", groups=["appconfig-viewers"], **claims)

    response = sso_sign_in(client, "u-claims")

    assert response["Location"] == reverse("login") and "_auth_user_id" not in client.session
    assert _failure(client)["why"] == why


def test_it_refuses_the_nonce_of_another_sign_in(client, sso_settings, idp_url):
    set_identity(idp_url, "u-nonce", groups=["appconfig-viewers"])
    first_callback, first = authorize(client, "/accounts/sso/", "u-nonce")
    second_callback, second = authorize(client, "/accounts/sso/", "u-nonce")
    # The second sign-in's code (its ID token carries the second nonce) with the first sign-in's state.
    code = second_callback.split("code=")[1].split("&")[0]
    mixed = f"/accounts/sso/callback/?code={code}&state={first['state']}"

    response = client.get(mixed)

    assert response["Location"] == reverse("login") and "_auth_user_id" not in client.session
    assert _failure(client)["why"] == "JWT Nonce verification failed."


def test_it_refuses_a_replayed_callback_and_one_this_browser_did_not_start(client, sso_settings, idp_url):
    set_identity(idp_url, "u-replay", groups=["appconfig-viewers"])
    callback, _ = authorize(client, "/accounts/sso/", "u-replay")
    assert client.get(callback).status_code == 302
    client.logout()

    replayed = client.get(callback)

    assert replayed["Location"] == reverse("login") and "_auth_user_id" not in client.session
    assert _failure(client)["why"].startswith("unknown or already used state")
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 1


def test_it_counts_failed_callbacks_towards_the_address_lockout(client, sso_settings, idp_url, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        client.get("/accounts/sso/callback/?code=x&state=forged")
    set_identity(idp_url, "u-locked", groups=["appconfig-viewers"])

    response = sso_sign_in(client, "u-locked")

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert _events("auth.locked_out")


def test_it_follows_only_a_safe_next_after_sign_in(client, sso_settings, idp_url):
    set_identity(idp_url, "u-next", groups=["appconfig-viewers"])
    assert sso_sign_in(client, "u-next", start_url="/accounts/sso/?next=/applications/")["Location"] == (
        "/applications/"
    )
    client.logout()
    response = sso_sign_in(client, "u-next", start_url="/accounts/sso/?next=https://evil.example/")
    assert response["Location"] == reverse("dashboard")


def test_it_offers_rp_initiated_logout_after_signing_out(client, sso_settings, idp_url):
    set_identity(idp_url, "u-out", groups=["appconfig-viewers"])
    sso_sign_in(client, "u-out")
    id_token = client.session["oidc_id_token"]

    response = client.post(reverse("logout"))

    assert response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session
    page = client.get(reverse("login")).content.decode()
    assert f"{idp_url}/oauth2/end_session?" in page and id_token in page
    assert _events("auth.logout")[-1].actor_username == "u-out"
    assert f"{idp_url}/oauth2/end_session?" not in client.get(reverse("login")).content.decode()


def test_it_shows_what_sign_in_is_enabled(client, sso_settings, settings, viewer):
    page = client.get(reverse("login")).content.decode()
    assert "Sign in with the test provider" in page and 'name="password"' in page

    settings.LOCAL_LOGIN = False
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "portal.sso.ConsoleOIDCBackend",
    ]
    page = client.get(reverse("login")).content.decode()
    assert "Sign in with the test provider" in page and 'name="password"' not in page
    refused = client.post(
        reverse("login"), {"username": "viewer", "password": "correct horse battery staple"}
    )
    assert refused.status_code == 403 and "_auth_user_id" not in client.session


def test_it_signs_in_with_a_password_only_without_sso(client, viewer):
    page = client.get(reverse("login")).content.decode()
    assert "Sign in with" not in page and 'name="password"' in page
    assert client.get("/accounts/sso/").status_code == 404


def test_it_stores_the_provider_auth_time_for_step_up(client, sso_settings, idp_url):
    set_identity(idp_url, "u-time", groups=["appconfig-viewers"], auth_time=now() - 1000)
    sso_sign_in(client, "u-time")
    assert now() - 1000 - 5 <= client.session[authn.AUTH_TIME_KEY] <= now() - 1000
