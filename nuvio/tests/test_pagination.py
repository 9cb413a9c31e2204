"""``OnePassPaginator`` pages a queryset as Django's paginator does, reading
each page and the count in one query and the page's rows by key."""

import datetime as dt

import pytest
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from events.models import Event
from events.tests.factories import make_event
from nuvio.pagination import OnePassPaginator

pytestmark = pytest.mark.django_db


@pytest.fixture
def seven():
    soon = timezone.now() + dt.timedelta(days=3)
    # Ties in the start: the id decides.
    for i in range(7):
        make_event(name=f"Event {i}", starts_at=soon + dt.timedelta(hours=i // 2))
    return Event.objects.order_by("starts_at", "id")


def _page(paginator, number):
    page = paginator.page(number)
    return {
        "rows": [event.pk for event in page],
        "count": paginator.count,
        "pages": paginator.num_pages,
        "next": page.has_next(),
        "previous": page.has_previous(),
        "start": page.start_index(),
        "end": page.end_index(),
    }


@pytest.mark.parametrize("per_page", [1, 3, 7, 20])
def test_every_page_is_djangos(seven, per_page):
    last = Paginator(seven, per_page).num_pages
    for number in [*range(1, last + 1), str(last)]:
        assert _page(OnePassPaginator(seven, per_page), number) == _page(
            Paginator(seven, per_page), number
        ), number


def test_a_page_is_one_query_for_keys_and_count_and_one_for_rows(seven):
    paginator = OnePassPaginator(seven, 3)
    with CaptureQueriesContext(connection) as queries:
        page = paginator.page(2)
        assert paginator.count == 7
        assert len(page) == 3
    keys, rows = [q["sql"] for q in queries.captured_queries]
    assert "OVER ()" in keys
    assert "COUNT(*) OVER ()" not in rows and '"events_event"."name"' in rows


def test_pages_past_the_end_and_bad_numbers_are_djangos_errors(seven):
    with pytest.raises(EmptyPage):
        OnePassPaginator(seven, 3).page(4)
    with pytest.raises(EmptyPage):
        OnePassPaginator(seven, 3).page(0)
    with pytest.raises(PageNotAnInteger):
        OnePassPaginator(seven, 3).page("two")
    with pytest.raises(PageNotAnInteger):
        OnePassPaginator(seven, 3).page(1.5)


def test_an_empty_list_has_an_empty_first_page_and_no_second(seven):
    nothing = seven.filter(name="none")
    page = OnePassPaginator(nothing, 3).page(1)
    assert list(page) == [] and page.paginator.count == 0
    with pytest.raises(EmptyPage):
        OnePassPaginator(nothing, 3).page(2)
    with pytest.raises(EmptyPage):
        OnePassPaginator(nothing, 3, allow_empty_first_page=False).page(1)


def test_a_row_gone_between_the_two_reads_is_left_out(seven, monkeypatch):
    gone = list(seven)[1]
    paginator = OnePassPaginator(seven, 3)
    filter_rows = type(seven).filter

    def delete_then_filter(self, *args, **kwargs):  # the rows' read, by key
        if "pk__in" in kwargs:
            Event.objects.filter(pk=gone.pk).delete()
        return filter_rows(self, *args, **kwargs)

    monkeypatch.setattr(type(seven), "filter", delete_then_filter)
    page = paginator.page(1)
    assert gone.pk not in [event.pk for event in page]
    assert len(page) == 2 and paginator.count == 7


def test_distinct_querysets_are_counted_apart(seven):
    distinct = seven.distinct()
    paginator = OnePassPaginator(distinct, 3)
    with CaptureQueriesContext(connection) as queries:
        paginator.page(1)
    assert queries.captured_queries[0]["sql"].startswith("SELECT COUNT(*)")
    assert paginator.count == 7
