"""An upload handler that enforces a file's size limit while the request body streams in.

Django's own handlers write a whole upload to memory or a temporary file before any view can
look at its size: 5 GB posted to the attach view would be 5 GB on disk first. The view puts
AttachmentSizeLimit first in request.upload_handlers, before anything reads the body:

- a request whose Content-Length already says more than the limit (plus room for the form's
  other fields) is refused when its file part starts: not one byte of the file is read, and
  the refusal names the size the client declared;
- otherwise the file's bytes pass through to Django's handlers until they pass the limit; the
  rest (at most the room for the other fields) is counted and dropped, so the refusal states
  the file's exact size;
- with no Content-Length (never under WSGI, which reads no body without one) reading stops at
  the limit and the refusal says "more than".

After a refusal the file is not in request.FILES; `refusal` holds the message.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, StopUpload

# Room in a request for what is not the file: the CSRF token, the form's other fields and the
# multipart headers (a long file name included).
FORM_ROOM_BYTES = 64 * 1024


def size_text(size: int) -> str:
    """A byte count as people read it, exact in parentheses: '10.0 MB (10,485,760 bytes)'."""
    if size < 1024:
        return f"{size} byte{'s' if size != 1 else ''}"
    value, unit = float(size), "bytes"
    for unit in ("KB", "MB", "GB", "TB"):  # noqa: B007
        value /= 1024
        if value < 1024:
            break
    return f"{value:.1f} {unit} ({size:,} bytes)"


class AttachmentSizeLimit(FileUploadHandler):
    """Refuses a file of more than max_bytes while it streams (see the module docstring)."""

    def __init__(self, request=None, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.declared_bytes: int | None = None  # the request's Content-Length
        self.received_bytes = 0  # bytes of the current file seen by this handler
        self.passed_on_bytes = 0  # of those, bytes handed to the next handlers
        self.refusal = ""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.declared_bytes = content_length or None
        return None  # parse as usual

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.received_bytes = self.passed_on_bytes = 0
        if self.declared_bytes and self.declared_bytes > self.max_bytes + FORM_ROOM_BYTES:
            self._refuse(f"the upload is {size_text(self.declared_bytes)}", read_rest=False)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received_bytes = start + len(raw_data)
        if self.received_bytes <= self.max_bytes:
            self.passed_on_bytes = self.received_bytes
            return raw_data
        if self.declared_bytes is None:
            self._refuse(f"the file is more than {size_text(self.max_bytes)}", read_rest=False)
        # The request is small enough to read to its end: count the file, keep none of it.
        return None

    def file_complete(self, file_size: int) -> None:
        if file_size > self.max_bytes:
            self._refuse(f"the file is {size_text(file_size)}", read_rest=True)
        return None  # the next handler (memory or temporary file) returns the file

    def _refuse(self, size: str, *, read_rest: bool) -> None:
        self.refusal = f"{size}; attachments are at most {size_text(self.max_bytes)}"
        # connection_reset=True: Django stops reading the body (the server drops the rest).
        raise StopUpload(connection_reset=not read_rest)
