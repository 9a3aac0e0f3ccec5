from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from registry.api.fields import strict_bool


class RegistryPagination(BasePagination):
    """Page-number pagination that counts only when asked (`?count=true`).

    A page is read with one row more than its size, which tells whether a next page exists; the
    exact total (a full COUNT over tens of thousands of assessments on every request) is opt-in.
    """

    page_query_param = "page"
    page_size_query_param = "page_size"
    count_query_param = "count"
    page_size = 50
    max_page_size = 500
    max_page = 1_000_000  # keeps the row offset a number the database accepts

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_number = self._positive_int(request, self.page_query_param, 1, None)
        if self.page_number > self.max_page:
            raise NotFound("That page is beyond the last one.")
        self.size = self._positive_int(request, self.page_size_query_param, self.page_size, self.max_page_size)
        offset = (self.page_number - 1) * self.size
        rows = list(queryset[offset : offset + self.size + 1])
        self.has_next = len(rows) > self.size
        if not rows and self.page_number > 1:
            raise NotFound("That page is beyond the last one.")
        self.count = queryset.count() if strict_bool(request.query_params.get(self.count_query_param)) else None
        return rows[: self.size]

    def _positive_int(self, request, name, default, cap):
        raw = request.query_params.get(name)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise ValidationError({name: ["Enter a whole number from 1."]})
        return min(value, cap) if cap else value

    def get_paginated_response(self, data):
        body = {
            "next": self._link(self.page_number + 1) if self.has_next else None,
            "previous": self._link(self.page_number - 1) if self.page_number > 1 else None,
        }
        if self.count is not None:
            body["count"] = self.count
        body["results"] = data
        return Response(body)

    def _link(self, number):
        url = self.request.build_absolute_uri()
        if number == 1:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, number)

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "count": {"type": "integer", "description": "Total rows; only with ?count=true."},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "schema": {"type": "integer", "minimum": 1},
                "description": "Page number, from 1.",
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
                "description": f"Rows per page (default {self.page_size}).",
            },
            {
                "name": self.count_query_param,
                "required": False,
                "in": "query",
                "schema": {"type": "boolean"},
                "description": "Also return the total number of rows.",
            },
        ]
