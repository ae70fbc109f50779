"""Sign-in lockouts: by (username, client IP) with one limit, by client IP alone with a higher one.

Locking a username wherever it is tried from would let anyone lock a colleague out from
elsewhere; locking by the pair alone would let a guesser try each username a few times. So
a pair is locked after FRAUDCASE_LOGIN_FAILURE_LIMIT failures (AXES_FAILURE_LIMIT) and an
address after FRAUDCASE_LOGIN_IP_FAILURE_LIMIT failures across every username it tried.

axes compares one number with one limit; FraudCaseAxesHandler gives it the failures measured
in units of the pair limit, so each kind of lockout meets its own limit exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from axes.handlers.database import AxesDatabaseHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.utils import timezone

# AXES_LOCKOUT_PARAMETERS, in this order: the pair, then the address alone.
PAIR, ADDRESS = 0, 1


def pair_failure_limit() -> int:
    return settings.AXES_FAILURE_LIMIT


def address_failure_limit() -> int:
    return max(settings.FRAUDCASE_LOGIN_IP_FAILURE_LIMIT, pair_failure_limit())


def failures_toward_lockout(pair_failures: int, address_failures: int) -> int:
    """The failures axes compares with the pair limit: the pair's own, or the address's scaled
    so that reaching the address limit reaches the pair limit (floor keeps it exact)."""
    scaled = address_failures * pair_failure_limit() // address_failure_limit()
    return max(pair_failures, scaled)


class FraudCaseAxesHandler(AxesDatabaseHandler):
    """axes' database handler with a limit per lockout parameter (see the module docstring)."""

    def get_failures(self, request, credentials=None) -> int:
        counts = [
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        ]
        return failures_toward_lockout(counts[PAIR], counts[ADDRESS])


@dataclass(frozen=True)
class Lockout:
    """A current lockout: of one username from one address, or of an address (username "")."""

    username: str
    ip_address: str | None
    failures: int
    until: datetime

    @property
    def minutes_left(self) -> int:
        return max(1, math.ceil((self.until - timezone.now()).total_seconds() / 60))


def current_lockouts(
    *, username: str | None = None, ip_address: str | None = None
) -> tuple[list[Lockout], list[Lockout]]:
    """(locked pairs, locked addresses), latest failure first, optionally of one username or
    address. Reads only attempts within the cool-off, so nothing expired is shown."""
    cool_off = settings.AXES_COOLOFF_TIME
    recent = AccessAttempt.objects.filter(attempt_time__gte=timezone.now() - cool_off)
    if ip_address is not None:
        recent = recent.filter(ip_address=ip_address)
    pairs = recent if username is None else recent.filter(username=username)
    locked_pairs = (
        pairs.values("username", "ip_address")
        .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        .filter(failures__gte=pair_failure_limit())
        .order_by("-last")
    )
    locked_addresses = (
        recent.values("ip_address")
        .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        .filter(failures__gte=address_failure_limit())
        .order_by("-last")
    )
    return (
        [
            Lockout(
                row["username"] or "", row["ip_address"], row["failures"], row["last"] + cool_off
            )
            for row in locked_pairs
        ],
        [
            Lockout("", row["ip_address"], row["failures"], row["last"] + cool_off)
            for row in locked_addresses
        ],
    )


def lockout_of(*, username: str, ip_address: str | None) -> Lockout | None:
    """The lockout refusing this username from this address, if any: the pair's, else the
    address's. None when the address is unknown (axes then counts by the username alone)."""
    if ip_address is None:
        return None
    pairs, addresses = current_lockouts(username=username, ip_address=ip_address)
    return (pairs or addresses or [None])[0]
