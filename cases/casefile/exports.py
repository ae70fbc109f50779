"""A case as a PDF suspicious-activity report (fpdf2, core fonts) and its transactions as CSV.

Both read what the case page reads (cases.casefile.selectors.case_page); neither changes anything.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from django.utils import timezone
from fpdf import FPDF
from fpdf.fonts import FontFace

from cases.audit.export import FORMULA_TRIGGERS  # one CSV-injection rule for both
from cases.models import AuditAction, Case, CaseStatus, Resolution, Transaction

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

    def rows(self, widths: tuple, heading: tuple, rows: list[tuple]) -> None:
        with self.table(
            col_widths=widths, headings_style=HEADING, line_height=4.2, markdown=False,
            text_align="LEFT", padding=1,
        ) as table:  # fmt: skip
            table.row([pdf_text(cell) for cell in heading])
            for row in rows:
                table.row([pdf_text(cell) for cell in row])


def _when(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def case_report_pdf(page, *, generated_by: str = "") -> bytes:
    """The case as a PDF: facts, transactions, notes, decisions and history (page: CasePage)."""
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
    )  # fmt: skip

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
    )  # fmt: skip

    pdf.section(f"History (latest {len(page.history)} events, newest first)")
    pdf.rows(
        (32, 45, 45, 145),
        ("Time", "Actor", "Event", "Details"),
        [
            (_when(event.occurred_at), event.actor_name, AuditAction(event.action).label
             if event.action in AuditAction.values else event.action, event.summary)
            for event in page.history
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
