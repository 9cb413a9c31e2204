"""Entry point of the child processes in test_concurrency: a separate Django
process (its own interpreter and connection) reserving tickets."""

import os


def reserve_many(
    database_url: str, event_id: str, user_ids: list[str], start, results, body=None
) -> None:
    """Each user reserves ``body`` (default: one ticket of the event's only
    type); the outcomes ("ok" or an error code) go to ``results``."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nuvio.settings")
    import django

    django.setup()
    from django.db import connection

    from accounts.models import User
    from bookings.services import booking_reserve
    from nuvio.errors import NuvioError

    users = list(User.objects.filter(pk__in=user_ids))
    start.wait()
    outcomes = []
    for user in users:
        try:
            booking_reserve(user=user, event_id=event_id, **(body or {"quantity": 1}))
            outcomes.append("ok")
        except NuvioError as exc:
            outcomes.append(exc.code)
    connection.close()
    results.put(outcomes)
