"""Views of the stop workflow: the Stop dialog, the deployment page's live stop panel, the approval queue and
the approve / reject / cancel actions. Each validates with a form, checks visibility through the role
selector (404), and calls one service of `deployments.stopping`, whose refusals (403/409/400) are already
audited when they are security-relevant."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from deployments import selectors, stopping
from deployments.models import Deployment, StopRequest
from deployments.stop_forms import StopDecisionForm, StopPanelPollForm, StopRequestForm


def _visible_deployment(
    request: HttpRequest, application_id: str, environment_id: str, number: int
) -> Deployment:
    deployment = (
        Deployment.objects.select_related("environment__application__account")
        .filter(
            environment__application__in=selectors.applications_for(request.user),
            environment__application__application_id=application_id,
            environment__environment_id=environment_id,
            deployment_number=number,
        )
        .first()
    )
    if deployment is None:
        raise Http404("no such deployment, or not visible to this user")
    return deployment


def _visible_request(request: HttpRequest, stop_request_id: int) -> StopRequest:
    stop_request = (
        StopRequest.objects.select_related("deployment__environment__application", "requested_by")
        .filter(
            pk=stop_request_id,
            deployment__environment__application__in=selectors.applications_for(request.user),
        )
        .first()
    )
    if stop_request is None:
        raise Http404("no such stop request, or not visible to this user")
    return stop_request


def _refused(request: HttpRequest, error: stopping.StopError, template: str, context: dict) -> HttpResponse:
    if isinstance(error, stopping.StopForbidden):
        return render(request, "403.html", {"message": str(error)}, status=403)
    context["error"] = str(error)
    return render(request, template, context, status=error.status)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def stop_dialog(request: HttpRequest, application_id: str, environment_id: str, deployment_number: int):
    """GET: the preview and the form (a dialog for HTMX, a page otherwise). POST: the request."""
    deployment = _visible_deployment(request, application_id, environment_id, deployment_number)
    preview = stopping.stop_preview(deployment=deployment, user=request.user)
    template = "deployments/stop/dialog.html#dialog" if request.htmx else "deployments/stop/dialog.html"
    if request.method == "GET":
        form = StopRequestForm(initial={"kind": preview.kind or "stop"})
        return render(request, template, {"preview": preview, "form": form, "deployment": deployment})
    form = StopRequestForm(request.POST)
    context = {"preview": preview, "form": form, "deployment": deployment}
    if not form.is_valid():
        return render(request, template, context, status=400)
    try:
        stop_request = stopping.stop_request_create(
            deployment=deployment,
            user=request.user,
            reason=form.cleaned_data["reason"],
            kind=form.cleaned_data["kind"],
            break_glass=form.cleaned_data["break_glass"],
            confirmation=form.cleaned_data["confirmation"],
            request=request,
        )
    except stopping.StopError as error:
        return _refused(request, error, template, context)
    if stop_request.status == "pending":
        messages.info(request, f"Stop request #{stop_request.pk} is waiting for approval.")
    else:
        messages.success(request, f"Stop request #{stop_request.pk} is approved and running.")
    url = deployment.get_absolute_url()
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
def stop_panel(request: HttpRequest, application_id: str, environment_id: str, deployment_number: int):
    """The live stop panel: 204 while the open request is unchanged, 286 once it is finished."""
    form = StopPanelPollForm(request.GET)
    if not form.is_valid():
        return render(request, "400.html", status=400)
    deployment = _visible_deployment(request, application_id, environment_id, deployment_number)
    panel = stopping_panel_context(deployment, request.user)
    held = form.cleaned_data.get("v")
    if held is not None and held == panel["panel_version"]:
        return HttpResponse(status=204)
    response = render(request, "deployments/stop/_panel_body.html", panel)
    if not panel["live"] and deployment.is_terminal:
        return HttpResponseStopPolling(response.content)
    return response


def stopping_panel_context(deployment: Deployment, user, permissions: set[str] | None = None) -> dict:
    """Everything the panel shows, in at most three queries (two when the caller passes the user's
    `permissions` on the application, none more when the deployment page's lookup found no stop request);
    `panel_version` changes whenever any of it does."""
    # At most one request is open per deployment, and it is always the newest. The deployment page's lookup
    # already says whether there is any (`latest_stop_request_pk`, None if never): most have none.
    if getattr(deployment, "latest_stop_request_pk", False) is None:
        latest = None
    else:
        latest = StopRequest.objects.filter(deployment=deployment).select_related("requested_by").first()
    preview = stopping.stop_preview(
        deployment=deployment,
        user=user,
        open_request=latest if latest and latest.is_open else None,
        permissions=permissions,
    )
    decisions = list(latest.decisions.select_related("user")) if latest else []
    approvals = [d for d in decisions if d.verdict == "approve"]
    pending = bool(latest and latest.status == "pending")
    return {
        "deployment": deployment,
        "preview": preview,
        "stop_request": latest,
        "decisions": decisions,
        "approvals": approvals,
        "may_decide": pending
        and latest.requested_by_id != user.pk
        and preview.may_approve
        and all(d.user_id != user.pk for d in decisions),
        "may_cancel": pending and latest.requested_by_id == user.pk,
        "live": bool(latest and latest.is_open),
        "panel_version": f"{latest.pk}.{latest.version}.{deployment.version}"
        if latest
        else f"0.{deployment.version}",
    }


@require_GET
@vary_on_headers("HX-Request")
def stop_request_queue(request: HttpRequest) -> HttpResponse:
    visible = selectors.applications_for(request.user)
    approvable = selectors.applications_for(request.user, stopping.PERM_APPROVE)
    base = StopRequest.objects.select_related("deployment__environment__application", "requested_by")
    waiting = (
        base.filter(status="pending", deployment__environment__application__in=approvable)
        .exclude(requested_by=request.user)
        .exclude(decisions__user=request.user)
        .order_by("created_at")
    )
    mine = base.filter(requested_by=request.user, status__in=["pending", "approved", "executing"]).order_by(
        "-created_at"
    )
    history = base.filter(deployment__environment__application__in=visible).order_by("-created_at")[:50]
    context = {"waiting": waiting, "mine": mine, "history": history, "decision_form": StopDecisionForm()}
    template = "deployments/stop/queue.html#queue" if request.htmx else "deployments/stop/queue.html"
    return render(request, template, context)


def _decide(request: HttpRequest, stop_request_id: int, action: str) -> HttpResponse:
    stop_request = _visible_request(request, stop_request_id)
    form = StopDecisionForm(request.POST)
    if not form.is_valid():
        return render(request, "400.html", status=400)
    service = {
        "approve": stopping.stop_request_approve,
        "reject": stopping.stop_request_reject,
    }[action]
    try:
        service(
            stop_request=stop_request,
            user=request.user,
            comment=form.cleaned_data["comment"],
            request=request,
        )
    except stopping.StopError as error:
        if isinstance(error, stopping.StopForbidden):
            return render(request, "403.html", {"message": str(error)}, status=403)
        messages.error(request, str(error))
        return _back(request, stop_request, status=error.status)
    messages.success(request, f"Stop request #{stop_request.pk}: {action}d.")
    return _back(request, stop_request)


def _back(request: HttpRequest, stop_request: StopRequest, status: int = 302) -> HttpResponse:
    target = request.POST.get("next") or reverse("stop_request_queue")
    if not target.startswith("/") or target.startswith("//"):
        target = reverse("stop_request_queue")
    if request.htmx:
        return HttpResponseClientRedirect(target)
    if status != 302:
        return render(
            request,
            "deployments/stop/refused.html",
            {"stop_request": stop_request, "back": target},
            status=status,
        )
    return redirect(target)


@require_POST
def stop_request_approve(request: HttpRequest, stop_request_id: int) -> HttpResponse:
    return _decide(request, stop_request_id, "approve")


@require_POST
def stop_request_reject(request: HttpRequest, stop_request_id: int) -> HttpResponse:
    return _decide(request, stop_request_id, "reject")


@require_POST
def stop_request_cancel(request: HttpRequest, stop_request_id: int) -> HttpResponse:
    stop_request = _visible_request(request, stop_request_id)
    try:
        stopping.stop_request_cancel(stop_request=stop_request, user=request.user, request=request)
    except stopping.StopError as error:
        if isinstance(error, stopping.StopForbidden):
            return render(request, "403.html", {"message": str(error)}, status=403)
        messages.error(request, str(error))
        return _back(request, stop_request, status=error.status)
    messages.success(request, f"Stop request #{stop_request.pk} cancelled.")
    return _back(request, stop_request)
