"""Migration operations that refuse to run backwards, for every migration of the audit app.

Reversing the audit app's migrations would drop the append-only table (`migrate audit zero`: every event
gone) or its triggers (`migrate audit 0001`), and the next verification would find an empty chain, or an
unprotected one, and could not tell. So each of its operations says `reversible = False`: Django checks
that for every operation of a migration before it touches the database, and raises IrreversibleError.
tests/audit/test_migrations.py checks that every operation of every audit migration, new ones included,
is one of these (or otherwise irreversible): wrap any other operation a new migration needs the same way,
e.g. `class IrreversibleAddField(_Irreversible, migrations.AddField)`.

The one sanctioned way to empty the trail stays `manage.py flush` (audit/management/commands/flush.py),
which wipes the whole database, verifications included.
"""

from __future__ import annotations

from django.db import migrations
from django.db.migrations.exceptions import IrreversibleError

REASON = "the audit trail is append-only, its migrations are never reversed, see audit/irreversible.py"


class _Irreversible:
    reversible = False

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        # Not reached through `migrate` (Migration.unapply checks `reversible` first); kept for any caller
        # that drives an operation by hand.
        raise IrreversibleError(f"{self.describe()}: {REASON}")

    def __str__(self) -> str:
        # IrreversibleError's message names the operation with str(): one readable line instead of the
        # operation's full repr (every field of the model).
        return f"{self.describe()} ({REASON})"


class IrreversibleCreateModel(_Irreversible, migrations.CreateModel):
    pass


class IrreversibleRunPython(_Irreversible, migrations.RunPython):
    pass


class IrreversibleAlterField(_Irreversible, migrations.AlterField):
    """For the action vocabulary's choices: a field's state changes, the trail's rows never do."""
