from django.apps import AppConfig


class BookingsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bookings"

    def ready(self) -> None:
        from bookings import notifications
        from bookings.signals import bookings_changed

        # Notifications are recorded with the fact they tell (in the service's
        # transaction) and e-mailed after commit.
        bookings_changed.connect(notifications.on_bookings_changed, dispatch_uid="notifications")
