"""python manage.py setup [--member USERNAME ...] [--exchange-rates FILE]

What a fresh install needs before its first case, without the demo; run it after `migrate`,
as often as you like (idempotent): the role groups and their permissions, the usual reason
codes, a "High risk" queue (detector said block, 4 h) and a default "General" queue (24 h).
Cases opened before any queue existed are routed when the queues appear. Done as the system
user (audited); leads then change queues and reason codes on the Queues page.
"""

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from cases.accounts.roles import ensure_roles
from cases.audit.trail import system_actor
from cases.models import FINISHED_CASE_STATUSES, Case, Queue, ReasonCode
from cases.workflow.services.setup import workflow_defaults_ensure


class Command(BaseCommand):
    help = "Create the roles, default queues and reason codes a fresh install needs (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--member", action="append", default=[], dest="members",
            help="a user to add to the default queues (repeat); only on their creation",
        )  # fmt: skip
        parser.add_argument("--exchange-rates", help="also load this exchange-rates CSV file")

    def handle(self, *args, members: list[str], exchange_rates: str | None = None, **options):
        users = list(get_user_model().objects.filter(username__in=members))
        unknown = sorted(set(members) - {user.get_username() for user in users})
        if unknown:
            raise CommandError(f"no user(s): {', '.join(unknown)}")
        ensure_roles()
        queues_before = Queue.objects.count()
        workflow_defaults_ensure(actor=system_actor(), member_ids=[user.pk for user in users])
        if exchange_rates:
            call_command("load_exchange_rates", exchange_rates, stdout=self.stdout)
        unrouted = (
            Case.objects.exclude(status__in=FINISHED_CASE_STATUSES)
            .filter(queue__isnull=True)
            .count()
        )
        self.stdout.write(
            f"Roles ready; {ReasonCode.objects.count()} reason codes; "
            f"{Queue.objects.count()} queues ({Queue.objects.count() - queues_before} new); "
            f"{unrouted} open case(s) unrouted."
        )
