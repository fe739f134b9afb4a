"""Forms that validate what pages take from the query string; an invalid one answers 400, never a 500."""

from django import forms

from deployments.models import DeploymentState


class ApplicationFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Filter")


class EnvironmentFilterForm(forms.Form):
    state = forms.ChoiceField(
        required=False, choices=[("", "All states"), *DeploymentState.choices], label="State"
    )
    page = forms.IntegerField(required=False, min_value=1, max_value=1_000_000)


class DeploymentPollForm(forms.Form):
    # The Deployment.version the client holds; an unchanged one answers 204.
    v = forms.IntegerField(required=False, min_value=0, max_value=2**31 - 1)


class DashboardPollForm(forms.Form):
    # The dashboard token the client holds (selectors.dashboard_version).
    v = forms.RegexField(required=False, regex=r"^[0-9-]{1,64}$")


class ConfigurationForm(forms.Form):
    # The whole diff rather than the first CONFIG_DIFF_PREVIEW_LINES lines (the diff's own page only).
    full = forms.BooleanField(required=False)
