"""python manage.py import_labels FILE --justification "..." --as LEAD

Imports historical truth (chargebacks, confirmed fraud reports) as label versions by a lead:
CSV with transaction_id,label and optional reason_codes (";"-separated) and decided_at. All or
nothing; versioned, audited, exported to retraining with `source: import`. The contradiction
guard does not judge imports; a flip of an exported label still waits for a second lead.
"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from cases.errors import CaseError
from cases.labels.services.imports import labels_import, labels_import_parse


class Command(BaseCommand):
    help = "Import labels (historical truth) from a CSV file as a lead, with a justification."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV: transaction_id,label[,reason_codes][,decided_at]")
        parser.add_argument(
            "--justification", required=True, help="where the truth comes from (recorded)"
        )
        parser.add_argument(
            "--as", dest="username", required=True, help="the lead importing (release_labels)"
        )

    def handle(self, *args, file: str, justification: str, username: str, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"no file {file}")
        lead = get_user_model().objects.filter(username=username).first()
        if lead is None:
            raise CommandError(f"no user {username!r}")
        try:
            rows = labels_import_parse(path.read_text(encoding="utf-8"))
            result = labels_import(
                actor=lead, rows=rows, justification=justification, source_name=path.name
            )
        except (CaseError, UnicodeDecodeError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{result.imported} label(s) imported ({result.held} held for a second lead: flips "
            f"of exported labels), {result.unchanged} already so."
        )
