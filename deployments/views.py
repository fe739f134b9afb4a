"""Function views: validate, check access (404 for what the user may not see), read a selector, render."""

from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from deployments.models import ACTIVE_STATES, Application, Deployment, Environment
from deployments.selectors import applications_for, sync_health


def _visible_application(request: HttpRequest, application_id: str) -> Application:
    return get_object_or_404(applications_for(request.user), application_id=application_id)


def dashboard(request: HttpRequest) -> HttpResponse:
    visible = applications_for(request.user)
    deployments = Deployment.objects.filter(environment__application__in=visible).select_related(
        "environment__application"
    )
    context = {
        "active": deployments.filter(state__in=ACTIVE_STATES).order_by("-started_at")[:50],
        "recent": deployments.exclude(state__in=ACTIVE_STATES)
        .filter(completed_at__isnull=False)
        .order_by("-completed_at")[:10],
        "health": sync_health(),
        "application_count": visible.filter(deleted_at__isnull=True).count(),
    }
    return render(request, "deployments/dashboard.html", context)


def application_list(request: HttpRequest) -> HttpResponse:
    applications = (
        applications_for(request.user)
        .filter(deleted_at__isnull=True)
        .select_related("account")
        .annotate(environment_count=Count("environments", filter=Q(environments__deleted_at__isnull=True)))
    )
    query = request.GET.get("q", "").strip()[:100]
    if query:
        applications = applications.filter(Q(name__icontains=query) | Q(application_id__icontains=query))
    return render(request, "deployments/application_list.html", {"applications": applications, "q": query})


def application_detail(request: HttpRequest, application_id: str) -> HttpResponse:
    application = _visible_application(request, application_id)
    environments = application.environments.filter(deleted_at__isnull=True)
    return render(
        request,
        "deployments/application_detail.html",
        {"application": application, "environments": environments},
    )


def environment_detail(request: HttpRequest, application_id: str, environment_id: str) -> HttpResponse:
    application = _visible_application(request, application_id)
    environment = get_object_or_404(Environment, application=application, environment_id=environment_id)
    page = Paginator(environment.deployments.order_by("-deployment_number"), 50).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "deployments/environment_detail.html",
        {"application": application, "environment": environment, "page": page},
    )


def deployment_detail(
    request: HttpRequest, application_id: str, environment_id: str, deployment_number: int
) -> HttpResponse:
    application = _visible_application(request, application_id)
    deployment = get_object_or_404(
        Deployment.objects.select_related("environment__application"),
        environment__application=application,
        environment__environment_id=environment_id,
        deployment_number=deployment_number,
    )
    return render(
        request,
        "deployments/deployment_detail.html",
        {"deployment": deployment, "events": deployment.events.all()},
    )
