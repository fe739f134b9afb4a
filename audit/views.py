"""The audit trail's pages, for the auditor role: review (filters in the URL, HTMX results, keyset pages),
one event's detail, and exports of the current filter. Everyone else gets a 403 that is itself recorded."""

from __future__ import annotations

from functools import wraps

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from audit import exports, selectors
from audit.forms import AuditFilterForm, describe
from audit.models import Action
from audit.records import denied, forbidden, record
from portal import http
from portal.http import HtmxHttpRequest, bad_request, is_partial


def _requires(permission: str, attempted: str):
    """Refuse (403, recorded) users without `permission`; hand the view the user's scope."""

    def decorator(view):
        @wraps(view)
        def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            scope = selectors.audit_scope(request.user, permission)
            if not scope:
                return forbidden(request, permission=permission, attempted=attempted)
            return view(request, scope, *args, **kwargs)

        return checked

    return decorator


@require_GET
@vary_on_headers("HX-Request")
@_requires(selectors.REVIEW, "review the audit trail")
def event_list(request: HtmxHttpRequest, scope: selectors.AuditScope) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    context = {"form": form, "status": selectors.verification_status()}
    if not form.is_valid():
        return render(request, "audit/event_list.html", context, status=400)
    data = form.cleaned_data
    page = selectors.event_page(form.filters(), scope=scope, before=data["before"], after=data["after"])
    context.update(
        page=page,
        scope=scope,
        may_export=bool(selectors.audit_scope(request.user, selectors.EXPORT)),
        export_query=form.query(upto=selectors.newest_id()),
        newer_query=form.query(after=page.newer) if page.newer else "",
        older_query=form.query(before=page.older) if page.older else "",
    )
    template = "audit/event_list.html"
    if not is_partial(request):
        return render(request, template, context)
    response = render(request, f"{template}#results", context)
    # The form sends every field, empty or not; the address bar gets the same view without the empty ones.
    shown = form.query(before=data["before"], after=data["after"])
    return push_url(response, f"{request.path}?{shown}" if shown else request.path)


@require_GET
@_requires(selectors.REVIEW, "review an audit event")
def event_detail(request: HttpRequest, scope: selectors.AuditScope, event_id: int) -> HttpResponse:
    event = selectors.filtered_events({}, scope).filter(pk=event_id).first()
    if event is None:
        raise Http404("no such audit event")
    return render(request, "audit/event_detail.html", {"event": event})


def _export_filters(request: HttpRequest) -> tuple[dict, int] | None:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return None
    upto, newest = form.cleaned_data["upto"], selectors.newest_id()
    # Without `upto`, the export is pinned to the newest event now, before its own audit.exported event. A
    # later `upto` is brought back to it: the signed manifest's upto_id must never cover events that did not
    # exist yet (a "contiguous" export up to an id it could not contain).
    return form.filters(), newest if upto is None else min(upto, newest)


def _recorded_export(request: HttpRequest, wanted: tuple[dict, int], *, kind: str, scope) -> tuple[dict, int]:
    """Record the export (before a byte of it is sent) and hand back its filters and `upto`."""
    filters, upto = wanted
    _record_export(request, kind=kind, filters=filters, scope=scope, upto=upto)
    return filters, upto


def _record_export(request: HttpRequest, *, kind: str, filters: dict, scope, upto: int) -> None:
    count = selectors.exported_events(filters, scope, upto).count()
    record(
        action=Action.AUDIT_EXPORTED,
        request=request,
        details={
            "format": kind,
            "filters": describe(filters),
            "applications": "all" if scope.everything else list(scope.application_ids),
            "upto_id": upto,
            "count": count,
        },
    )


def _manifest_builder(request: HttpRequest, filters: dict, scope, upto: int) -> exports.ManifestBuilder:
    described = describe(filters)
    if not scope.everything:  # an application-scoped auditor's export is itself a filter
        described["applications"] = list(scope.application_ids)
    return exports.ManifestBuilder(filters=described, upto=upto, exported_by=request.user.get_username())


def _download(stream, *, content_type: str, filename: str, upto: int) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Audit-Upto"] = str(upto)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@_requires(selectors.EXPORT, "export the audit trail as CSV")
def export_csv(request: HttpRequest, scope: selectors.AuditScope) -> HttpResponse:
    wanted = _export_filters(request)
    if wanted is None:
        return bad_request(request)
    filters, upto = _recorded_export(request, wanted, kind="csv", scope=scope)
    stream = exports.csv_stream(selectors.export_rows(filters, scope, upto))
    return _download(stream, content_type="text/csv; charset=utf-8", filename=f"audit-{upto}.csv", upto=upto)


@require_GET
@_requires(selectors.EXPORT, "export the audit trail as JSON Lines")
def export_jsonl(request: HttpRequest, scope: selectors.AuditScope) -> HttpResponse:
    wanted = _export_filters(request)
    if wanted is None:
        return bad_request(request)
    filters, upto = _recorded_export(request, wanted, kind="jsonl", scope=scope)
    builder = _manifest_builder(request, filters, scope, upto)
    stream = exports.jsonl_stream(selectors.export_rows(filters, scope, upto), builder)
    return _download(stream, content_type="application/jsonl", filename=f"audit-{upto}.jsonl", upto=upto)


@require_GET
@_requires(selectors.EXPORT, "export an audit manifest")
def export_manifest(request: HttpRequest, scope: selectors.AuditScope) -> HttpResponse:
    """The manifest of the CSV export with the same query: give both the same `upto`."""
    wanted = _export_filters(request)
    if wanted is None:
        return bad_request(request)
    filters, upto = wanted
    builder = _manifest_builder(request, filters, scope, upto)
    manifest = exports.manifest_of(selectors.export_rows(filters, scope, upto), builder)
    response = JsonResponse({"manifest": manifest}, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="audit-{upto}.manifest.json"'
    response["Cache-Control"] = "no-store"
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: the refusal is recorded (`access.denied`), then the console's 403 page."""
    denied(
        request,
        permission="csrf",
        attempted=f"{request.method} {request.path}",
        reason=f"CSRF check failed: {reason}",
    )
    return http.forbidden(
        request, "The form was too old or came from another site; reload the page and try again."
    )
