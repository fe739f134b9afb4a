"""`{% stop_panel deployment %}`: the deployment page's stop panel, rendered with the viewer's rights, so the
page's own view needs to know nothing about stopping."""

from django import template

from deployments.stop_views import stopping_panel_context

register = template.Library()


@register.inclusion_tag("deployments/stop/_panel_body.html", takes_context=True)
def stop_panel(context, deployment):
    # The page may already hold the viewer's permissions on the application (`permissions`): one query less.
    panel = stopping_panel_context(deployment, context["request"].user, context.get("permissions"))
    return panel | {"request": context["request"]}
