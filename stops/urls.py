from django.urls import path

from deployments.urls import ENVIRONMENT  # registers the id and number converters
from stops import views

DEPLOYMENT = f"{ENVIRONMENT}deployments/<deployment_number:deployment_number>/"

urlpatterns = [
    path(f"{DEPLOYMENT}stop/", views.stop_dialog, name="stop_dialog"),
    path(f"{DEPLOYMENT}stop/panel/", views.stop_panel, name="stop_panel"),
    path("stop-requests/", views.stop_request_queue, name="stop_request_queue"),
    path(
        "stop-requests/<int:stop_request_id>/approve/",
        views.stop_request_approve,
        name="stop_request_approve",
    ),
    path(
        "stop-requests/<int:stop_request_id>/reject/", views.stop_request_reject, name="stop_request_reject"
    ),
    path(
        "stop-requests/<int:stop_request_id>/cancel/", views.stop_request_cancel, name="stop_request_cancel"
    ),
]
