from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DeploymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "deployments"
    verbose_name = "AppConfig deployments"

    def ready(self) -> None:
        from deployments.roles import ensure_roles

        # The framework's lifecycle hook, not business logic: migrate and flush (transactional tests) both
        # send it, so the role groups exist whatever emptied the tables.
        post_migrate.connect(ensure_roles, sender=self, dispatch_uid="deployments.ensure_roles")
