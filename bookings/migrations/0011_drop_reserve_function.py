"""PostgreSQL: drop ``nuvio_reserve``; the reserve is Python only.

With ticket types, promo codes and several items per booking the reserve
takes more than the event's capacity (each type's quota, the code's uses)
and inserts the items. Keeping that in plpgsql as well as in Python would be
two sources of the same rules, and SQLite needs the Python path anyway. The
rules now live once, in ``bookings.services`` (``tickets_take_locked`` and
the reserve around it), on both databases; ``bench/`` measures what the
extra round trips under the event's lock cost.

Backwards, V3 (``bookings.db_functions``) is installed again, as 0009 left
it; it predates items and would not be called by the code of that time.
"""

from django.db import migrations

from bookings.db_functions import RESERVE_DROP, RESERVE_V3


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(RESERVE_DROP)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(RESERVE_DROP)
        schema_editor.execute(RESERVE_V3)


class Migration(migrations.Migration):
    dependencies = [("bookings", "0010_booking_items")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
