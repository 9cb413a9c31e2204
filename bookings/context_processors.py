"""Template context for every page."""

from bookings.notifications import unread_count


def notifications(request) -> dict:
    """``unread_notifications``: the signed-in user's unread count, for the
    header's badge. One COUNT on a partial index, run only when a template
    reads it (Django calls a callable context value when it is used)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    cache = {}

    def count() -> int:
        if "n" not in cache:
            cache["n"] = unread_count(user=user)
        return cache["n"]

    return {"unread_notifications": count}
