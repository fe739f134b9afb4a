from django.conf import settings
from django.http import HttpRequest

from deployments.models import Account
from portal import authn


def several_accounts(request: HttpRequest | None = None) -> bool:
    """Whether more than one Account exists, so pages name the account beside each application (ids and
    names are unique only per account). One query, at most once per request; a view that already knows
    sets `request._several_accounts` (the deployment page reads it with its lookup)."""
    if request is not None and hasattr(request, "_several_accounts"):
        return request._several_accounts
    several = Account.objects.order_by().values("pk")[:2].count() > 1
    if request is not None:
        request._several_accounts = several
    return several


def console(request: HttpRequest) -> dict:
    session = getattr(request, "session", None)
    return {
        "demo_mode": settings.DEMO_MODE,
        # What the sign-in and step-up pages offer.
        "sso_enabled": settings.OIDC_ENABLED,
        "sso_provider_name": settings.OIDC_PROVIDER_NAME,
        "local_login": settings.LOCAL_LOGIN,
        "auth_method": session.get(authn.AUTH_METHOD_KEY) if session is not None else None,
        # A callable: the query runs only on pages that show an application, once per request.
        "several_accounts": lambda: several_accounts(request),
    }
