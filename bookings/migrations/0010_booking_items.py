"""Ticket types arrive: every event gets one "General admission" type at its
price (its counters taken over from the event's), every booking one item of
that type, every waiting-list entry that type; ``subtotal`` starts as the
total (no booking had a discount).

At Nuvio's size this runs in one transaction. On a large table the same steps
would be split (docs/operations.md): add the nullable columns, backfill in
batches by primary key outside a long transaction, then set NOT NULL and add
the CHECK constraints ``NOT VALID`` and ``VALIDATE`` them separately.
"""

import django.db.models.deletion
import django.db.models.expressions
import django.db.models.functions.math
import uuid
from django.conf import settings
from django.db import migrations, models
from django.db.models import F

GENERAL_ADMISSION = "General admission"


def forwards(apps, schema_editor):
    Event = apps.get_model("events", "Event")
    TicketType = apps.get_model("events", "TicketType")
    Booking = apps.get_model("bookings", "Booking")
    BookingItem = apps.get_model("bookings", "BookingItem")
    WaitlistEntry = apps.get_model("bookings", "WaitlistEntry")
    Booking.objects.update(subtotal=F("total_price"), discount=0)
    for event in Event.objects.filter(ticket_types__isnull=True).iterator():
        general = TicketType.objects.create(
            event=event,
            name=GENERAL_ADMISSION,
            price=event.price,
            tickets_taken=event.tickets_taken,
            waitlist_waiting=event.waitlist_waiting,
        )
        WaitlistEntry.objects.filter(event=event).update(ticket_type=general)
        items = [
            BookingItem(
                booking_id=booking_id, ticket_type=general, quantity=quantity,
                unit_price=unit_price, discount=0,
            )
            for booking_id, quantity, unit_price in Booking.objects.filter(event=event)
            .values_list("id", "quantity", "unit_price")
            .iterator()
        ]  # fmt: skip
        BookingItem.objects.bulk_create(items, batch_size=1000)


def backwards(apps, schema_editor):
    apps.get_model("bookings", "BookingItem").objects.all().delete()
    apps.get_model("events", "TicketType").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ('bookings', '0009_reserve_function_v3'),
        ('events', '0004_ticket_types_promo_codes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='BookingItem',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('quantity', models.PositiveSmallIntegerField()),
                ('unit_price', models.DecimalField(decimal_places=2, max_digits=10)),
                ('discount', models.DecimalField(decimal_places=2, default=0, max_digits=10)),
            ],
            options={
                'ordering': ['booking', 'id'],
            },
        ),
        migrations.RemoveConstraint(
            model_name='booking',
            name='booking_total_is_unit_times_quantity',
        ),
        migrations.AddField(
            model_name='booking',
            name='discount',
            field=models.DecimalField(decimal_places=2, default=0, max_digits=12),
        ),
        migrations.AddField(
            model_name='booking',
            name='promo_code',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='bookings', to='events.promocode'),
        ),
        migrations.AddField(
            model_name='booking',
            name='subtotal',
            field=models.DecimalField(decimal_places=2, max_digits=12, null=True),
        ),
        migrations.AddField(
            model_name='waitlistentry',
            name='ticket_type',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='waitlist_entries', to='events.tickettype'),
        ),
        migrations.AlterField(
            model_name='booking',
            name='unit_price',
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=10, null=True),
        ),
        migrations.AddField(
            model_name='bookingitem',
            name='booking',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='items', to='bookings.booking'),
        ),
        migrations.AddField(
            model_name='bookingitem',
            name='ticket_type',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='booking_items', to='events.tickettype'),
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
        migrations.AlterField(
            model_name='booking',
            name='subtotal',
            field=models.DecimalField(decimal_places=2, max_digits=12),
        ),
        migrations.AlterField(
            model_name='waitlistentry',
            name='ticket_type',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='waitlist_entries', to='events.tickettype'),
        ),
        migrations.AddConstraint(
            model_name='booking',
            constraint=models.CheckConstraint(condition=models.Q(('discount__gte', 0), ('discount__lte', models.F('subtotal')), ('total_price', django.db.models.functions.math.Round(django.db.models.expressions.CombinedExpression(models.F('subtotal'), '-', models.F('discount')), 2))), name='booking_total_is_subtotal_less_discount'),
        ),
        migrations.AddConstraint(
            model_name='bookingitem',
            constraint=models.CheckConstraint(condition=models.Q(('quantity__gte', 1)), name='item_quantity_positive'),
        ),
        migrations.AddConstraint(
            model_name='bookingitem',
            constraint=models.CheckConstraint(condition=models.Q(('discount__gte', 0), ('unit_price__gte', 0), ('discount__lte', models.F('unit_price'))), name='item_discount_within_price'),
        ),
        migrations.AddConstraint(
            model_name='bookingitem',
            constraint=models.UniqueConstraint(fields=('booking', 'ticket_type'), name='item_type_once'),
        ),
    ]
