"""Make the database itself refuse to change the audit trail: UPDATE and DELETE on audit_auditevent are
rejected on SQLite and PostgreSQL, and TRUNCATE on PostgreSQL.

The triggers are unconditional. The one sanctioned way past them is `manage.py flush` (overridden by
audit/management/commands/flush.py), which wipes the whole database, the audit trail with the rest, and is
what Django's test framework runs between transactional tests. Anyone who can drop a trigger (the table's
owner) can of course bypass them; that is what the hash chain and `verify_audit` are for.

Never reversed (audit/irreversible.py): `migrate audit 0001` would otherwise drop the triggers.
"""

from django.db import migrations

from audit.irreversible import IrreversibleRunPython
from audit.triggers import create_triggers


def forwards(apps, schema_editor):
    create_triggers(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [IrreversibleRunPython(forwards)]
