"""Forms of the account pages: accepting an invitation, asking for a new link, registering.

They check that each value has the right shape and that the two passwords match; the rules
(password strength, a free username, consent) are portal.invitations', whose errors
`add_service_error` puts next to the fields they concern.
"""

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import NON_FIELD_ERRORS
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from patients.models import ConsentDocument
from portal.invitations import consent_purposes
from registry.errors import ValidationError


def _password_hint() -> str:
    return " ".join(str(text) for text in password_validation.password_validators_help_texts())


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


# The model's labels are the staff's wording, untranslated; patients read these, in their language.
_PURPOSE_LABELS = {
    "research": _("Research use of my de-identified data"),
    "recontact": _("Being contacted again about the registry and about studies"),
    "trial_matching": _("Being matched to clinical trials I may be able to join"),
}


def _consent_label(value: str, label: str):
    return _PURPOSE_LABELS.get(value, label)


class InvitationAcceptForm(forms.Form):
    """A new login: consent to the current document's purposes, a username, the password twice.

    Passwords are never shown again after an error (PasswordInput does not render its value).
    """

    # A service error key -> the form field that shows it.
    service_fields = {"password": "password1"}

    purposes = forms.MultipleChoiceField(
        label=_("What you agree to"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Each is optional: tick only what you agree to. You can withdraw any of them later."),
    )
    # The version of the consent document the page showed (the template writes it).
    consent_document = forms.IntegerField(label=_("Consent document version"), widget=forms.HiddenInput, required=False)
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        help_text=_("You will log in with it. Your email address is fine."),
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        max_length=4096,
        help_text=_("Type the same password again, to be sure of it."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, document: ConsentDocument | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.document = document
        self.fields["password1"].help_text = _password_hint()
        if document is None:
            del self.fields["purposes"]
        else:
            self.fields["purposes"].choices = [
                (value, _consent_label(value, label)) for value, label in consent_purposes(document)
            ]

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords are different; type the same one twice."))
        return cleaned

    def account_data(self) -> dict:
        """What the sign-up services take about the login and the consent."""
        return {
            "username": self.cleaned_data["username"],
            "password": self.cleaned_data["password1"],
            "purposes": self.cleaned_data.get("purposes", []),
            "consent_document_shown": self.cleaned_data.get("consent_document"),
        }

    def add_service_error(self, error: ValidationError) -> None:
        """Show a service's errors next to their fields, the rest at the top."""
        by_field = error.message_dict if hasattr(error, "error_dict") else {NON_FIELD_ERRORS: error.messages}
        for key, messages in by_field.items():
            name = self.service_fields.get(key, key)
            for message in messages:
                self.add_error(name if name in self.fields else None, message)


class RegistrationForm(InvitationAcceptForm):
    """Self-registration: who the person is, then the same consent and login as an invitation."""

    given_name = forms.CharField(
        label=_("Given name"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "given-name"})
    )
    family_name = forms.CharField(
        label=_("Family name"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "family-name"})
    )
    date_of_birth = forms.DateField(
        label=_("Date of birth"),
        help_text=_("For example 1984-03-27."),
        widget=DateInput(attrs={"autocomplete": "bday"}),
    )
    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        help_text=_("We send messages about your record here, and password resets."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    country = forms.ChoiceField(
        label=_("Country you live in"),
        choices=lambda: [("", _("Choose a country")), *countries],
        widget=forms.Select(attrs={"autocomplete": "country"}),
    )

    # The order of the page, which the error summary follows.
    field_order = ["given_name", "family_name", "date_of_birth", "email", "country", "purposes", "username"]

    def identity(self) -> dict:
        return {name: self.cleaned_data[name] for name in ("given_name", "family_name", "date_of_birth", "email")}


class InvitationRenewForm(forms.Form):
    email = forms.EmailField(
        label=_("Your email address"),
        max_length=254,
        help_text=_("The address the registry team has for you."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
