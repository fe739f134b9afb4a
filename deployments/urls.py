from django.urls import path

from deployments import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("applications/", views.application_list, name="application_list"),
    path("applications/<str:application_id>/", views.application_detail, name="application_detail"),
    path(
        "applications/<str:application_id>/environments/<str:environment_id>/",
        views.environment_detail,
        name="environment_detail",
    ),
    path(
        "applications/<str:application_id>/environments/<str:environment_id>/deployments/<int:deployment_number>/",
        views.deployment_detail,
        name="deployment_detail",
    ),
]
