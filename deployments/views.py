"""Function views: validate the query with a form (400 when invalid), fetch through the role selector (404
for what the user may not see, 403 for what they may see but not do), read a selector or call one service,
render the page or, for an HTMX request, one of its partials.

Live regions send back the version they hold (`?v=`): an unchanged answer is 204 with no body, a changed
one is the region again, and once nothing can change any more the region comes without its trigger and the
status is 286, which makes htmx stop polling.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.paginator import InvalidPage, Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.functional import SimpleLazyObject
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST, require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from audit.models import Action
from audit.records import forbidden, record
from audit.selectors import events_for_deployment
from deployments import access, clock, selectors
from deployments.access import (
    EXPORT_AUDIT,
    SYNC_NOW,
    VIEW,
    may_export_evidence,
    request_access,
    user_may,
    visible_application,
    visible_environment,
)
from deployments.charts import progress_chart
from deployments.configuration import configuration_needs_fetch, configuration_report
from deployments.enqueue import (
    DELAYED,
    QUEUED,
    deployment_configuration_request,
    deployment_details_request,
    environment_sync_request,
)
from deployments.evidence import evidence_export
from deployments.forms import (
    ApplicationFilterForm,
    ConfigurationForm,
    DashboardPollForm,
    DeploymentPollForm,
    EnvironmentFilterForm,
)
from deployments.models import Deployment
from portal.http import HtmxHttpRequest, bad_request, is_partial

PAGE_SIZE = 50
FRAGMENT_CACHE_SECONDS = 3600
FRAGMENT_STEP_SECONDS = 5


def _page_deployment(
    request: HttpRequest, application_id: str, environment_id: str, deployment_number: int
) -> Deployment:
    """The full page's lookup: with the viewer's access read once (`deployment_page`)."""
    deployment = selectors.deployment_page(
        request_access(request), application_id, environment_id, deployment_number
    )
    if deployment is None:
        raise Http404("no such deployment, or not visible to this user")
    return deployment


@require_safe
@vary_on_headers("HX-Request")
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    form = DashboardPollForm(request.GET)
    if not form.is_valid():
        return bad_request(request)
    version = selectors.dashboard_version()
    held = form.cleaned_data["v"]
    if is_partial(request) and held == version.token:
        return HttpResponse(status=204)
    request._several_accounts = version.several_accounts  # read with the token
    # Health and the two lists are the same for everyone who sees the same applications: the template caches
    # them per scope and token (`dashboard-shared`), so a change answers each poll with the region rendered
    # once for all its viewers; the lists are read only when that region is not cached.
    scope = request_access(request).applications(VIEW)
    context = {
        "version": version.token,
        "anything_active": version.active > 0,
        "scope": "all" if scope is None else ",".join(map(str, sorted(scope))),
        "active": SimpleLazyObject(lambda: selectors.dashboard_active(scope)),
        "recent": SimpleLazyObject(lambda: selectors.dashboard_recent(scope)),
        "health": SimpleLazyObject(selectors.sync_health),
    }
    template = (
        "deployments/dashboard.html#live" if is_partial(request) and held else "deployments/dashboard.html"
    )
    return render(request, template, context)


@require_safe
@vary_on_headers("HX-Request")
def application_list(request: HtmxHttpRequest) -> HttpResponse:
    form = ApplicationFilterForm(request.GET)
    if not form.is_valid():
        return bad_request(request)
    query = form.cleaned_data["q"]
    context = {"applications": selectors.application_list(request.user, query), "form": form, "q": query}
    template = "deployments/application_list.html"
    return render(request, f"{template}#results" if is_partial(request) else template, context)


@require_safe
def application_detail(request: HttpRequest, application_id: str) -> HttpResponse:
    application = visible_application(request.user, application_id)
    context = {"application": application, "environments": selectors.application_environments(application)}
    return render(request, "deployments/application_detail.html", context)


@require_safe
@vary_on_headers("HX-Request")
def environment_detail(request: HtmxHttpRequest, application_id: str, environment_id: str) -> HttpResponse:
    form = EnvironmentFilterForm(request.GET)
    if not form.is_valid():
        return bad_request(request)
    environment = visible_environment(request.user, application_id, environment_id)
    state = form.cleaned_data["state"]
    paginator = Paginator(selectors.environment_deployments(environment, state), PAGE_SIZE)
    try:
        page = paginator.page(form.cleaned_data["page"] or 1)
    except InvalidPage as exc:
        raise Http404("no such page") from exc
    for deployment in page:  # known already: links (get_absolute_url) cost no query per row
        deployment.environment = environment
    context = {
        "application": environment.application,
        "environment": environment,
        "page": page,
        "form": form,
        "state": state,
        "may_sync": user_may(request.user, SYNC_NOW, environment.application),
    }
    template = "deployments/environment_detail.html"
    return render(request, f"{template}#deployments" if is_partial(request) else template, context)


@require_POST
def environment_sync(request: HtmxHttpRequest, application_id: str, environment_id: str) -> HttpResponse:
    environment = visible_environment(request.user, application_id, environment_id)
    if not user_may(request.user, SYNC_NOW, environment.application):
        return forbidden(request, permission=SYNC_NOW, target=environment, attempted="sync now")
    outcome = environment_sync_request(environment=environment, request=request)
    queued = outcome == QUEUED
    if queued:
        message = f"Sync of {environment.name} requested; new deployments appear within seconds."
    elif outcome == DELAYED:
        message = (
            f"Sync of {environment.name} recorded, but the task queue cannot be reached right now; "
            "the next scheduled pass brings new deployments."
        )
    else:
        message = f"A sync of {environment.name} was requested moments ago; it is on its way."
    if is_partial(request):
        context = {"environment": environment, "sync_message": message, "may_sync": True}
        return render(request, "deployments/environment_detail.html#sync", context)
    messages.success(request, message) if queued else messages.info(request, message)
    return redirect("environment_detail", environment.application.application_id, environment.environment_id)


@require_safe
@vary_on_headers("HX-Request")
def deployment_detail(
    request: HtmxHttpRequest, application_id: str, environment_id: str, deployment_number: int
) -> HttpResponse:
    form = DeploymentPollForm(request.GET)
    if not form.is_valid():
        return bad_request(request)
    held = form.cleaned_data["v"]
    polled = is_partial(request) and held is not None
    if polled:
        # The usual poll: nothing changed. One written-out query answers it (`find_poll_state`); anything
        # else (a change, details still on their way, a deployment not visible) takes the full path below.
        state = access.find_poll_state(request.user, application_id, environment_id, deployment_number)
        if state is not None and state.details_settled and held == state.version:
            return HttpResponse(status=204) if state.live else HttpResponseStopPolling()
    # A poll asks one question (has it changed?) in one query; the full page reads the viewer's rights once,
    # for the lookup, the stop panel, the audit aside and the navigation.
    if polled:
        deployment = access.visible_deployment(
            request.user, application_id, environment_id, deployment_number
        )
    else:
        deployment = _page_deployment(request, application_id, environment_id, deployment_number)
    live = selectors.deployment_is_live(deployment)
    delayed = False
    account = deployment.environment.application.account
    if deployment.details_fetched_at is None and not deployment.details_error and account.enabled:
        delayed = deployment_details_request(deployment=deployment) == DELAYED
    if polled and held == deployment.version:
        return HttpResponse(status=204) if live else HttpResponseStopPolling()
    context = _deployment_context(request, deployment, live) | {"details_delayed": delayed}
    if not polled:
        request._several_accounts = deployment.account_count > 1  # read with the lookup
        permissions = request_access(request).on(deployment.environment.application)
        context["permissions"] = permissions
        context["may_export_evidence"] = may_export_evidence(permissions)
        # One read for the merged timeline (the console's entries) and the auditors' aside.
        context["audit_events"] = events_for_deployment(deployment, request.user, permissions=permissions)
        return render(request, "deployments/deployment_detail.html", context)
    # A changed poll re-renders the timeline, whose console entries may have changed too.
    application = deployment.environment.application
    context["audit_events"] = SimpleLazyObject(
        lambda: events_for_deployment(
            deployment, request.user, permissions=request_access(request).on(application)
        )
    )
    body = render_to_string("deployments/deployment_detail.html#poll", context, request)
    return HttpResponse(body) if live else HttpResponseStopPolling(body)


def _deployment_context(request: HttpRequest, deployment: Deployment, live: bool) -> dict:
    # The regions that show only the deployment (header, progress, fields, chart, timeline) are the same for
    # every viewer: they are cached per `fragment_version`, the deployment's version and, while it moves, a
    # few seconds' step (the chart's "now" mark and the relative times move with the clock). The events and
    # the chart are read only when a region that shows them is not cached.
    fragment_version = str(deployment.version)
    if not deployment.is_terminal:
        fragment_version += f":{int(clock.now().timestamp()) // FRAGMENT_STEP_SECONDS}"
    events = SimpleLazyObject(lambda: selectors.deployment_events(deployment))
    return {
        "deployment": deployment,
        "application": deployment.environment.application,
        "environment": deployment.environment,
        "events": events,
        "chart": SimpleLazyObject(lambda: _chart(deployment, events, fragment_version)),
        "fragment_version": fragment_version,
        "live": live,
        "details_pending": deployment.details_fetched_at is None and not deployment.details_error,
    }


def _chart(deployment: Deployment, events, fragment_version: str) -> SafeString | None:
    """The progress chart's SVG, cached per fragment version (polls render the chart region uncached)."""
    key = f"deployment-chart:{deployment.pk}:{fragment_version}"
    svg = cache.get(key)
    if svg is None:
        chart = progress_chart(deployment, events, clock.now())
        svg = str(chart.svg()) if chart else ""
        cache.set(key, svg, FRAGMENT_CACHE_SECONDS)
    return mark_safe(svg) if svg else None  # noqa: S308 - built by charts.py, which escapes every text


@require_safe
@vary_on_headers("HX-Request")
def deployment_configuration(
    request: HtmxHttpRequest, application_id: str, environment_id: str, deployment_number: int
) -> HttpResponse:
    """What the deployment changes: the diff region (loaded by the detail page after it renders, and
    polling while the content is fetched) or, for a plain GET, a page of its own (`?full=1`: the whole diff,
    not collapsed). Never calls AppConfig: a missing content is asked of a task. Showing content is audited
    (`config.viewed`); digests alone are not content."""
    form = ConfigurationForm(request.GET)
    if not form.is_valid():
        return bad_request(request)
    deployment = access.visible_deployment(request.user, application_id, environment_id, deployment_number)
    report = configuration_report(deployment)
    delayed = False
    enabled = deployment.environment.application.account.enabled
    waiting = enabled and configuration_needs_fetch(report)
    # After a refusal the region stops polling, but each new look asks again (throttled): a missing IAM
    # permission, once granted, or a fault that outlasted the task's retries, heals without anyone acting.
    if waiting or (enabled and report.error):
        delayed = deployment_configuration_request(deployment=deployment) == DELAYED
    if report.contents_shown:
        with transaction.atomic():
            record(
                action=Action.CONFIG_VIEWED,
                request=request,
                target=deployment,
                details={
                    "sha256": report.row.sha256,
                    "baseline_sha256": report.baseline_row.sha256 if report.baseline_row else "",
                },
            )
    full = form.cleaned_data["full"] and not is_partial(request)
    limit = None if full else settings.CONFIG_DIFF_PREVIEW_LINES
    context = {
        "deployment": deployment,
        "application": deployment.environment.application,
        "environment": deployment.environment,
        "report": report,
        "diff": report.diff,
        "lines": (report.diff.preview(limit) if limit else report.diff.lines) if report.diff else [],
        "collapsed": bool(report.diff and limit is not None and report.diff.is_collapsed(limit)),
        "waiting": waiting,
        "delayed": delayed,
        "account_enabled": enabled,
        "full": full,
    }
    template = "deployments/deployment_configuration.html"
    return render(request, f"{template}#diff" if is_partial(request) else template, context)


def _evidence(
    request: HttpRequest, application_id: str, environment_id: str, deployment_number: int, what: str
) -> tuple[Deployment, dict] | HttpResponse:
    """The deployment and its exported (audited) evidence pack, if the user may see the deployment (404
    otherwise, audited as every refusal) and export its evidence (auditors and operators of its
    application); a 403 response (audited) otherwise."""
    deployment = access.visible_deployment(request.user, application_id, environment_id, deployment_number)
    if not may_export_evidence(request_access(request).on(deployment.environment.application)):
        return forbidden(
            request, permission=EXPORT_AUDIT, target=deployment, attempted="export the evidence pack"
        )
    return deployment, evidence_export(deployment=deployment, what=what, request=request)


@require_safe
def deployment_evidence_json(
    request: HttpRequest, application_id: str, environment_id: str, deployment_number: int
) -> HttpResponse:
    found = _evidence(request, application_id, environment_id, deployment_number, "json")
    if isinstance(found, HttpResponse):
        return found
    _, pack = found
    body = json.dumps(pack, indent=2, ensure_ascii=False) + "\n"
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    name = f"evidence-{application_id}-{environment_id}-{deployment_number}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_safe
def deployment_evidence(
    request: HttpRequest, application_id: str, environment_id: str, deployment_number: int
) -> HttpResponse:
    """The evidence pack as a printable page: the same document as `evidence.json`, signature included."""
    found = _evidence(request, application_id, environment_id, deployment_number, "html")
    if isinstance(found, HttpResponse):
        return found
    deployment, pack = found
    context = {
        "deployment": deployment,
        "application": deployment.environment.application,
        "environment": deployment.environment,
        "pack": pack,
        "events": pack["deployment"].get("EventLog", []),
    }
    return render(request, "deployments/evidence.html", context)
