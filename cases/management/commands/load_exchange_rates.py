"""python manage.py load_exchange_rates FILE [--as USERNAME]

Loads exchange rates from a CSV file (docs/exchange-rates.md: currency,quote_currency,rate,
valid_from), then converts again the amounts they cover and recomputes those cases' priority.
Runs as the system user (an operator's shell) or, with --as, as a lead or admin; audited.
"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from cases.audit.trail import system_actor
from cases.currency.rates import reporting_currency
from cases.currency.services import exchange_rates_load, exchange_rates_parse
from cases.errors import CaseError


class Command(BaseCommand):
    help = "Load exchange rates from a CSV file and convert the amounts they cover (audited)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV: currency,quote_currency,rate,valid_from")
        parser.add_argument("--as", dest="username", help="the lead or admin loading them")

    def handle(self, *args, file: str, username: str | None = None, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"no file {file}")
        actor = system_actor()
        if username:
            actor = get_user_model().objects.filter(username=username).first()
            if actor is None:
                raise CommandError(f"no user {username!r}")
        try:
            rows = exchange_rates_parse(path.read_text(encoding="utf-8"))
            loaded = exchange_rates_load(actor=actor, rows=rows, source=path.name)
        except (CaseError, UnicodeDecodeError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{loaded.created} rate(s) added, {loaded.updated} changed, {loaded.unchanged} "
            f"unchanged; {loaded.transactions_converted} transaction amount(s) converted to "
            f"{reporting_currency()}, {loaded.transactions_without_rate} still without a rate; "
            f"{loaded.cases_rerouted} case(s) re-routed."
        )
