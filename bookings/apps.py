from django.apps import AppConfig


class BookingsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bookings"

    def ready(self) -> None:
        from bookings import notifications, waitlist
        from bookings.signals import bookings_changed, tickets_released

        # Both run inside the booking services' transactions, under the event
        # lock: the waiting list follows its offered holds and gets returned
        # tickets first; notifications are recorded with the fact they tell.
        bookings_changed.connect(waitlist.on_bookings_changed, dispatch_uid="waitlist")
        bookings_changed.connect(notifications.on_bookings_changed, dispatch_uid="notifications")
        tickets_released.connect(waitlist.on_tickets_released, dispatch_uid="waitlist")
