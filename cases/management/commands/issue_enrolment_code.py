"""python manage.py issue_enrolment_code <username> [--hours 24]

Issues a one-time two-factor enrolment code through otp_enrolment_issue as the system actor
(audited), voiding any older unused one, and prints it once: give it to the user in person or
over a channel other than their email.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from cases.accounts.enrolment import otp_enrolment_issue
from cases.audit.trail import system_actor
from cases.errors import CaseError


class Command(BaseCommand):
    help = "Issue a one-time code with which a user may enrol an authenticator app (audited)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--hours",
            type=int,
            default=settings.FRAUDCASE_OTP_ENROLMENT_CODE_HOURS,
            help="how long the code is valid (default %(default)s)",
        )

    def handle(self, *args, **options):
        User = get_user_model()
        user = User.objects.filter(**{User.USERNAME_FIELD: options["username"]}).first()
        if user is None:
            raise CommandError(f"No user named {options['username']!r}.")
        try:
            issued = otp_enrolment_issue(
                actor=system_actor(), user_id=user.pk, ttl=timedelta(hours=options["hours"])
            )
        except CaseError as error:
            raise CommandError(f"No code issued: {error.message}") from error
        self.stdout.write(enrolment_code_line(issued))


def enrolment_code_line(issued) -> str:
    """How commands print a code: once, with its expiry."""
    return (
        f"Two-factor enrolment code for {issued.record.user.get_username()!r} (shown only now, "
        f"single use, valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC): {issued.code}"
    )
