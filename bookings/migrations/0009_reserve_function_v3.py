"""PostgreSQL: install ``nuvio_reserve`` V3 wherever 0008 left V2.

Migration 0008 was edited after it was released: its function body changed
(V2 to V3, same signature and answers). A database migrated to 0008 before
the edit kept V2, and nothing would have told. This migration installs V3
from ``bookings.db_functions``, so every database at 0009 runs the same
function whichever 0008 it ran. DROP then CREATE, in the migration's
transaction, works over V2 and V3 alike (the frozen V3 text is a plain
CREATE FUNCTION).

SQLite keeps the Python path, as in 0006 and 0008.
"""

from django.db import migrations

from bookings.db_functions import RESERVE_DROP, RESERVE_V3


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(RESERVE_DROP)
        schema_editor.execute(RESERVE_V3)


class Migration(migrations.Migration):
    dependencies = [("bookings", "0008_reserve_function_refusals")]

    # Back to 0008: 0008 as it is written now installs V3, which is what this
    # migration leaves, so there is nothing to undo. Putting V2 back would
    # recreate the very drift this migration removes.
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
