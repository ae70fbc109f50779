"""Cursor pagination in a stable order, so a client walks everything once even while cases
change: by last change, then id (a case changed during the walk shows up again later, never
lost). A cursor not made by the server is a 400 too. Page size from ?page_size=, at most MAX_PAGE_SIZE: a bigger one is a 400 naming
page_size, not a page silently cut short."""

import base64
import binascii
from datetime import datetime

from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

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
    """Keyset pages on (updated_at, id), forward only: each page starts after the last row of
    the one before, whatever its position. (DRF's cursor keys on the first column and skips
    ties by offset: ingest gives thousands of cases one updated_at, which made deep pages
    scan.) The cursor is opaque to clients: base64 of "<updated_at>|<id>"."""

    ordering = ("updated_at", "id")

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        cases = queryset.order_by(*self.ordering)
        position = self._position(request)
        if position is not None:
            # A row comparison: the index on (updated_at, id) starts the scan at the position.
            # (updated_at > t OR (updated_at = t AND id > pk)) only ordered the scan: every row
            # of earlier pages was read and filtered out again, ingest's thousands of cases
            # with one updated_at at each page, so deep pages and a full mirror slowed.
            updated_at, pk = position
            table = queryset.model._meta.db_table
            cases = cases.filter(
                RawSQL(
                    f'("{table}"."updated_at", "{table}"."id") > (%s, %s)',
                    [updated_at, pk],
                    output_field=BooleanField(),
                )
            )
        rows = list(cases[: self.page_size + 1])
        self.has_next = len(rows) > self.page_size
        self.page = rows[: self.page_size]
        return self.page

    def get_next_link(self):
        if not self.has_next:
            return None
        last = self.page[-1]
        token = f"{last.updated_at.isoformat()}|{last.pk}".encode()
        return replace_query_param(
            self.request.build_absolute_uri(),
            self.cursor_query_param,
            base64.urlsafe_b64encode(token).decode(),
        )

    def get_previous_link(self):
        return None

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "previous": None, "results": data})

    def _position(self, request):
        raw = request.query_params.get(self.cursor_query_param)
        if raw is None:
            return None
        try:
            text = base64.urlsafe_b64decode(raw.encode()).decode()
            stamp, pk = text.rsplit("|", 1)
            updated_at = datetime.fromisoformat(stamp)
            if updated_at.tzinfo is None or not pk.isdecimal():
                raise ValueError(text)
            return updated_at, int(pk)
        except (ValueError, UnicodeError, binascii.Error):
            raise ValidationError(
                {self.cursor_query_param: ["not a cursor from a previous page"]}
            ) from None


class IdOrderCursor(StrictPageSizeCursor):
    ordering = ("id",)


class NewestFirstCursor(StrictPageSizeCursor):
    """Newest first by id (the audit trail: ids grow with time)."""

    ordering = ("-id",)
