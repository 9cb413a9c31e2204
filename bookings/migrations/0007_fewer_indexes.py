"""Fewer indexes on bookings, and one that finds an event's lapsed holds as a range.

``(event, status, expires_at)`` replaces ``(event, status)`` and the partial
``(event, expires_at) WHERE status = 'held'``: the look for lapsed holds is
one index range whatever the planner's statistics say. The single-column
indexes Django made for the booking's ``event`` and ``user`` and the
idempotency record's ``user`` go: composite indexes lead with those columns.
A hold's INSERT, made while the event's row is locked, writes 6 indexes
instead of 9.

Only the indexes are dropped: the foreign-key constraints stay as they are
(``AlterField`` would drop and re-add them, re-checking every row under a
lock).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# (model, foreign key) whose single-column index goes.
FK_INDEXES = [("booking", "event"), ("booking", "user"), ("idempotencyrecord", "user")]


def _fk_index_names(schema_editor, model, column):
    return schema_editor._constraint_names(
        model, [column], index=True, unique=False, primary_key=False
    )


def drop_fk_indexes(apps, schema_editor):
    for model_name, field_name in FK_INDEXES:
        model = apps.get_model("bookings", model_name)
        column = model._meta.get_field(field_name).column
        for name in _fk_index_names(schema_editor, model, column):
            schema_editor.execute(schema_editor._delete_index_sql(model, name))


def create_fk_indexes(apps, schema_editor):
    for model_name, field_name in FK_INDEXES:
        model = apps.get_model("bookings", model_name)
        field = model._meta.get_field(field_name)
        if not _fk_index_names(schema_editor, model, field.column):
            schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


class Migration(migrations.Migration):
    dependencies = [
        ("bookings", "0006_reserve_function"),
        ("events", "0003_waitlist_counter"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="booking",
            index=models.Index(
                fields=["event", "status", "expires_at"], name="booking_event_status_expiry"
            ),
        ),
        migrations.RemoveIndex(model_name="booking", name="booking_held_by_event"),
        migrations.RemoveIndex(model_name="booking", name="booking_by_event_status"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="booking",
                    name="event",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="bookings",
                        to="events.event",
                    ),
                ),
                migrations.AlterField(
                    model_name="booking",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="bookings",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="idempotencyrecord",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_fk_indexes, create_fk_indexes)],
        ),
    ]
