"""The case's notes as the page shows them: Markdown rendered, then sanitised."""

from __future__ import annotations

import markdown
import nh3

from cases.models import Case, Note

NOTE_TAGS = {
    "p", "br", "strong", "em", "b", "i", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td", "del",
}  # fmt: skip
NOTE_ATTRIBUTES = {"a": {"href", "title"}}


def render_note(body: str) -> str:
    """Markdown to HTML, then sanitised: raw HTML such as <script> is dropped with its
    content, links keep only http(s)/mailto targets and get rel="noopener noreferrer"."""
    html = markdown.markdown(body, extensions=["fenced_code", "tables", "sane_lists"])
    return nh3.clean(
        html,
        tags=NOTE_TAGS,
        attributes=NOTE_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def case_notes(case: Case) -> list[Note]:
    notes = list(case.notes.order_by("created_at", "id"))
    for note in notes:
        note.html = render_note(note.body)
    return notes
