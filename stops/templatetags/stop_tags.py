"""Stop regions that other apps' pages include without importing `stops`: `{% stop_panel deployment %}` on
the deployment page (rendered with the viewer's rights) and `{% stops_waiting as n %}` on the dashboard."""

from django import template

from deployments.access import APPROVE_STOP, request_access
from stops import selectors

register = template.Library()


@register.inclusion_tag("stops/_panel_body.html", takes_context=True)
def stop_panel(context, deployment):
    # The page's view already read the viewer's access (`request_access`): the panel reuses it.
    request = context["request"]
    permissions = request_access(request).on(deployment.environment.application)
    return selectors.stop_panel(deployment, request.user, permissions) | {"request": request}


@register.simple_tag(takes_context=True)
def stops_waiting(context) -> int:
    """How many stop requests wait for the viewer's decision: one query, none for someone who approves
    nowhere (most viewers)."""
    request = context["request"]
    if not request_access(request).anywhere(APPROVE_STOP):
        return 0
    return selectors.waiting_for(request.user).count()
