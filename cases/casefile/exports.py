"""A case as a PDF suspicious-activity report (fpdf2, core fonts) and its transactions as CSV.

Both read what the case page reads (cases.casefile.selectors.case_page); neither changes anything.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from fpdf import FPDF
from fpdf.fonts import FontFace

from cases.audit.export import FORMULA_TRIGGERS  # one CSV-injection rule for both
from cases.models import AuditAction, Case, CaseStatus, Resolution, Transaction
from cases.similarity.selectors import NeighbourVerdict

CSV_COLUMNS = (
    "case", "transaction_id", "account_id", "occurred_at", "amount", "currency", "merchant",
    "merchant_category", "channel", "country", "source_ip", "device_id", "similarity_score",
    "model_version", "outcome", "decision", "decided_by", "decided_at", "label", "labelled_by",
    "labelled_at",
)  # fmt: skip
# The core PDF fonts encode Windows-1252; common typography outside it gets a plain stand-in,
# anything else becomes "?".
PDF_ENCODING = "windows-1252"
PDF_STAND_INS = str.maketrans({"→": "->", "←": "<-", "≤": "<=", "≥": ">=", "−": "-", "…": "..."})
HEADING = FontFace(emphasis="BOLD", fill_color=(230, 233, 240))


def neutralised(value) -> str:
    """The cell as text a spreadsheet will not run as a formula (as the audit export does)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _username(user) -> str:
    return user.get_username() if user is not None else ""


def case_transactions_csv(case: Case, transactions: list[Transaction]) -> str:
    """The transactions of the case as CSV text, one row each, every cell neutralised."""
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(CSV_COLUMNS)
    for tx in transactions:
        cells = (
            case.reference, tx.transaction_id, tx.account_id, _iso(tx.occurred_at), tx.amount,
            tx.currency, tx.merchant, tx.merchant_category, tx.channel, tx.country, tx.source_ip,
            tx.device_id, tx.similarity_score, tx.model_version, tx.outcome, tx.decision,
            _username(tx.decided_by), _iso(tx.decided_at), tx.label, _username(tx.labelled_by),
            _iso(tx.labelled_at),
        )  # fmt: skip
        writer.writerow([neutralised(cell) for cell in cells])
    return output.getvalue()


def pdf_text(value) -> str:
    """Text the core fonts can draw: stand-ins for common symbols, '?' for the rest."""
    text = "" if value is None else str(value)
    return text.translate(PDF_STAND_INS).encode(PDF_ENCODING, "replace").decode(PDF_ENCODING)


class _Report(FPDF):
    def __init__(self, reference: str, generated: str) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        self.core_fonts_encoding = PDF_ENCODING
        self.reference, self.generated = reference, generated
        self.set_auto_page_break(auto=True, margin=14)
        self.set_title(f"Suspicious-activity report {reference}")
        self.set_author("FraudCase")
        self.set_creator("FraudCase")

    def header(self) -> None:
        self.set_font("Helvetica", "B", 9)
        self.set_text_color(80, 85, 100)
        self.cell(0, 6, f"FraudCase - suspicious-activity report - {self.reference}")
        self.cell(0, 6, self.generated, align="R", new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0, 0, 0)
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="C")

    def section(self, title: str) -> None:
        self.ln(3)
        self.set_font("Helvetica", "B", 12)
        self.cell(0, 8, pdf_text(title), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 8)

    def rows(
        self, widths: tuple, heading: tuple, rows: list[tuple], *, whole: tuple[int, ...] = ()
    ) -> None:
        """A table; the columns in whole (ids, addresses, hashes) are never broken inside a
        value: they widen, the other columns give way, and the font shrinks if it must."""
        heading = [pdf_text(cell) for cell in heading]
        rows = [[pdf_text(cell) for cell in row] for row in rows]
        size = TABLE_FONT_SIZE
        fitted = fit_widths(self, widths, rows, whole, size)
        while fitted is None and size > MIN_TABLE_FONT_SIZE:
            size -= 0.5
            fitted = fit_widths(self, widths, rows, whole, size)
        self.set_font("Helvetica", "", size)
        with self.table(
            col_widths=fitted or widths, headings_style=HEADING, line_height=size * 0.53,
            markdown=False, text_align="LEFT", padding=CELL_PADDING,
        ) as table:  # fmt: skip
            table.row(heading)
            for row in rows:
                table.row(row)
        self.set_font("Helvetica", "", TABLE_FONT_SIZE)

    def text_line(self, text: str, *, bold: bool = False) -> None:
        self.set_font("Helvetica", "B" if bold else "", TABLE_FONT_SIZE)
        self.multi_cell(0, 4.2, pdf_text(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", TABLE_FONT_SIZE)


TABLE_FONT_SIZE = 8
MIN_TABLE_FONT_SIZE = 5
CELL_PADDING = 1  # mm, each side


def fit_widths(pdf: FPDF, widths: tuple, rows: list[list[str]], whole, size: float):
    """Column widths (mm, same total) where each value of the whole columns fits on one line
    at this font size, taking room from the other columns in proportion; None if it cannot."""
    pdf.set_font("Helvetica", "", size)
    needed = {
        index: max([pdf.get_string_width(row[index]) for row in rows] or [0])
        + 2 * (CELL_PADDING + pdf.c_margin)
        + 0.5
        for index in whole
    }
    fitted = [max(width, needed.get(index, 0)) for index, width in enumerate(widths)]
    extra = sum(fitted) - sum(widths)
    if extra <= 0:
        return tuple(fitted)
    # The others shrink in proportion, each to no less than 12 mm.
    others = [index for index in range(len(widths)) if index not in needed]
    spare = sum(max(fitted[index] - 12, 0) for index in others)
    if spare < extra:
        return None
    for index in others:
        fitted[index] -= extra * max(fitted[index] - 12, 0) / spare
    return tuple(fitted)


def _when(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


@dataclass(frozen=True)
class ReportExtras:
    """What the report carries beyond the case page's reads: where the IPs are (CaseIpMap)
    and the account's ring with its rank."""

    ip_map: object | None = None
    ring: object | None = None
    ring_rank: int | None = None


def case_report_pdf(page, *, generated_by: str = "", extras: ReportExtras | None = None) -> bytes:
    """The case as a PDF: facts, transactions, why it was flagged, the source IPs' places, the
    ring, notes, decisions, attachments and history without refusals (page: CasePage).
    Ids, addresses and hashes are never broken across lines."""
    case = page.case
    now = timezone.localtime()
    generated = f"generated {now:%Y-%m-%d %H:%M %Z}" + (
        f" by {generated_by}" if generated_by else ""
    )
    pdf = _Report(case.reference, pdf_text(generated))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, f"Suspicious-activity report {case.reference}", new_x="LMARGIN", new_y="NEXT")

    pdf.section("Case facts")
    facts = [
        ("Reference", case.reference),
        ("Account", case.account_id),
        ("Status", CaseStatus(case.status).label),
        ("Priority", f"{case.priority} / 100"),
        ("Queue", case.queue.name if case.queue_id else "unrouted"),
        ("Assignee", _username(case.assignee) or "unassigned"),
        ("Opened", _when(case.opened_at)),
        ("Due (SLA)", _when(case.due_at) or "no SLA"),
        ("Closed", _when(case.closed_at) or "open"),
        ("Resolution", Resolution(case.resolution).label if case.resolution else "none yet"),
        ("Reason codes", ", ".join(r.label for r in case.reason_codes.all()) or "none"),
        ("Closing comment", case.closing_comment or ""),
        ("Transactions", str(len(page.transactions))),
        ("Amount at risk", _amount_text(case)),
        ("Highest detector score", f"{case.max_similarity_score:.3f}"),
        ("Tags", ", ".join(tag.name for tag in case.tags.all()) or "none"),
    ]
    if case.merged_into_id:
        facts.append(("Merged into", case.merged_into.reference))
    if page.merged_from:
        facts.append(("Merged from", ", ".join(page.merged_from)))
    pdf.rows((45, 222), ("Fact", "Value"), facts)

    pdf.section(f"Transactions ({len(page.transactions)})")
    pdf.rows(
        (28, 36, 24, 40, 22, 13, 27, 27, 14, 20, 18, 18),
        ("Time", "Transaction", "Amount", "Merchant", "Channel", "Ctry", "Source IP", "Device",
         "Score", "Detector", "Decision", "Label"),
        [
            (_when(tx.occurred_at), tx.transaction_id, f"{tx.amount} {tx.currency}", tx.merchant,
             tx.channel, tx.country, tx.source_ip or "", tx.device_id,
             f"{tx.similarity_score:.3f}", tx.outcome, tx.decision, tx.label)
            for tx in page.transactions
        ],
        whole=(1, 6, 7),
    )  # fmt: skip

    _why_flagged(pdf, page)
    _ip_places(pdf, extras.ip_map if extras else None)
    _ring(pdf, extras.ring if extras else None, extras.ring_rank if extras else None)

    pdf.section(f"Notes ({len(page.notes)})")
    if not page.notes:
        pdf.cell(0, 5, "No notes.", new_x="LMARGIN", new_y="NEXT")
    for note in page.notes:
        pdf.set_font("Helvetica", "B", 8)
        pdf.cell(0, 5, pdf_text(f"{note.author_name}, {_when(note.created_at)}"), new_x="LMARGIN", new_y="NEXT")  # fmt: skip
        pdf.set_font("Helvetica", "", 8)
        pdf.multi_cell(0, 4.2, pdf_text(note.body), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    decided = [tx for tx in page.transactions if tx.decision or tx.label]
    pdf.section(f"Decisions ({len(decided)} of {len(page.transactions)} transactions)")
    pdf.rows(
        (50, 25, 45, 35, 25, 45, 42),
        ("Transaction", "Decision", "Decided by", "Decided at", "Label", "Labelled by", "Labelled at"),
        [
            (tx.transaction_id, tx.decision, _username(tx.decided_by), _when(tx.decided_at),
             tx.label, _username(tx.labelled_by), _when(tx.labelled_at))
            for tx in decided
        ] or [("none yet", "", "", "", "", "", "")],
        whole=(0,),
    )  # fmt: skip

    _attachments(pdf, page.attachments)

    # What happened to the case, not who was refused what (the audit trail keeps those).
    history = [event for event in page.history if not event.is_refusal]
    pdf.section(f"History ({len(history)} events, newest first)")
    pdf.rows(
        (32, 45, 45, 145),
        ("Time", "Actor", "Event", "Details"),
        [
            (_when(event.occurred_at), event.actor_name, AuditAction(event.action).label
             if event.action in AuditAction.values else event.action, event.summary)
            for event in history
        ] or [("", "", "no events", "")],
    )  # fmt: skip
    return bytes(pdf.output())


def _amount_text(case) -> str:
    """In the reporting currency, then in the transactions' own; a missing rate said."""
    text = f"{case.amount_reporting} {case.reporting_currency}"
    if case.currency and case.currency != case.reporting_currency:
        text += f" ({case.amount_at_risk} {case.currency})"
    elif not case.currency and case.amount_at_risk != case.amount_reporting:
        text += f" ({case.amount_at_risk} in several currencies)"
    if case.rate_missing:
        text += "; no exchange rate for some transactions (not counted)"
    return text


WHY_TRANSACTIONS = 10  # the most suspicious transactions explained in the report
WHY_FEATURES = 5  # each with its biggest deviations


def _why_flagged(pdf: _Report, page) -> None:
    """As the case page's "why was this flagged": the neighbours' verdict, then each of the
    most suspicious transactions' biggest deviations from its account and the population."""
    pdf.section("Why this was flagged")
    verdict = NeighbourVerdict.from_summary(page.case.neighbour_summary)
    pdf.text_line(
        f"Nearest labelled neighbours: {verdict.sentence}" if verdict
        else "Nearest labelled neighbours: none labelled yet."
    )  # fmt: skip
    rows = []
    for explanation in page.explanations[:WHY_TRANSACTIONS]:
        tx = explanation.transaction
        measured = explanation.features[:WHY_FEATURES]  # biggest deviations first
        if not measured:
            rows.append(
                (tx.transaction_id, f"{tx.similarity_score:.3f}", "no features sent", "", "", "")
            )
        for feature in measured:
            rows.append((
                tx.transaction_id, f"{tx.similarity_score:.3f}", feature.name, f"{feature.value:.3f}",
                _deviation(feature.account_deviation, feature.account_count),
                _deviation(feature.population_deviation, None),
            ))  # fmt: skip
    if len(page.explanations) > WHY_TRANSACTIONS:
        pdf.text_line(
            f"The {WHY_TRANSACTIONS} most suspicious of {len(page.explanations)} transactions."
        )
    pdf.rows(
        (50, 20, 60, 30, 55, 52),
        ("Transaction", "Score", "Feature", "Value", "vs account (n)", "vs population"),
        rows or [("no transactions", "", "", "", "", "")],
        whole=(0,),
    )  # fmt: skip


def _deviation(value: float | None, count: int | None) -> str:
    shown = "-" if value is None else f"{value:+.2f}" + (" (unusual)" if abs(value) >= 1 else "")
    return shown if count is None else f"{shown} (n={count})"


def _ip_places(pdf: _Report, ip_map) -> None:
    if ip_map is None:
        return
    pdf.section(f"Source IPs and their places ({len(ip_map.ips)})")
    pdf.rows(
        (45, 90, 40, 92),
        ("IP", "Place", "Kind", "Network (ASN)"),
        [
            (place.ip, place.place_label if place.mappable else "not placed", place.kind_label,
             f"AS{place.asn} {place.as_org}".strip() if place.asn else "unknown")
            for place in ip_map.ips
        ] or [("none", "no transaction has a source IP", "", "")],
        whole=(0,),
    )  # fmt: skip
    for leg in ip_map.impossible_legs:
        pdf.text_line(
            f"Impossible travel: {leg.start.transaction_id} ({leg.start.place.place_label}) -> "
            f"{leg.end.transaction_id} ({leg.end.place.place_label}), at least "
            f"{leg.leg.min_distance_km:.0f} km in {leg.leg.hours:.2f} h",
        )


def _ring(pdf: _Report, ring, rank: int | None) -> None:
    pdf.section("Fraud ring")
    if ring is None:
        pdf.text_line("The account is in no ring (no IP or device shared with another account).")
        return
    where = f"ring #{rank} on the rings page" if rank else "a ring over the rings page's size cap"
    pdf.text_line(
        f"The account is in {where}: {ring.size} accounts, {ring.fraud_accounts} with confirmed "
        f"fraud, {ring.open_case_accounts} with an open case, risk {ring.risk} / 100."
    )
    pdf.rows(
        (45, 222),
        ("Shared", "Values"),
        [
            (f"IPs ({ring.shared_ip_count})", ", ".join(ring.shared_ips) or "none"),
            (f"Devices ({ring.shared_device_count})", ", ".join(ring.shared_devices) or "none"),
        ],
    )


def _attachments(pdf: _Report, attachments) -> None:
    pdf.section(f"Attachments ({len(attachments)})")
    pdf.rows(
        (60, 28, 22, 112, 45),
        ("File", "Type", "Bytes", "SHA-256", "Added"),
        [
            (item.filename, item.content_type, str(item.size_bytes), item.sha256,
             f"{item.uploaded_by_name}, {_when(item.created_at)}")
            for item in attachments
        ] or [("none", "", "", "", "")],
        whole=(0, 3),
    )  # fmt: skip
