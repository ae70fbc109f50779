"""The drift dashboard (thin: the form, the selector, the charts, render)."""

from __future__ import annotations

from django import forms
from django.conf import settings

from analytics.common.access import team_dashboard
from analytics.common.pages import dashboard_response, range_from
from analytics.common.ranges import DayRange, RangeForm
from analytics.drift.charts import drift_charts
from analytics.drift.selectors import drift, drift_alerts
from analytics.drift.services import Thresholds, flagged_measures
from cases.dateranges import DayField, form_check_order


class DriftForm(RangeForm):
    grain = forms.ChoiceField(
        required=False, label="Per", choices=[("day", "day"), ("batch", "ingest batch")]
    )
    reference_since = DayField(required=False, label="Reference from")
    reference_until = DayField(
        required=False, label="Reference to",
        help_text="default: the days just before the range, as many as it has",
    )  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        form_check_order(self, "reference_since", "reference_until")
        return cleaned


@team_dashboard
def drift_page(request):
    """PSI, categorical shares and centroid shift of each day or batch against a reference."""
    form, day_range = range_from(request, DriftForm)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    default = day_range.before(max(day_range.days, settings.FRAUDCASE_DRIFT_REFERENCE_DAYS))
    reference = DayRange(
        data.get("reference_since") or default.since, data.get("reference_until") or default.until
    )
    found = drift(day_range, reference, grain=data.get("grain") or "day")
    thresholds = Thresholds.from_settings()
    flagged = [(unit, flagged_measures(unit, thresholds)) for unit in found.units]
    return dashboard_response(
        request, template="analytics/dashboards/drift.html", title="Drift", form=form,
        day_range=day_range, charts=drift_charts(found, thresholds),
        context={"drift": found, "flagged": [(u, m) for u, m in flagged if m],
                 "thresholds": thresholds, "alerts": drift_alerts(day_range)},
    )  # fmt: skip
