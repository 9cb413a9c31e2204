"""Idempotency answers now live in the cache; the database keeps only the hold
each key created (written in the hold's own transaction)."""

from django.db import migrations, models


def drop_records_without_a_hold(apps, schema_editor):
    apps.get_model("bookings", "IdempotencyRecord").objects.filter(
        resource_id__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("bookings", "0003_waitlist_notifications")]

    operations = [
        migrations.RunPython(drop_records_without_a_hold, migrations.RunPython.noop),
        migrations.RemoveField(model_name="idempotencyrecord", name="response_body"),
        migrations.RemoveField(model_name="idempotencyrecord", name="response_status"),
        migrations.AlterField(
            model_name="idempotencyrecord", name="resource_id", field=models.UUIDField()
        ),
    ]
