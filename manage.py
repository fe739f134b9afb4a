#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # noqa: B018 - load the settings here: a bad variable is one line, not a traceback
    except ImproperlyConfigured as exc:
        sys.exit(f"error: {exc} (see .env.example; `make manage ARGS=...` runs a command as `make run` does)")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
