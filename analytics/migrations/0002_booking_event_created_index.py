"""An index of bookings by (event, creation time), for the roll-up refresh:
it reads the bookings of one event created on one day after any of them
changes. Analytics is its only user, so it is created here rather than in
``bookings``; on PostgreSQL it is built CONCURRENTLY so a large bookings
table keeps taking writes while it builds."""

from django.db import migrations

INDEX = "analytics_booking_event_created"


def create_index(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    table = apps.get_model("bookings", "Booking")._meta.db_table
    schema_editor.execute(
        f"CREATE INDEX {concurrently}IF NOT EXISTS {INDEX} ON {table} (event_id, created_at)"
    )


def drop_index(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("analytics", "0001_daily_event_stats"),
        ("bookings", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
