from django.conf import settings
from django.http import HttpRequest

from portal import authn


def console(request: HttpRequest) -> dict:
    session = getattr(request, "session", None)
    return {
        "demo_mode": settings.DEMO_MODE,
        # What the sign-in and step-up pages offer.
        "sso_enabled": settings.OIDC_ENABLED,
        "sso_provider_name": settings.OIDC_PROVIDER_NAME,
        "local_login": settings.LOCAL_LOGIN,
        "auth_method": session.get(authn.AUTH_METHOD_KEY) if session is not None else None,
    }
