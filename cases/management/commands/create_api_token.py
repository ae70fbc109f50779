"""python manage.py create_api_token <username> [--name NAME] [--scope read|write] [--days N]

Creates an API token for the user (a service account, typically) through api_token_create as
the system actor (audited) and prints it once: only its hash is kept.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from cases.accounts.models import ApiToken
from cases.accounts.tokens import api_token_create
from cases.audit.trail import system_actor
from cases.errors import CaseError


class Command(BaseCommand):
    help = "Create an API token for a user and print it once (audited)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="created by manage.py create_api_token")
        parser.add_argument("--scope", choices=ApiToken.Scope.values, default=ApiToken.Scope.READ)
        parser.add_argument("--days", type=int, help="expires after this many days (default never)")

    def handle(self, *args, **options):
        User = get_user_model()
        user = User.objects.filter(**{User.USERNAME_FIELD: options["username"]}).first()
        if user is None:
            raise CommandError(f"No user named {options['username']!r}.")
        days = options["days"]
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        try:
            issued = api_token_create(
                actor=system_actor(), user_id=user.pk, name=options["name"],
                scope=options["scope"],
                expires_at=timezone.now() + timedelta(days=days) if days else None,
            )  # fmt: skip
        except CaseError as error:
            raise CommandError(f"No token created: {error.message}") from error
        expiry = f"until {issued.token.expires_at:%Y-%m-%d %H:%M} UTC" if days else "no expiry"
        self.stdout.write(
            f"API token {issued.token.prefix} for {user.get_username()!r} "
            f"({issued.token.scope}, {expiry}; shown only now): {issued.plain}"
        )
