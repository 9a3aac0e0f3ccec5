"""The find form and the follow-up list's filter: GET forms, so that a search is a link staff can
share; every field optional."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from assessments.models import AmbulationClass
from patients.models import EnrollmentStatus
from patients.variants import VariantError, parse_variant
from workspace.selectors import PatientSearch, countries_of, sites_for


class FindForm(forms.Form):
    q = forms.CharField(
        label=_("Name, registry ID, email or hospital ID"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off", "spellcheck": "false"}),
    )
    status = forms.ChoiceField(label=_("Status"), required=False)
    site = forms.ModelChoiceField(label=_("Site"), queryset=None, required=False, empty_label=_("Any site"))
    country = forms.ChoiceField(label=_("Country of residence"), required=False)
    genotype = forms.CharField(
        label=_("Carries the GNE variant"),
        required=False,
        max_length=200,
        help_text=_("In either numbering, for example M712T, p.Met743Thr or c.2228T>C."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    ambulation_class = forms.TypedChoiceField(
        label=_("Walking at the latest visit"), required=False, coerce=int, empty_value=None
    )
    follow_up_overdue = forms.BooleanField(label=_("Follow-up due"), required=False)
    review_flags = forms.BooleanField(label=_("Records flagged for review"), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", _("Any status")), *EnrollmentStatus.choices]
        self.fields["site"].queryset = sites_for(user)
        # Only countries someone lives in: a list of every country would be long to scroll and to render.
        present = sorted((countries.name(code), code) for code in countries_of(user))
        self.fields["country"].choices = [("", _("Any country")), *((code, name) for name, code in present)]
        self.fields["ambulation_class"].choices = [("", _("Any")), *AmbulationClass.choices]

    def clean_genotype(self):
        text = self.cleaned_data["genotype"].strip()
        if not text:
            return None
        try:
            return parse_variant(text)
        except VariantError as error:
            raise forms.ValidationError(str(error)) from None

    def search(self) -> PatientSearch:
        data = self.cleaned_data
        return PatientSearch(
            text=data["q"],
            status=data["status"],
            site=data["site"],
            country=data["country"],
            variant=data["genotype"],
            ambulation_class=data["ambulation_class"],
            follow_up_overdue=data["follow_up_overdue"],
            review_flags=data["review_flags"],
        )


class FollowUpFilter(forms.Form):
    """The follow-up list's one filter: a site among the member's own."""

    site = forms.ModelChoiceField(label=_("Site"), queryset=None, required=False, empty_label=_("All your sites"))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites_for(user)
