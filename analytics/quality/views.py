"""The detector quality dashboard (thin: the form, one selector, the charts, render)."""

from __future__ import annotations

from django import forms
from django.conf import settings

from analytics.common.access import team_dashboard
from analytics.common.pages import dashboard_response, range_from
from analytics.common.ranges import RangeForm
from analytics.quality.charts import quality_charts
from analytics.quality.selectors import DETECTOR_CALLS, quality_report
from analytics.quality.shadow import shadow_comparison, shadow_pick
from analytics.quality.shadow_charts import shadow_charts
from cases.shadow.selectors import shadow_model_versions


class QualityForm(RangeForm):
    model_a = forms.CharField(required=False, max_length=64, label="Model version")
    model_b = forms.CharField(required=False, max_length=64, label="Compare with")
    target_precision = forms.FloatField(
        required=False, min_value=0.01, max_value=1, label="Target precision",
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )  # fmt: skip
    champion = forms.CharField(
        required=False, max_length=64, label="Champion (the transactions' own model)"
    )
    shadow_model = forms.CharField(required=False, max_length=64, label="Shadow model")
    shadow_threshold = forms.FloatField(
        required=False, min_value=0, max_value=1, label="Compare at score",
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )  # fmt: skip
    detector_call = forms.ChoiceField(
        required=False, label="Detector calls fraud when",
        choices=[("block", "it says block"), ("flag", "it says block or investigate")],
    )  # fmt: skip


@team_dashboard
def quality_page(request):
    """Precision, recall and F1 of the detector per model version against analyst labels."""
    form, day_range = range_from(request, QualityForm)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    target = data.get("target_precision") or 0.9
    call = data.get("detector_call") or "block"
    report = quality_report(day_range, target_precision=target, detector_call=call)
    versions = list(report)
    model_a = data.get("model_a") or (versions[-1] if versions else "")
    model_b = data.get("model_b") or (versions[-2] if len(versions) > 1 else "")
    chosen = [report[m] for m in (model_a, model_b) if m in report]
    if len(chosen) == 2 and chosen[0].model_version == chosen[1].model_version:
        chosen = chosen[:1]
    shadow_versions = shadow_model_versions()
    champion = data.get("champion") or model_a
    shadow = shadow_pick(champion, data.get("shadow_model") or "", shadow_versions)
    comparison = None
    if champion and shadow and shadow != champion:
        comparison = shadow_comparison(
            day_range, champion=champion, shadow=shadow, target_precision=target,
            threshold=data.get("shadow_threshold"), detector_call=call,
        )  # fmt: skip
    charts = quality_charts(report, chosen, day_range) + shadow_charts(comparison)
    return dashboard_response(
        request, template="analytics/dashboards/quality.html", title="Detector quality",
        form=form, day_range=day_range, charts=charts,
        context={"report": report, "chosen": chosen, "versions": versions, "target": target,
                 "shadow_versions": shadow_versions, "champion": champion, "shadow": shadow,
                 "comparison": comparison,
                 "comparison_sides": [comparison.champion, comparison.shadow] if comparison else [],
                 "detector_call": DETECTOR_CALLS[call],
                 "min_labels": settings.FRAUDCASE_ANALYTICS_MIN_LABELS},
    )  # fmt: skip
