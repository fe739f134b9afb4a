"""Views of the stop workflow: the Stop dialog, the deployment page's live stop panel, the approval queue and
the approve / reject / cancel actions. Each validates with a form, fetches through `deployments.access`
(404), reads a selector or calls one service of `stops.services`, whose refusals (403/409/400) are already
audited when they are security-relevant."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from deployments.access import find_poll_state, visible_deployment, visible_stop_request
from deployments.models import StopRequest
from portal.authn import authentication_of
from portal.http import HtmxHttpRequest, bad_request, forbidden, is_partial, safe_next
from stops import selectors, services, step_up
from stops.forms import StopDecisionForm, StopPanelPollForm, StopQueuePollForm, StopRequestForm


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def stop_dialog(request: HtmxHttpRequest, application_id: str, environment_id: str, deployment_number: int):
    """GET: the preview and the form (a dialog for HTMX, a page otherwise). POST: the request."""
    deployment = visible_deployment(request.user, application_id, environment_id, deployment_number)
    preview = selectors.stop_preview(deployment=deployment, user=request.user)
    template = "stops/dialog.html#dialog" if is_partial(request) else "stops/dialog.html"
    if request.method == "GET":
        form = StopRequestForm(initial={"kind": preview.kind or "stop"})
        return render(request, template, {"preview": preview, "form": form, "deployment": deployment})
    form = StopRequestForm(request.POST)
    context = {"preview": preview, "form": form, "deployment": deployment}
    if not form.is_valid():
        return render(request, template, context, status=400)
    try:
        stop_request = services.stop_request_create(
            deployment=deployment,
            user=request.user,
            reason=form.cleaned_data["reason"],
            kind=form.cleaned_data["kind"],
            break_glass=form.cleaned_data["break_glass"],
            confirmation=form.cleaned_data["confirmation"],
            request=request,
            authentication=authentication_of(request),
        )
    except services.StepUpRequired as error:
        step_up.stash(
            request,
            action=step_up.STOP_REQUEST,
            target=[application_id, environment_id, deployment_number],
            data=form.cleaned_data,
            back=deployment.get_absolute_url(),
        )
        return _step_up_page(request, str(error), partial=is_partial(request))
    except services.StopForbidden as error:
        return forbidden(request, str(error))
    except services.StopError as error:
        return render(request, template, context | {"error": str(error)}, status=error.status)
    if stop_request.status == "pending":
        messages.info(request, f"Stop request #{stop_request.pk} is waiting for approval.")
    else:
        messages.success(request, f"Stop request #{stop_request.pk} is approved and running.")
    url = deployment.get_absolute_url()
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
def stop_panel(request: HtmxHttpRequest, application_id: str, environment_id: str, deployment_number: int):
    """The live stop panel: 204 while the open request is unchanged, 286 once it is finished."""
    form = StopPanelPollForm(request.GET)
    if not form.is_valid():
        return bad_request(request)
    held = form.cleaned_data.get("v")
    if held is not None:
        # The usual poll: nothing changed, answered by one written-out query (`find_poll_state`).
        state = find_poll_state(request.user, application_id, environment_id, deployment_number)
        if state is not None and held == state.panel_version:
            return HttpResponse(status=204)
    deployment = visible_deployment(request.user, application_id, environment_id, deployment_number)
    panel = selectors.stop_panel(deployment, request.user)
    if held is not None and held == panel["panel_version"]:
        return HttpResponse(status=204)
    response = render(request, "stops/_panel_body.html", panel)
    if not panel["live"] and deployment.is_terminal:
        return HttpResponseStopPolling(response.content)
    return response


@require_GET
@vary_on_headers("HX-Request")
def stop_request_queue(request: HtmxHttpRequest) -> HttpResponse:
    """What waits for this approver, their own open requests, the history; the poll answers 204 while
    nothing in it changed."""
    form = StopQueuePollForm(request.GET)
    if not form.is_valid():
        return bad_request(request)
    version = selectors.queue_version(request.user)
    if is_partial(request) and form.cleaned_data["v"] == version:
        return HttpResponse(status=204)
    context = {
        "version": version,
        "waiting": selectors.waiting_for(request.user),
        "mine": selectors.open_requests_of(request.user),
        "history": selectors.history_for(request.user),
        "decision_form": StopDecisionForm(),
    }
    template = "stops/queue.html#queue" if is_partial(request) else "stops/queue.html"
    return render(request, template, context)


def _step_up_page(request: HtmxHttpRequest, why: str, *, partial: bool = False) -> HttpResponse:
    """The action waits for a fresh sign-in: why, and the ways to give one (portal.step_up)."""
    context = {"why": why, "pending": step_up.pending(request)}
    template = "stops/step_up.html#step_up" if partial else "stops/step_up.html"
    # A partial answers 200: htmx swaps only successful answers into the dialog.
    return render(request, template, context, status=200 if partial else 403)


def _decide(request: HtmxHttpRequest, stop_request_id: int, service, done: str) -> HttpResponse:
    stop_request = visible_stop_request(request.user, stop_request_id)
    form = StopDecisionForm(request.POST)
    if not form.is_valid():
        return bad_request(request)
    approving = service is services.stop_request_approve
    extra = {"authentication": authentication_of(request)} if approving else {}
    try:
        service(
            stop_request=stop_request,
            user=request.user,
            comment=form.cleaned_data["comment"],
            request=request,
            **extra,
        )
    except services.StepUpRequired as error:
        back = safe_next(request, request.POST.get("next"), reverse("stop_request_queue"))
        step_up.stash(
            request,
            action=step_up.APPROVE,
            target=[stop_request.pk],
            data={"comment": form.cleaned_data["comment"]},
            back=back,
        )
        return _step_up_page(request, str(error))
    except services.StopForbidden as error:
        return forbidden(request, str(error))
    except services.StopError as error:
        messages.error(request, str(error))
        return _back(request, stop_request, status=error.status)
    messages.success(request, f"Stop request #{stop_request.pk}: {done}.")
    return _back(request, stop_request)


def _back(request: HtmxHttpRequest, stop_request: StopRequest, status: int = 302) -> HttpResponse:
    target = safe_next(request, request.POST.get("next"), reverse("stop_request_queue"))
    if request.htmx:
        return HttpResponseClientRedirect(target)
    if status != 302:
        context = {"stop_request": stop_request, "back": target}
        return render(request, "stops/refused.html", context, status=status)
    return redirect(target)


@require_POST
def stop_request_approve(request: HtmxHttpRequest, stop_request_id: int) -> HttpResponse:
    return _decide(request, stop_request_id, services.stop_request_approve, "approved")


@require_POST
def stop_request_reject(request: HtmxHttpRequest, stop_request_id: int) -> HttpResponse:
    return _decide(request, stop_request_id, services.stop_request_reject, "rejected")


@require_POST
def stop_request_cancel(request: HtmxHttpRequest, stop_request_id: int) -> HttpResponse:
    stop_request = visible_stop_request(request.user, stop_request_id)
    try:
        services.stop_request_cancel(stop_request=stop_request, user=request.user, request=request)
    except services.StopForbidden as error:
        return forbidden(request, str(error))
    except services.StopError as error:
        messages.error(request, str(error))
        return _back(request, stop_request, status=error.status)
    messages.success(request, f"Stop request #{stop_request.pk} cancelled.")
    return _back(request, stop_request)
