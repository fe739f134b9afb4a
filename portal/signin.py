"""The sign-in page (what is enabled: single sign-on, local passwords, or both), sign-out, and the step-up
page, where a local account gives its password again before a risky action."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from audit.models import Action, Outcome
from audit.records import record
from portal import authn, sso
from stops import step_up as pending_actions


class ConsoleLoginView(auth_views.LoginView):
    """Django's sign-in page, with single sign-on beside it when configured. With LOCAL_LOGIN off the page
    offers only single sign-on and refuses a posted password outright (nothing checks it)."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["provider_logout_url"] = (
            sso.pop_provider_logout(self.request) if settings.OIDC_ENABLED else None
        )
        return context

    def post(self, request, *args, **kwargs):
        if not settings.LOCAL_LOGIN:
            return render(request, "registration/login.html", self.get_context_data(), status=403)
        return super().post(request, *args, **kwargs)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    return sso.sign_out(request)


@require_http_methods(["GET", "POST"])
def step_up(request: HttpRequest) -> HttpResponse:
    """GET: why a fresh sign-in is needed and how (single sign-on round trip or password). POST: the password
    of a local account, checked through authenticate() (so django-axes throttles guesses and failures are
    recorded); on success the pending action resumes."""
    pending = pending_actions.pending(request)
    context = {"pending": pending, "why": "", "error": ""}
    if request.method == "GET":
        return render(request, "registration/step_up.html", context)
    if not (settings.LOCAL_LOGIN and request.user.has_usable_password()):
        context["error"] = "This account cannot confirm with a password here."
        return render(request, "registration/step_up.html", context, status=400)
    user = auth.authenticate(
        request, username=request.user.get_username(), password=request.POST.get("password", "")
    )
    if user is None or user.pk != request.user.pk:
        context["error"] = "That password is not right."
        return render(request, "registration/step_up.html", context, status=400)
    now = int(time.time())
    request.session.cycle_key()  # more rights for this session now: a new key
    authn.remember(request, method=authn.PASSWORD, at=now)
    record(
        action=Action.AUTH_STEP_UP,
        outcome=Outcome.SUCCESS,
        request=request,
        details={"method": authn.PASSWORD, **authn.Authentication(now, authn.PASSWORD).audit_details()},
    )
    return pending_actions.resume(request)
