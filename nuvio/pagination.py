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
