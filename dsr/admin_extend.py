"""The "Extend the deadline" step's form and the rule that offers the step (Art. 12(3)).

The form says what the DPO is moving (the deadline in force) and how far it may go (two further
months from the original due date, ``dsr.deadlines.extension_limit_date``), and its date picker
offers only the dates the service accepts. ``request_extend`` stays the judge; the picker's
bounds spare a refused round trip.
"""

from __future__ import annotations

import datetime

from django import forms

from dsr.deadlines import extension_limit_date, local_date
from dsr.models import DataSubjectRequest


def extension_allowed(dsr: DataSubjectRequest, today: datetime.date) -> bool:
    """Whether "Extend" is offered: the request is open, its original due date has not passed
    (the extension must be notified by then, and an overdue request is past it), and the deadline
    in force is still before the latest allowed date."""
    return (
        dsr.is_open
        and today <= local_date(dsr.due_at)
        and local_date(dsr.effective_due_at) < extension_limit_date(dsr.due_at)
    )


class ExtendForm(forms.Form):
    until = forms.DateField(
        label="New due date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why more time is needed (complexity, number of requests); quoted in the letter.",
    )

    def __init__(self, *args, dsr: DataSubjectRequest, **kwargs):
        super().__init__(*args, **kwargs)
        self.current = local_date(dsr.effective_due_at)
        self.latest = extension_limit_date(dsr.due_at)
        until = self.fields["until"]
        earliest = self.current + datetime.timedelta(days=1)
        until.widget.attrs.update({"min": earliest.isoformat(), "max": self.latest.isoformat()})
        until.help_text = (
            f"Current deadline: {self.current:%Y-%m-%d}. Latest allowed: {self.latest:%Y-%m-%d} (two "
            f"further months from the original due date {local_date(dsr.due_at):%Y-%m-%d}). The "
            "request is then due at the end of that day."
        )

    def clean_until(self) -> datetime.date:
        until = self.cleaned_data["until"]
        if until <= self.current:
            raise forms.ValidationError(f"Choose a date after the current deadline, {self.current:%Y-%m-%d}.")
        if until > self.latest:
            raise forms.ValidationError(f"At most two further months: {self.latest:%Y-%m-%d} at the latest.")
        return until
