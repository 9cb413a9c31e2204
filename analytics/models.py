from django.db import models
from django.db.models import Q

from events.models import Event


class DailyEventStats(models.Model):
    """The bookings of one event created on one UTC day, summed up.

    Every analytics figure is a sum of these rows over a date range, so a
    query reads at most (events x days) small rows whatever the number of
    bookings. A row is recomputed from the bookings of its (event, day) after
    any of them changes (``analytics.services``), and rebuilt from scratch by
    ``manage.py analytics_rebuild``. Figures belong to the day the booking was
    *created*, whenever it was paid or cancelled, as API.md's ``from``/``to``
    bound the creation date.

    ``held`` counts rows still ``held``, lapsed or not: a hold lapses with time
    alone, so the read side subtracts the lapsed ones (a small, indexed set)
    live and counts them as expired.
    """

    # No index of its own: the unique (event, day) constraint leads with it.
    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="daily_stats", db_index=False
    )
    day = models.DateField(help_text="UTC date the bookings were created.")
    bookings = models.PositiveIntegerField(default=0, help_text="Bookings created, any status.")
    held = models.PositiveIntegerField(default=0, help_text="Still `held` (lapsed ones too).")
    confirmed = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0, help_text="Cancelled holds and bookings.")
    cancelled_paid = models.PositiveIntegerField(
        default=0, help_text="Cancelled after payment (a subset of `cancelled`)."
    )
    expired = models.PositiveIntegerField(default=0, help_text="Released as `expired`.")
    tickets = models.PositiveIntegerField(default=0, help_text="Tickets of confirmed bookings.")
    revenue = models.DecimalField(
        max_digits=14, decimal_places=2, default=0, help_text="Money charged (payments)."
    )
    refunded = models.DecimalField(
        max_digits=14, decimal_places=2, default=0, help_text="Refunds issued."
    )
    refreshed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "daily event figures"
        verbose_name_plural = "daily event figures"
        ordering = ["-day", "event"]
        constraints = [
            # Also the index of one event's days (per-event figures).
            models.UniqueConstraint(fields=["event", "day"], name="analytics_daily_event_day"),
            models.CheckConstraint(
                condition=Q(cancelled_paid__lte=models.F("cancelled")),
                name="analytics_daily_paid_cancels_within_cancels",
            ),
        ]
        indexes = [
            # Date-range scans across events (the summary, top events).
            models.Index(fields=["day", "event"], name="analytics_daily_day_event"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.day}: {self.bookings} bookings"
