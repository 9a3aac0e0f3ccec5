"""Forms of the data-quality queue (docs/workspace.md, "Data-quality queue"): narrowing the queue, and
a decision on one review flag. The rules of a decision are workspace.review.review_flag_resolve's."""

from django import forms
from django.utils.translation import gettext_lazy as _

from workspace.models import ReviewDecision, ReviewOutcome
from workspace.review import FLAG_GROUPS


class QueueFilterForm(forms.Form):
    """Sent by GET; an unknown value is ignored rather than refused, as any filter in a link."""

    group = forms.ChoiceField(label=_("Kind of flag"), required=False)
    site = forms.ModelChoiceField(label=_("Site"), queryset=None, required=False, empty_label=_("All my sites"))

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].choices = [
            ("", _("All kinds")),
            *((key, label) for key, (label, _codes) in FLAG_GROUPS.items()),
        ]
        self.fields["site"].queryset = sites

    def filters(self) -> dict:
        if not self.is_valid():
            return {"group": "", "site": None}
        return {"group": self.cleaned_data["group"], "site": self.cleaned_data["site"]}


class ReviewDecisionForm(forms.Form):
    code = forms.CharField(widget=forms.HiddenInput, max_length=60)
    field = forms.CharField(widget=forms.HiddenInput, max_length=60, required=False)
    replace = forms.BooleanField(widget=forms.HiddenInput, required=False)
    outcome = forms.ChoiceField(label=_("Decision"), choices=ReviewOutcome.choices, widget=forms.RadioSelect)
    note = forms.CharField(
        label=_("Note"),
        max_length=ReviewDecision._meta.get_field("note").max_length,
        help_text=_("What you checked, and against which source (clinic letter, patient call, ...)."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def service_errors(self, error) -> None:
        for key, messages in error.message_dict.items():
            name = key if key in ("outcome", "note") else None
            for message in messages:
                self.add_error(name, message)
