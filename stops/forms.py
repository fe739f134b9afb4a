from django import forms

from deployments.models import StopKind
from stops.rules import REASON_MAX_LENGTH


class StopRequestForm(forms.Form):
    kind = forms.ChoiceField(choices=StopKind.choices, widget=forms.HiddenInput)
    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why this deployment must be stopped; approvers and auditors read it.",
    )
    confirmation = forms.CharField(
        required=False, max_length=128, label="Type the environment's name to confirm"
    )
    break_glass = forms.BooleanField(
        required=False, label="Break glass: stop now, without approval (flagged in the audit trail)"
    )


class StopDecisionForm(forms.Form):
    comment = forms.CharField(
        required=False, max_length=REASON_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 2})
    )


class StopPanelPollForm(forms.Form):
    v = forms.RegexField(regex=r"^[0-9.]{1,40}$", required=False)


class StopQueuePollForm(forms.Form):
    v = forms.RegexField(regex=r"^[0-9-]{1,40}$", required=False)
