"""Where a mini map of source IPs looks, and how close: never so close that the map is one
blank country polygon (one point, or several in one city), never farther than the world.

plotly's geo projection scale 1 shows the whole world (about 180 degrees of longitude across
the mini map's width at its aspect); scale s shows about 180 / s degrees.
"""

from __future__ import annotations

from collections.abc import Iterable

# The narrowest view: about 30 degrees of longitude (a country with its neighbours and
# coasts around it), whatever the points' spread.
MIN_SPAN_DEGREES = 30.0
WORLD_SPAN_DEGREES = 180.0
# Room around the points: the view spans their spread and half as much again.
PADDING = 1.5


def map_view(coordinates: Iterable[tuple[float, float]]) -> dict | None:
    """{"lat", "lon", "scale"} for (latitude, longitude) pairs: centred on their bounding box,
    scaled so the box (padded, and at least MIN_SPAN_DEGREES wide) fits; None without points.

    A box's height counts double against its width (the map is about twice as wide as tall).
    Rounded to 2 decimals, so the page's data is stable.
    """
    points = list(coordinates)
    if not points:
        return None
    latitudes = [lat for lat, _ in points]
    longitudes = [lon for _, lon in points]
    lat_span = max(latitudes) - min(latitudes)
    lon_span = max(longitudes) - min(longitudes)
    span = max(lon_span * PADDING, lat_span * 2 * PADDING, MIN_SPAN_DEGREES)
    scale = max(1.0, WORLD_SPAN_DEGREES / span)
    return {
        "lat": round((max(latitudes) + min(latitudes)) / 2, 2),
        "lon": round((max(longitudes) + min(longitudes)) / 2, 2),
        "scale": round(scale, 2),
    }
