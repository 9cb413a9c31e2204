"""Entry points of the child processes in test_queue_redis: separate Django
processes (their own interpreter, connections and memory) taking and
reading places in a waiting room."""

import os


def _setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nuvio.settings")
    import django

    django.setup()


def join_until_killed(database_url: str, event_id: str, user_ids: list[str], results) -> None:
    """Each user joins the event's waiting room, one after the other; each
    place goes to ``results`` as soon as it is taken. Killed meanwhile."""
    _setup(database_url)
    import time

    from accounts.models import User
    from events.models import Event
    from events.queue import WaitingRoom, queue_join

    room = WaitingRoom.of(Event.objects.get(pk=event_id))
    users = {str(user.pk): user for user in User.objects.filter(pk__in=user_ids)}
    for user_id in user_ids:
        place, _ = queue_join(room=room, user=users[user_id])
        results.put((user_id, place.position))
        time.sleep(0.02)  # a rush as one process sees it: a join now and then
    results.put(None)
    time.sleep(600)  # killed long before


def read_places(database_url: str, event_id: str, user_ids: list[str], results) -> None:
    """The users' positions in the event's waiting room (None: no place)."""
    _setup(database_url)
    from django.db import connection

    from accounts.models import User
    from events.models import Event
    from events.queue import WaitingRoom, queue_place

    room = WaitingRoom.of(Event.objects.get(pk=event_id))
    places = {}
    for user in User.objects.filter(pk__in=user_ids):
        place = queue_place(room=room, user=user)
        places[str(user.pk)] = None if place is None else place.position
    connection.close()
    results.put(places)
