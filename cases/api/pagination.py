"""Cursor pagination in a stable order, so a client walks everything once even while cases
change: by last change, then id (a case changed during the walk shows up again later, never
lost). Page size from ?page_size=, at most MAX_PAGE_SIZE."""

from rest_framework.pagination import CursorPagination

MAX_PAGE_SIZE = 500


class ChangeOrderCursor(CursorPagination):
    ordering = ("updated_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class IdOrderCursor(CursorPagination):
    ordering = ("id",)
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
