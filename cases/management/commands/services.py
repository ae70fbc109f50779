"""python manage.py services [status|stop]: the embedded Postgres, Redis and S3 of this install."""

from django.conf import settings
from django.core.management.base import BaseCommand

from fraudcase import embedded


class Command(BaseCommand):
    help = "Show or stop the embedded servers (they start by themselves when needed)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "stop"], nargs="?", default="status")

    def handle(self, *args, action: str, **options):
        var_dir = settings.FRAUDCASE_VAR_DIR
        if action == "stop":
            # Close Django's own connection first, or the fast shutdown waits on it.
            from django.db import connections

            connections.close_all()
            embedded.stop_all(var_dir)
        for service, state in embedded.status(var_dir).items():
            self.stdout.write(f"{service:9} {state}")
        self.stdout.write(f"data in   {var_dir}")
