"""Single sign-on with OpenID Connect, through mozilla-django-oidc.

The library does the protocol: the authorization request with a one-time `state`, a `nonce` and a PKCE
S256 challenge, all three kept per sign-in in the session (`oidc_states`, at most OIDC_MAX_STATES); the
callback that accepts only a state this session started and consumes it; the code exchange with the PKCE
verifier; the ID token's signature checked against the provider's JWKS with the algorithm pinned
(OIDC_SIGN_ALGO); the nonce compared. This module adds what the library leaves out or to its user:

- discovery: every endpoint from OIDC_ISSUER's /.well-known/openid-configuration, whose `issuer` must be
  OIDC_ISSUER exactly (read on first use and cached, never at start-up);
- the ID token's issuer, audience (and `azp` when there are several), expiry and issue time checked (the
  library leaves `aud` and `iss` unchecked), and a JWKS key chosen by `kid` or, for a token without one,
  the provider's only signing key;
- the console user: found by the provider's (issuer, subject), never by a username the provider asserts,
  created on first sign-in (unusable password) when the token's groups map to a role, and its SSO grants
  reconciled with those groups at every sign-on (`deployments.roles.roles_reconcile_sso`); a verified
  identity with no role gets the "no access" page (`auth.no_access`), not an empty console;
- failures (a forged or replayed callback, a bad token) are refused through Django's authenticate(), so
  django-axes counts them per client address and the audit trail records them like failed passwords;
- step-up: a second authorization request with prompt=login and max_age=STEP_UP_MAX_AGE, whose callback
  checks that the same person came back with an `auth_time` recent enough, then resumes the action that
  asked for it (`stops.step_up`);
- sign-out: the console session ends, and where the provider has an end_session_endpoint the sign-in page
  offers RP-initiated logout there (a link, so the policy's form-action 'self' is untouched).
"""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
import requests
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from audit.models import Action, Outcome
from audit.records import record
from deployments.idp_groups import group_roles
from deployments.roles import roles_reconcile_sso
from portal import authn
from portal.models import SingleSignOnIdentity
from stops import rules, step_up

logger = logging.getLogger(__name__)

DISCOVERY_CACHE_SECONDS = 3600
STEP_UP_STATE_KEY = "portal_sso_step_up_state"
PROVIDER_LOGOUT_KEY = "portal_sso_provider_logout"
ID_TOKEN_KEY = "oidc_id_token"  # where the library stores it (OIDC_STORE_ID_TOKEN)
# Allowed clock difference with the provider for exp / iat.
LEEWAY_SECONDS = 60
MAX_GROUPS_RECORDED = 50


class ProviderUnavailable(Exception):
    """Discovery failed: the provider is unreachable or does not describe itself as OIDC_ISSUER."""


class NoAccess(Exception):
    """A verified identity whose groups give no role here."""

    def __init__(self, *, username: str, user, groups: list[str]) -> None:
        super().__init__(f"{username}: no mapped group")
        self.username, self.user, self.groups = username, user, groups


# ---------------------------------------------------------------------------------------------------------
# Discovery


def _discovery_key() -> str:
    return f"portal:oidc-discovery:{settings.OIDC_ISSUER}"


def discovery() -> dict:
    """The provider's metadata (cached); ProviderUnavailable when it cannot be had or names another issuer."""
    cached = cache.get(_discovery_key())
    if cached is not None:
        return cached
    url = f"{settings.OIDC_ISSUER}/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        metadata = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ProviderUnavailable(f"cannot read {url}: {error}") from None
    if not isinstance(metadata, dict) or metadata.get("issuer") != settings.OIDC_ISSUER:
        raise ProviderUnavailable(f"{url} describes issuer {metadata.get('issuer')!r}, not OIDC_ISSUER")
    missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not metadata.get(k)]
    if missing:
        raise ProviderUnavailable(f"{url} has no {', '.join(missing)}")
    cache.set(_discovery_key(), metadata, DISCOVERY_CACHE_SECONDS)
    return metadata


def forget_discovery() -> None:
    cache.delete(_discovery_key())


# ---------------------------------------------------------------------------------------------------------
# The authentication backend


class ConsoleOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with the endpoints from discovery (read lazily: Django builds a backend
    for every request of a signed-in user), the ID token's issuer and audience checked, and the console's
    users and roles."""

    def __init__(self, *args, **kwargs) -> None:  # the library's reads every endpoint here: not at all
        self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.UserModel = get_user_model()

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:  # noqa: N802 - the library's name
        return discovery()["token_endpoint"]

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str | None:  # noqa: N802
        return discovery().get("userinfo_endpoint")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:  # noqa: N802
        return discovery()["jwks_uri"]

    def authenticate(self, request, sso_refusal: str = "", **kwargs):
        """The library's, for a callback request; None (so Django records a failed sign-in, and axes counts
        it) with the reason left on the request when anything is wrong. `sso_refusal`: the callback view
        refused before any token was exchanged (an unknown or replayed state)."""
        if request is None or not (sso_refusal or request.GET.get("code")):
            return None
        setattr(request, authn.AUTH_METHOD_ATTR, authn.SSO)
        if sso_refusal:
            setattr(request, authn.SSO_FAILURE_ATTR, sso_refusal)
            return None
        try:
            user = super().authenticate(request, **kwargs)
        except (SuspiciousOperation, ProviderUnavailable) as error:
            reason = str(error)
        except requests.RequestException as error:
            reason = f"the provider did not answer as expected: {type(error).__name__}"
            logger.warning("single sign-on: %s", error)
        else:
            if user is not None and user.is_active:
                return user
            # The library turns a refusal of get_or_create_user into None; its reason is on the request.
            reason = "the account is disabled" if user is not None else "refused"
            reason = getattr(request, authn.SSO_FAILURE_ATTR, reason)
        setattr(request, authn.SSO_FAILURE_ATTR, reason)
        return None

    def retrieve_matching_jwk(self, token):
        """The provider's key for `token`: the one with its `kid`; for a token without a `kid`, the provider's
        only signing key of the algorithm's type. Never a key of another type or use."""
        response = requests.get(self.OIDC_OP_JWKS_ENDPOINT, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        header = jwt.get_unverified_header(token)
        kty = {"R": "RSA", "P": "RSA", "E": "EC"}[self.OIDC_RP_SIGN_ALGO[0]]
        keys = [
            key
            for key in response.json().get("keys", [])
            if key.get("kty") == kty
            and key.get("use", "sig") == "sig"
            and key.get("alg", header.get("alg")) == header.get("alg")
        ]
        if "kid" in header:
            keys = [key for key in keys if key.get("kid") == header["kid"]]
        if len(keys) != 1:
            raise SuspiciousOperation("no single signing key of the provider matches the ID token")
        return jwt.PyJWK(keys[0])

    def _verify_jws(self, payload, key):
        """The signature with the pinned algorithm, and the claims the library leaves unchecked."""
        header = jwt.get_unverified_header(payload)
        if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(
                f"the ID token is signed with {header.get('alg')!r}, not OIDC_SIGN_ALGO"
            )
        try:
            claims = jwt.decode(
                payload,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.OIDC_ISSUER,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.InvalidSignatureError:
            raise SuspiciousOperation("the ID token's signature does not verify") from None
        except jwt.ExpiredSignatureError:
            raise SuspiciousOperation("the ID token has expired") from None
        except jwt.InvalidAudienceError:
            raise SuspiciousOperation("the ID token is for another client (aud)") from None
        except jwt.InvalidIssuerError:
            raise SuspiciousOperation("the ID token comes from another issuer (iss)") from None
        except jwt.PyJWTError as error:
            raise SuspiciousOperation(f"the ID token is invalid: {error}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise SuspiciousOperation("the ID token has several audiences and another authorized party (azp)")
        return claims

    def verify_token(self, token, **kwargs):
        if not token:
            raise SuspiciousOperation("the provider returned no ID token")
        try:
            return super().verify_token(token, **kwargs)
        except jwt.PyJWTError as error:  # a malformed token, before the checks above
            raise SuspiciousOperation(f"the ID token is malformed: {error}") from None

    def store_tokens(self, access_token, id_token):
        # Only the ID token, for RP-initiated logout (id_token_hint); the access token is never kept.
        self.request.session[ID_TOKEN_KEY] = id_token

    def get_or_create_user(self, access_token, id_token, payload):
        """The console user of this verified identity.

        1. Claims: the ID token's; the groups from userinfo when the ID token lacks the claim (same `sub`).
        2. The user linked to (issuer, sub); else, if the groups map to a role, a new user named by
           OIDC_USERNAME_CLAIM (refused if that name is already a console user's: a provider must not take
           over a local account), with an unusable password.
        3. Reconcile the user's SSO grants with the groups (audited); no role at all: NoAccess.
        """
        claims = dict(payload)
        if settings.OIDC_GROUPS_CLAIM not in claims and self.OIDC_OP_USER_ENDPOINT:
            userinfo = self.get_userinfo(access_token, id_token, payload)
            if userinfo.get("sub") != claims["sub"]:
                raise self._refuse("userinfo is about another subject than the ID token")
            claims = {**userinfo, **claims}
        groups = _groups(claims.get(settings.OIDC_GROUPS_CLAIM))
        mapping = group_roles()
        setattr(self.request, authn.SSO_AUTH_TIME_ATTR, _auth_time(claims))
        username = str(claims.get(settings.OIDC_USERNAME_CLAIM) or "")[:150]
        identity = (
            SingleSignOnIdentity.objects.select_related("user")
            .filter(issuer=settings.OIDC_ISSUER, subject=str(claims["sub"]))
            .first()
        )
        user = identity.user if identity else None
        if user is None:
            if not any(group in mapping for group in groups):
                raise NoAccess(username=username or str(claims["sub"]), user=None, groups=groups)
            with transaction.atomic():
                user = self._create(username, claims)
        if not user.is_active:
            return user  # refused by authenticate(), recorded as a failed sign-in
        # Committed before any refusal below: revocations stand even when nothing is left.
        if not roles_reconcile_sso(user=user, groups=groups, group_roles=mapping):
            raise NoAccess(username=user.get_username(), user=user, groups=groups)
        return user

    def _refuse(self, why: str) -> SuspiciousOperation:
        setattr(self.request, authn.SSO_FAILURE_ATTR, why)
        return SuspiciousOperation(why)

    def _create(self, username: str, claims: dict):
        if not username:
            raise self._refuse(f"the ID token has no {settings.OIDC_USERNAME_CLAIM} claim")
        if self.UserModel.objects.filter(username=username).exists():
            raise self._refuse(
                f"{username} is already a console user not linked to this identity provider account"
            )
        user = self.UserModel(
            username=username,
            email=str(claims.get("email") or "")[:254],
            first_name=str(claims.get("given_name") or "")[:150],
            last_name=str(claims.get("family_name") or "")[:150],
        )
        user.set_unusable_password()
        user.save()
        SingleSignOnIdentity.objects.create(
            user=user, issuer=settings.OIDC_ISSUER, subject=str(claims["sub"])
        )
        return user


def _groups(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(group) for group in value if isinstance(group, str | int)]
    return []


def _auth_time(claims: dict) -> int | None:
    value = claims.get("auth_time")
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# ---------------------------------------------------------------------------------------------------------
# Views


def _unavailable(request: HttpRequest, error: Exception) -> HttpResponse:
    logger.warning("single sign-on unavailable: %s", error)
    messages.error(request, "Single sign-on is unavailable right now: the identity provider did not answer.")
    return redirect("login")


@method_decorator(login_not_required, name="dispatch")
class SSOLoginView(OIDCAuthenticationRequestView):
    """Start a sign-in at the provider: the library's authorization request (state, nonce, PKCE), to the
    discovered endpoint. A GET link, never a form: the policy's form-action 'self' would stop the redirect."""

    def __init__(self, *args, **kwargs) -> None:  # the library's reads the endpoint from settings here
        self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID

    def get(self, request):
        if not settings.OIDC_ENABLED:
            raise Http404("single sign-on is not configured")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = discovery()["authorization_endpoint"]
        except ProviderUnavailable as error:
            return _unavailable(request, error)
        request.session.pop(STEP_UP_STATE_KEY, None)
        return super().get(request)


class SSOStepUpView(SSOLoginView):
    """Sign in again at the provider before a risky action: prompt=login (authenticate again, even with a
    session there) and max_age (the callback checks auth_time against STEP_UP_MAX_AGE too)."""

    def get_extra_params(self, request):
        return {"prompt": "login", "max_age": str(settings.STEP_UP_MAX_AGE)}

    def get(self, request):
        if not request.user.is_authenticated:
            return redirect("login")
        response = super().get(request)
        state = parse_qs(urlparse(response.get("Location", "")).query).get("state")
        if state:
            request.session[STEP_UP_STATE_KEY] = state[0]
        return response


@method_decorator(login_not_required, name="dispatch")
class SSOCallbackView(OIDCAuthenticationCallbackView):
    """The provider's answer. The library's callback, except that: an unknown or replayed state is a failed
    sign-in (audited, counted by axes) instead of an unaudited 400; a provider error during a step-up does
    not sign the person out; a sign-in always goes through login(), which rotates the session key; a verified
    identity without a role gets the "no access" page; and a step-up's callback checks who came back, and
    when they authenticated, before it resumes the pending action."""

    def get(self, request):
        if not settings.OIDC_ENABLED:
            raise Http404("single sign-on is not configured")
        state = request.GET.get("state", "")
        states = request.session.get("oidc_states") or {}
        stepping_up = bool(state) and state == request.session.get(STEP_UP_STATE_KEY)
        if request.GET.get("error"):
            return self._provider_error(request, state, states, stepping_up)
        if not state or "code" not in request.GET:
            return self.login_failure()
        if state not in states:
            # Not a sign-in this browser started, or one already finished: forged (login CSRF) or replayed.
            auth.authenticate(
                request=request, sso_refusal="unknown or already used state (forged or replayed)"
            )
            messages.error(
                request, "That sign-in link was not started here or was already used. Start again."
            )
            return redirect("login")
        # The library's bookkeeping: the state is used once; its nonce and PKCE verifier come with it.
        entry = states.pop(state)
        request.session["oidc_states"] = states
        request.session.pop(STEP_UP_STATE_KEY, None)
        request.session.save()
        try:
            self.user = auth.authenticate(
                request=request, nonce=entry["nonce"], code_verifier=entry.get("code_verifier")
            )
        except NoAccess as refusal:
            return _no_access(request, refusal)
        if self.user is None:
            messages.error(request, "Single sign-on failed; the attempt has been recorded.")
            if stepping_up:
                return redirect(step_up.back_url(request))
            return self.login_failure()
        if stepping_up:
            return self._step_up_done(request)
        auth.login(request, self.user)  # rotates the session key; audited as auth.login (method sso)
        return redirect(self.success_url)

    def login_failure(self):
        return redirect("login")

    def _provider_error(self, request, state: str, states: dict, stepping_up: bool) -> HttpResponse:
        if state in states:
            del states[state]
            request.session["oidc_states"] = states
        error = request.GET.get("error", "")[:100]
        if stepping_up:
            request.session.pop(STEP_UP_STATE_KEY, None)
            _record_step_up(request, Outcome.FAILED, f"the identity provider answered {error}")
            messages.error(request, f"Signing in again did not complete ({error}); nothing was done.")
            return redirect(step_up.back_url(request))
        messages.error(request, f"The identity provider did not sign you in ({error}).")
        return redirect("login")

    def _step_up_done(self, request) -> HttpResponse:
        at = getattr(request, authn.SSO_AUTH_TIME_ATTR, None)
        came_back = authn.Authentication(at=at, method=authn.SSO)
        if self.user.pk != request.user.pk:
            _record_step_up(
                request,
                Outcome.DENIED,
                f"signed in again as {self.user.get_username()}, not as {request.user.get_username()}",
                came_back,
            )
            messages.error(request, "You signed in again as someone else; nothing was done.")
            return redirect(step_up.back_url(request))
        max_age = settings.STEP_UP_MAX_AGE
        if not rules.step_up_satisfied(came_back, now=time.time(), max_age=max_age):
            why = (
                "the identity provider did not say when you authenticated (auth_time)"
                if at is None
                else f"the identity provider says you authenticated {int(time.time() - at)} s ago "
                f"(STEP_UP_MAX_AGE: {max_age} s)"
            )
            _record_step_up(request, Outcome.FAILED, why, came_back)
            messages.error(request, f"Signing in again was not fresh enough: {why}. Nothing was done.")
            return redirect(step_up.back_url(request))
        request.session.cycle_key()  # more rights for this session now: a new key
        authn.remember(request, method=authn.SSO, at=at)
        _record_step_up(request, Outcome.SUCCESS, "", came_back)
        return step_up.resume(request)


def _record_step_up(
    request: HttpRequest, outcome: str, why: str, authentication: authn.Authentication | None = None
) -> None:
    record(
        action=Action.AUTH_STEP_UP,
        outcome=outcome,
        request=request,
        reason=why,
        details={"method": authn.SSO, **(authentication.audit_details() if authentication else {})},
    )


def _no_access(request: HttpRequest, refusal: NoAccess) -> HttpResponse:
    """A verified identity with no role here: not signed in, told why, recorded."""
    groups = refusal.groups[:MAX_GROUPS_RECORDED]
    record(
        action=Action.AUTH_NO_ACCESS,
        outcome=Outcome.DENIED,
        actor=refusal.user,
        request=request,
        target={"label": refusal.username},
        reason="none of the identity provider's groups for this user maps to a role here",
        details={"username": refusal.username, "method": authn.SSO, "groups": groups},
    )
    if request.user.is_authenticated and refusal.user is not None and request.user.pk == refusal.user.pk:
        auth.logout(request)  # a step-up by someone whose roles have just gone
    context = {"username": refusal.username, "groups": groups}
    return render(request, "registration/no_access.html", context, status=403)


def provider_logout_url(request: HttpRequest, id_token: str | None) -> str | None:
    """The provider's RP-initiated logout for this sign-in (None when it has none or is unreachable)."""
    try:
        endpoint = discovery().get("end_session_endpoint")
    except ProviderUnavailable:
        return None
    if not endpoint:
        return None
    params = {
        "client_id": settings.OIDC_CLIENT_ID,
        "post_logout_redirect_uri": request.build_absolute_uri(reverse("login")),
    }
    if id_token:
        params["id_token_hint"] = id_token
    return f"{endpoint}?{urlencode(params)}"


def sign_out(request: HttpRequest) -> HttpResponse:
    """End the console session (audited); after a single sign-on, offer signing out at the provider."""
    was_sso = authn.signed_in_with_sso(request)
    id_token = request.session.get(ID_TOKEN_KEY)
    auth.logout(request)
    if was_sso and settings.OIDC_ENABLED:
        url = provider_logout_url(request, id_token)
        if url:
            request.session[PROVIDER_LOGOUT_KEY] = url
    messages.info(request, "You are signed out of the console.")
    return redirect("login")


def pop_provider_logout(request: HttpRequest) -> str | None:
    return request.session.pop(PROVIDER_LOGOUT_KEY, None)
