from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db.models import Count, QuerySet, Window
from rest_framework import pagination

from nuvio.errors import Invalid


class PageNumberPagination(pagination.PageNumberPagination):
    """DRF page-number pagination: `page`, `page_size` (default 20, at most 100).

    A `page` or `page_size` that is not a positive whole number is a 400
    `invalid` naming the parameter (DRF would silently use the default); a
    `page_size` above 100 is served as 100; a page past the end is a 404.
    """

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset, request, view=None):
        for name in (self.page_query_param, self.page_size_query_param):
            raw = request.query_params.get(name)
            if raw is None or (name == "page" and raw == "last"):
                continue
            if not raw.isdigit() or int(raw) < 1:
                raise Invalid(
                    f"{name} must be a positive whole number.",
                    details={name: ["Must be a positive whole number."]},
                )
        return super().paginate_queryset(queryset, request, view)


class OnePassPaginator(Paginator):
    """Django's paginator for a queryset whose order no index gives (a
    search ranked by relevance): the database reads every matching row to
    rank them, so the same pass counts them (``COUNT(*) OVER ()``) and
    picks the page's keys; a second query reads those rows whole, by
    primary key. Counting apart would read every match a second time, and
    ranking whole rows carries each match's every column through the sort.

    A page past the end is empty, so it is found without counting. DISTINCT
    (the window counts before DISTINCT), orphans and lists are paginated
    Django's own way."""

    def page(self, number):
        queryset = self.object_list
        if (
            "count" in self.__dict__
            or not isinstance(queryset, QuerySet)
            or queryset.query.distinct
            or self.orphans
        ):
            return super().page(number)
        number = self._whole(number)
        bottom = (number - 1) * self.per_page
        keys = queryset.annotate(list_count=Window(Count("*"))).values_list("pk", "list_count")
        keys = list(keys[bottom : bottom + self.per_page])
        if not keys and (number > 1 or not self.allow_empty_first_page):
            raise EmptyPage(self.error_messages["no_results"])
        self.count = keys[0][1] if keys else 0
        # A row that left the list between the two reads is left out.
        rows = {row.pk: row for row in queryset.filter(pk__in=[pk for pk, _ in keys]).order_by()}
        return self._get_page([rows[pk] for pk, _ in keys if pk in rows], number, self)

    @classmethod
    def or_djangos(cls, queryset) -> type[Paginator]:
        """This paginator for a list ranked by relevance (a search: its
        ``rank`` annotation), Django's for one an index orders: there the
        page reads 20 rows and the count apart costs less than a window
        over every row."""
        return cls if "rank" in queryset.query.annotations else Paginator

    def _whole(self, number) -> int:
        """``number`` as ``validate_number`` checks it, without the count."""
        try:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from None
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return number
