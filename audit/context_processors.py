from django.http import HttpRequest

from deployments.access import REVIEW_AUDIT, request_access


def navigation(request: HttpRequest) -> dict:
    """`may_review_audit` for the layout's navigation: a callable, so the user's access is read only on pages
    that show the navigation (full pages), never on HTMX fragments, and only once per request (the page's
    view may have read it already)."""
    if getattr(request, "user", None) is None:
        return {"may_review_audit": False}
    return {"may_review_audit": lambda: request_access(request).anywhere(REVIEW_AUDIT)}
