"""Forms of the leads' queue and reason-code pages (validation of shape; rules in services)."""

from __future__ import annotations

from django import forms

from cases.models import Outcome, Resolution
from cases.queueadmin.selectors import queue_member_candidates


class QueueForm(forms.Form):
    name = forms.CharField(max_length=80)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    sla_hours = forms.IntegerField(min_value=1, max_value=24 * 90, label="SLA (hours)")
    routing_order = forms.IntegerField(
        min_value=0, initial=100, help_text="rules are tried lowest first"
    )
    is_default = forms.BooleanField(
        required=False, label="Default queue", help_text="takes what no rule claims"
    )
    min_similarity_score = forms.FloatField(
        required=False, min_value=0, max_value=1, label="Minimum score"
    )
    outcomes = forms.MultipleChoiceField(
        required=False, choices=Outcome.choices, widget=forms.CheckboxSelectMultiple,
        label="Detector outcomes (any of)",
    )  # fmt: skip
    min_amount = forms.DecimalField(
        required=False, min_value=0, max_digits=20, decimal_places=2,
        label="Minimum amount at risk (reporting currency)",
    )  # fmt: skip
    countries = forms.CharField(
        required=False, label="Countries (any of)", help_text="ISO codes, comma-separated: DE, FR"
    )
    round_robin = forms.BooleanField(required=False, help_text="assign new cases in turn")
    members = forms.ModelMultipleChoiceField(
        queryset=None, required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["members"].queryset = queue_member_candidates()

    def clean_countries(self) -> list[str]:
        codes = [c.strip().upper() for c in self.cleaned_data["countries"].split(",") if c.strip()]
        bad = [c for c in codes if len(c) != 2 or not c.isalpha()]
        if bad:
            raise forms.ValidationError(f"not ISO 3166 alpha-2 codes: {', '.join(bad)}")
        return sorted(set(codes))

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        members = data.pop("members")
        return {"member_ids": [user.pk for user in members], **data}


class ReasonCodeForm(forms.Form):
    code = forms.SlugField(max_length=64)
    label = forms.CharField(max_length=160)
    resolution = forms.ChoiceField(
        required=False, choices=[("", "Any resolution"), *Resolution.choices]
    )
    active = forms.BooleanField(required=False, initial=True)
