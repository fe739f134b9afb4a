from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The project package as an app, only to connect its one signal receiver at start-up."""

    name = "portal"
    verbose_name = "Console"

    def ready(self) -> None:
        # A session's clock starts at sign-in. user_logged_in is the one hook every way in uses (the sign-in
        # page, the admin's, single sign-on later, the tests' force_login): starting the clock here, in the
        # request that saves the new session anyway, costs no extra write on the first page.
        from django.contrib.auth.signals import user_logged_in

        from portal import sessions

        user_logged_in.connect(sessions.start_clock, dispatch_uid="portal.sessions.start_clock")

        # A mapping file that cannot be read or names an unknown role stops start-up, not the first sign-in.
        from django.conf import settings

        if settings.OIDC_ENABLED:
            from deployments.idp_groups import group_roles

            group_roles()
