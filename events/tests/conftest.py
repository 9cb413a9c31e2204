"""Fixtures shared by the events app's tests."""

import pytest

from events.api.queue import EventQueueView


@pytest.fixture
def view_calls(monkeypatch) -> list:
    """The polls the API view answered (the others were answered early)."""
    calls = []
    answer = EventQueueView.get

    def counted(view, request, *args, **kwargs):
        calls.append(request.path)
        return answer(view, request, *args, **kwargs)

    monkeypatch.setattr(EventQueueView, "get", counted)
    return calls
