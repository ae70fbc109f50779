"""Distances on the globe and the impossible-travel test: pure functions, no database."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres between two points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class GeoPoint:
    """Where and when a transaction happened, as far as its source IP tells."""

    latitude: float | None
    longitude: float | None
    at: datetime
    accuracy_radius_km: float | None = None

    @property
    def placed(self) -> bool:
        return self.latitude is not None and self.longitude is not None


@dataclass(frozen=True, slots=True)
class TravelLeg:
    distance_km: float  # between the two places' centres
    # The shortest the trip can have been: GeoIP places a city-level IP anywhere within its
    # accuracy radius, so both radii come off the distance before judging the speed.
    min_distance_km: float
    hours: float
    speed_kmh: float | None  # over min_distance_km; None when no time passed
    impossible: bool


def travel_leg(start: GeoPoint, end: GeoPoint, *, max_kmh: float) -> TravelLeg | None:
    """The trip between two transactions; None when either has no coordinates.

    impossible is True when covering even the shortest possible distance would need more
    than max_kmh; two places whose accuracy circles touch never make a trip impossible, and
    a positive distance in zero time always does.
    """
    if not (start.placed and end.placed):
        return None
    distance = haversine_km(start.latitude, start.longitude, end.latitude, end.longitude)
    slack = (start.accuracy_radius_km or 0) + (end.accuracy_radius_km or 0)
    min_distance = max(0.0, distance - slack)
    hours = abs((end.at - start.at).total_seconds()) / 3600
    if hours == 0:
        speed = None
        impossible = min_distance > 0
    else:
        speed = min_distance / hours
        impossible = speed > max_kmh
    return TravelLeg(
        distance_km=distance,
        min_distance_km=min_distance,
        hours=hours,
        speed_kmh=speed,
        impossible=impossible,
    )
