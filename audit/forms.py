"""The review page's filters, taken from the query string so a filtered view is a shareable URL. An invalid
value answers 400, never a 500."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django import forms

from audit.models import Action, Outcome

# Filters, in the order they appear in URLs; the keyset cursors (before/after) are not filters.
FILTER_FIELDS = (
    "actor",
    "action",
    "outcome",
    "application",
    "environment",
    "deployment",
    "stop_request",
    "since",
    "until",
    "q",
)
DATETIME_FORMATS = [
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
]
_ID = r"^[A-Za-z0-9_.:-]{1,64}$"


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, label="Actor")
    action = forms.ChoiceField(required=False, choices=[("", "Any action"), *Action.choices], label="Action")
    outcome = forms.ChoiceField(
        required=False, choices=[("", "Any outcome"), *Outcome.choices], label="Outcome"
    )
    application = forms.RegexField(required=False, regex=_ID, label="Application id")
    environment = forms.RegexField(required=False, regex=_ID, label="Environment id")
    deployment = forms.IntegerField(required=False, min_value=0, max_value=2**31 - 1, label="Deployment")
    stop_request = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, label="Stop request")
    # Times are UTC (the console's time zone), inclusive.
    since = forms.DateTimeField(required=False, input_formats=DATETIME_FORMATS, label="From (UTC)")
    until = forms.DateTimeField(required=False, input_formats=DATETIME_FORMATS, label="To (UTC)")
    q = forms.CharField(required=False, max_length=100, label="Text")
    # Keyset cursors: the id the page starts below (older) or above (newer).
    before = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    after = forms.IntegerField(required=False, min_value=0, max_value=2**63 - 1)
    # Exports: the newest id included, fixed when the page offering the export was drawn.
    upto = forms.IntegerField(required=False, min_value=0, max_value=2**63 - 1)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("before") is not None and data.get("after") is not None:
            raise forms.ValidationError("Give either before or after, not both.")
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The time range ends before it starts.")
        for name in ("actor", "q"):
            if name in data:
                data[name] = data[name].strip()
        return data

    def filters(self) -> dict[str, Any]:
        """The filters that are set (cleaned values), without cursors."""
        return {
            name: self.cleaned_data[name]
            for name in FILTER_FIELDS
            if self.cleaned_data.get(name) not in (None, "")
        }

    def query(self, **extra: Any) -> str:
        """The query string of these filters (plus `extra`), for pager and export links."""
        params = {name: _param(value) for name, value in self.filters().items()}
        params.update({name: value for name, value in extra.items() if value is not None})
        return urlencode(params)


def _param(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S") + (
            f".{value.microsecond:06d}" if value.microsecond else ""
        )
    return str(value)


def describe(filters: dict[str, Any]) -> dict[str, Any]:
    """Filters as JSON-friendly values (export manifests and the audit.exported event)."""
    return {
        name: value.isoformat() if isinstance(value, datetime) else value for name, value in filters.items()
    }
