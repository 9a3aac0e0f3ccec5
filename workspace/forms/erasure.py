from django import forms
from django.utils.translation import gettext_lazy as _

from workspace.forms.records import RecordForm


class ErasureForm(RecordForm):
    """The second confirmation of an erasure: the patient's registry id typed again.

    A record form for its handling of service errors: the registry id's message goes to its field,
    a refused confirmation (the hidden token) to the whole form.
    """

    token = forms.CharField(widget=forms.HiddenInput, max_length=1000)
    registry_id = forms.CharField(
        label=_("Type the patient's registry ID to confirm"),
        max_length=64,
        widget=forms.TextInput({"autocomplete": "off", "spellcheck": "false"}),
    )
