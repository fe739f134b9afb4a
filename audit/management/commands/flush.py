"""`manage.py flush`, able to empty the append-only audit table along with every other table.

Django's flush ("remove ALL data from the database") is also what its test framework runs after every
transactional test; the audit table's triggers refuse its DELETE (SQLite) or TRUNCATE (PostgreSQL). This
override lifts the triggers, runs Django's own flush, and reinstalls them, all in one transaction: if
anything fails the triggers are back as they were. Nothing else in the code base can delete audit events.

A flush wipes the audit trail like everything else, as it always has; the hash chain cannot protect
against losing the whole database (keep exported segments and their manifests for that).
"""

from django.core.management.commands import flush
from django.db import connections, transaction

from audit.triggers import create_triggers, drop_triggers

CONFIRM = """You have requested a flush of the database.
This will IRREVERSIBLY DESTROY all data currently in the "%s" database, THE AUDIT TRAIL INCLUDED,
and return each table to an empty state.
Are you sure you want to do this?

    Type 'yes' to continue, or 'no' to cancel: """


class Command(flush.Command):
    help = flush.Command.help + " The append-only audit trail is emptied too."

    def handle(self, **options) -> None:
        connection = connections[options["database"]]
        if options["interactive"]:
            # Ask before taking any lock: the triggers are lifted inside the transaction below.
            if input(CONFIRM % connection.settings_dict["NAME"]) != "yes":
                self.stdout.write("Flush cancelled.")
                return
            options["interactive"] = False
        if "audit_auditevent" not in connection.introspection.table_names():
            super().handle(**options)  # not migrated yet: nothing to lift
            return
        with transaction.atomic(using=options["database"]):
            drop_triggers(connection)
            super().handle(**options)
            create_triggers(connection)
