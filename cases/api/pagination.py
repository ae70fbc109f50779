"""Cursor pagination in a stable order, so a client walks everything once even while cases
change: by last change, then id (a case changed during the walk shows up again later, never
lost). A cursor not made by the server is a 400 too. Page size from ?page_size=, at most MAX_PAGE_SIZE: a bigger one is a 400 naming
page_size, not a page silently cut short."""

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

MAX_PAGE_SIZE = 500


class StrictPageSizeCursor(CursorPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdecimal() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"a whole number from 1 to {self.max_page_size}"]}
            )
        return int(raw)

    def decode_cursor(self, request):
        """A cursor the server did not make is the client's mistake: a 400 naming it."""
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError(
                {self.cursor_query_param: ["not a cursor from a previous page"]}
            ) from None

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


class ChangeOrderCursor(StrictPageSizeCursor):
    ordering = ("updated_at", "id")


class IdOrderCursor(StrictPageSizeCursor):
    ordering = ("id",)


class NewestFirstCursor(StrictPageSizeCursor):
    """Newest first by id (the audit trail: ids grow with time)."""

    ordering = ("-id",)
