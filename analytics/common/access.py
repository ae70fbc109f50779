"""Who reaches which dashboard (decided by cases.policies; these only wrap views)."""

from __future__ import annotations

from django.urls import reverse

from cases.http import requires_permission
from cases.policies import sees_team_analytics

# Leads, auditors and admins: the team's figures.
team_dashboard = requires_permission("view_team_analytics", attempted="view the team's dashboards")
# Anyone who reads cases: the team's figures, or an analyst's own (policies.analytics_analyst_filter).
own_or_team_dashboard = requires_permission("view_case", attempted="view dashboards")

# (label, url name, team only), in the order of the dashboards' menu.
DASHBOARDS = (
    ("Detector quality", "analytics-quality", True),
    ("Drift", "analytics-drift", True),
    ("Operations", "analytics-operations", False),
    ("Money", "analytics-money", True),
    ("Label health", "analytics-labels", False),
    ("Curation", "analytics-curation", True),
)


def dashboard_links(request) -> list[dict]:
    team = sees_team_analytics(request.user)
    return [
        {"label": label, "url": reverse(name), "current": request.path == reverse(name)}
        for label, name, team_only in DASHBOARDS
        if team or not team_only
    ]
