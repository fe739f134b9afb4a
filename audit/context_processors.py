from django.http import HttpRequest

from audit.selectors import may_review


def navigation(request: HttpRequest) -> dict:
    """`may_review_audit` for the layout's navigation: a callable, so the query runs only on pages that show
    the navigation (full pages), never on HTMX fragments."""
    user = getattr(request, "user", None)
    return {"may_review_audit": (lambda: may_review(user)) if user is not None else False}
