"""manage.py release: the one step to run when a new version goes out, before its processes start.

1. Apply the database migrations (`/readyz` answers 503 until they are).
2. Collect the static files into STATIC_ROOT under their hashed names (gunicorn collects them again at each
   start, on each host; collecting here fails a release with a broken file before any process runs it).
3. Make the role groups and their permissions whole (`deployments.roles.ensure_roles`).

Idempotent: running it twice, or on every start as `make run` does, changes nothing the second time.
"""

from django.core.management import call_command
from django.core.management.base import BaseCommand

from deployments.roles import ensure_roles


class Command(BaseCommand):
    help = "Release step: migrate, collect static files, sync the role groups (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--no-static", action="store_true", help="skip collectstatic (static files built elsewhere)"
        )

    def handle(self, *args, no_static: bool = False, **options) -> None:
        verbosity = options["verbosity"]
        say = self.stdout.write if verbosity else (lambda line: None)
        call_command("migrate", interactive=False, verbosity=max(verbosity - 1, 0))
        say("release: migrations applied")
        if not no_static:
            call_command("collectstatic", interactive=False, verbosity=max(verbosity - 1, 0))
            say("release: static files collected")
        ensure_roles()
        say("release: role groups in place")
