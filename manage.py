#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        # Load the settings and the apps here: a bad variable, or a file one names (OIDC_GROUP_ROLES_FILE,
        # read when the apps are ready), is one line, not a traceback.
        django.setup()
    except ImproperlyConfigured as exc:
        sys.exit(f"error: {exc} (see .env.example; `make manage ARGS=...` runs a command as `make run` does)")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
