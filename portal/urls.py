from django.contrib import admin
from django.urls import include, path

from portal import health, metrics, signin, sso

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("accounts/login/", signin.ConsoleLoginView.as_view(), name="login"),
    path("accounts/logout/", signin.sign_out, name="logout"),
    path("accounts/step-up/", signin.step_up, name="step_up"),
    path("accounts/sso/", sso.SSOLoginView.as_view(), name="oidc_authentication_init"),
    path("accounts/sso/callback/", sso.SSOCallbackView.as_view(), name="oidc_authentication_callback"),
    path("accounts/sso/step-up/", sso.SSOStepUpView.as_view(), name="oidc_step_up"),
    path("admin/", admin.site.urls),
    path("audit/", include("audit.urls")),
    path("", include("stops.urls")),
    path("", include("deployments.urls")),
]
