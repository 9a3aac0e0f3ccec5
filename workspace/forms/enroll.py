"""The enroll form: who the person is, where they are followed, and whether they are enrolled yet.

The form checks shapes only; `patients.services.patient_create` and `patient_change_status` check
the dates (not in the future, not before birth), and their messages come back to the fields.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from patients.access import staff_site_ids
from patients.models import EnrollmentStatus, Sex
from registry.dates import today
from workspace.selectors import sites_for


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs={"autocomplete": "off"} | (attrs or {}), format="%Y-%m-%d")


# A new record starts as a candidate, or enrolled at once when consent is already in hand.
STATUS_CHOICES = [
    (EnrollmentStatus.CANDIDATE.value, _("Candidate (not yet enrolled)")),
    (EnrollmentStatus.ENROLLED.value, _("Enrolled")),
]


class EnrollForm(forms.Form):
    # One-time token of this form (registry.idempotency): sent twice, it registers one patient.
    submission = forms.CharField(required=False, max_length=32, widget=forms.HiddenInput)
    given_name = forms.CharField(label=_("Given name"), max_length=150, widget=forms.TextInput({"autocomplete": "off"}))
    family_name = forms.CharField(
        label=_("Family name"), max_length=150, widget=forms.TextInput({"autocomplete": "off"})
    )
    date_of_birth = forms.DateField(
        label=_("Date of birth"),
        widget=DateInput(),
        error_messages={"invalid": _("Enter a date as YYYY-MM-DD, such as 1980-06-15.")},
    )
    sex = forms.ChoiceField(label=_("Sex"), choices=Sex.choices, initial=Sex.UNKNOWN)
    email = forms.EmailField(
        label=_("Email"), required=False, max_length=254, widget=forms.EmailInput({"autocomplete": "off"})
    )
    hospital_id = forms.CharField(
        label=_("Hospital ID"),
        required=False,
        max_length=64,
        help_text=_("The patient's number at their clinic, if known."),
        widget=forms.TextInput({"autocomplete": "off", "spellcheck": "false"}),
    )
    country = forms.ChoiceField(label=_("Country of residence"))
    site = forms.ModelChoiceField(label=_("Site"), queryset=None, required=False, empty_label=_("No site"))
    status = forms.ChoiceField(label=_("Status"), choices=STATUS_CHOICES, initial=EnrollmentStatus.CANDIDATE)
    enrolled_on = forms.DateField(
        label=_("Enrolled on"),
        required=False,
        widget=DateInput(),
        help_text=_("When the status is Enrolled; today if left empty."),
        error_messages={"invalid": _("Enter a date as YYYY-MM-DD, such as 2024-03-01.")},
    )
    # Shown only once possible duplicates have been listed: going on then takes this tick.
    different_person = forms.BooleanField(
        label=_("This is a different person: enroll them as a new patient"), required=False
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = [("", _("Choose a country")), *countries]
        site = self.fields["site"]
        site.queryset = sites_for(user)
        if staff_site_ids(user) is not None:
            # A site-limited member's patient must belong to one of their sites, or they would lose
            # sight of the record they just made.
            site.required = True
            site.empty_label = _("Choose a site")

    def clean_given_name(self):
        return self.cleaned_data["given_name"].strip()

    def clean_family_name(self):
        return self.cleaned_data["family_name"].strip()

    def clean_hospital_id(self):
        return self.cleaned_data["hospital_id"].strip()

    def clean(self):
        data = super().clean()
        if data.get("status") == EnrollmentStatus.CANDIDATE and data.get("enrolled_on"):
            self.add_error("enrolled_on", _("Leave this empty for a candidate, or choose the status Enrolled."))
        return data

    def identity(self) -> dict:
        data = self.cleaned_data
        return {name: data[name] for name in ("given_name", "family_name", "date_of_birth", "email", "hospital_id")}

    def patient_data(self) -> dict:
        data = self.cleaned_data
        return {"sex": data["sex"], "country": data["country"], "site": data["site"]}

    def enrollment_date(self):
        return self.cleaned_data["enrolled_on"] or today()
