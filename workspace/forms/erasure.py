from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.utils.translation import gettext_lazy as _


class ErasureForm(forms.Form):
    """The second confirmation of an erasure: the patient's registry id typed again."""

    token = forms.CharField(widget=forms.HiddenInput, max_length=1000)
    registry_id = forms.CharField(
        label=_("Type the patient's registry ID to confirm"),
        max_length=64,
        widget=forms.TextInput({"autocomplete": "off", "spellcheck": "false"}),
    )

    def service_errors(self, error) -> None:
        """The service's messages: the registry id at its field, a stale confirmation for the whole form."""
        by_key = error.message_dict if hasattr(error, "error_dict") else {NON_FIELD_ERRORS: error.messages}
        for key, messages in by_key.items():
            for message in messages:
                self.add_error("registry_id" if key == "registry_id" else None, message)
