"""python manage.py create_user <username> --role analyst [--role lead ...] [--email E] [--password-stdin]

Creates the account through the user_create service as the system actor, so it is audited.
Without --password-stdin a strong password is generated and printed once. A user whose role
needs a second factor also gets a one-time enrolment code (printed once) for their first
sign-in.
"""

import secrets
import sys
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cases.accounts.enrolment import otp_enrolment_issue
from cases.accounts.roles import Role
from cases.accounts.sign_in import otp_required_for
from cases.accounts.users import user_create
from cases.audit.trail import system_actor
from cases.errors import CaseError
from cases.management.commands.issue_enrolment_code import enrolment_code_line

GENERATED_PASSWORD_BYTES = 18  # 24 URL-safe characters


class Command(BaseCommand):
    help = "Create a FraudCase user with one or more roles (audited)."
    stealth_options = ("stdin",)  # tests pass the password through call_command(stdin=...)

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--role",
            action="append",
            dest="roles",
            required=True,
            help=f"repeat for several roles: {', '.join(Role.values)}",
        )
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input",
        )
        parser.add_argument(
            "--superuser",
            action="store_true",
            help="also a Django superuser (staff): for an install's first admin",
        )

    def handle(self, *args, **options):
        generated = not options["password_stdin"]
        if generated:
            password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
        else:
            password = (options.get("stdin") or sys.stdin).readline().rstrip("\r\n")
            if not password:
                raise CommandError("--password-stdin was given but standard input had no password")
        try:
            user = user_create(
                actor=system_actor(),
                username=options["username"],
                email=options["email"],
                password=password,
                roles=options["roles"],
                is_superuser=options["superuser"],
            )
        except CaseError as error:
            raise CommandError(f"User not created: {error.message}") from error
        roles = ", ".join(sorted(set(options["roles"])))
        self.stdout.write(self.style.SUCCESS(f"Created {user.username!r} with role(s) {roles}."))
        if generated:
            self.stdout.write(f"Password (shown only now, store it safely): {password}")
        if otp_required_for(user):
            issued = otp_enrolment_issue(
                actor=system_actor(),
                user_id=user.pk,
                ttl=timedelta(hours=settings.FRAUDCASE_OTP_ENROLMENT_CODE_HOURS),
            )
            self.stdout.write(enrolment_code_line(issued))
