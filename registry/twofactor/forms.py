from django import forms
from django.utils.translation import gettext_lazy as _


class CodeForm(forms.Form):
    """A code from the authenticator app, or a recovery code; `services` decides whether it is right."""

    code = forms.CharField(
        label=_("Security code"),
        help_text=_("The 6-digit code your authenticator app shows now, or one of your recovery codes."),
        max_length=40,
        error_messages={
            "required": _("Enter the 6-digit code from your authenticator app, or one of your recovery codes."),
            "max_length": _("A code is 6 digits, and a recovery code 8 letters and digits."),
        },
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )


class SetupCodeForm(CodeForm):
    """The first code from a newly added authenticator app, which confirms it."""

    code = forms.CharField(
        label=_("Code from the app"),
        help_text=_("The 6 digits the app shows for the registry now."),
        max_length=40,
        error_messages={
            "required": _("Enter the 6-digit code your authenticator app shows for the registry."),
            "max_length": _("Enter the 6-digit code your authenticator app shows for the registry."),
        },
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
