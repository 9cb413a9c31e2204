"""Staff admin for the roll-ups: read only, they are derived data
(``manage.py analytics_rebuild`` recomputes them)."""

from django.contrib import admin

from analytics.models import DailyEventStats


@admin.register(DailyEventStats)
class DailyEventStatsAdmin(admin.ModelAdmin):
    list_display = [
        "day",
        "event",
        "bookings",
        "held",
        "confirmed",
        "cancelled",
        "expired",
        "tickets",
        "revenue",
        "refunded",
        "refreshed_at",
    ]
    list_select_related = ["event"]
    search_fields = ["event__name"]
    date_hierarchy = "day"
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
