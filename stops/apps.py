from django.apps import AppConfig


class StopsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "stops"
    verbose_name = "Stop workflow"
