from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        from analytics.services import on_bookings_changed
        from bookings.signals import bookings_changed

        bookings_changed.connect(on_bookings_changed, dispatch_uid="analytics.rollups")
