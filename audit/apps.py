import ipaddress

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class AuditConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        for proxy in settings.TRUSTED_PROXIES:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ImproperlyConfigured(
                    f"TRUSTED_PROXIES: {proxy!r} is not an IP address or network"
                ) from None

        # STYLE.md keeps signals out of business logic and audit: everything else calls audit.record()
        # explicitly. Django's auth signals are the exception because they are the framework's documented,
        # and only, hook for logins, failed logins and logouts, including the admin's own login page.
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from audit import auth_events

        user_logged_in.connect(auth_events.login, dispatch_uid="audit.login")
        user_logged_out.connect(auth_events.logout, dispatch_uid="audit.logout")
        user_login_failed.connect(auth_events.login_failed, dispatch_uid="audit.login_failed")
