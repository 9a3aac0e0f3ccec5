"""The cohort form of the research pages. It checks only that each value has the right type; the
rules (ranges, allowed combinations) are research.cohort's, applied by the export service."""

import itertools

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from assessments.models import AmbulationClass
from patients.models import EnrollmentStatus
from registry.errors import ValidationError
from research.cohort import DEFAULT_STATUSES, EXPORTABLE_STATUSES, MAX_AGE, country_regions, domain_names

GENOTYPE_GROUP_CHOICES = [
    ("", _("Any genotype")),
    ("homozygous", _("Homozygous")),
    ("homozygous_founder", _("Homozygous for a founder variant")),
    ("compound_heterozygous", _("Compound heterozygous")),
    ("single_variant", _("Single variant found")),
]


def domain_pair_choices() -> list[tuple[str, str]]:
    pairs = itertools.combinations_with_replacement(domain_names(), 2)
    return [("", _("Any domains")), *((f"{a}/{b}", f"{a} / {b}") for a, b in pairs)]


def region_choices() -> list[tuple[str, str]]:
    """Each UN M49 region, followed by its sub-regions."""
    sub_regions: dict[str, set[str]] = {}
    for entry in country_regions().values():
        sub_regions.setdefault(entry["region"], set()).add(entry["sub_region"])
    choices = []
    for region in sorted(sub_regions):
        choices.append((region, _("%(region)s (whole region)") % {"region": region}))
        choices.extend((name, name) for name in sorted(sub_regions[region] - {region}))
    return choices


def country_choices() -> list[tuple[str, str]]:
    return [(code, f"{name} ({code})") for code, name in countries]


def status_choices() -> list[tuple[str, str]]:
    return [(status.value, status.label) for status in EnrollmentStatus if status.value in EXPORTABLE_STATUSES]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self):
        super().__init__(format="%Y-%m-%d")


class CohortForm(forms.Form):
    genotype_group = forms.ChoiceField(label=_("Genotype group"), choices=GENOTYPE_GROUP_CHOICES, required=False)
    domain_pair = forms.ChoiceField(
        label=_("Protein domains of the two alleles"), choices=domain_pair_choices, required=False
    )
    variant = forms.CharField(
        label=_("Carries the variant"),
        required=False,
        max_length=100,
        help_text=_("In current or legacy numbering, e.g. M743T, M712T or c.2228T>C."),
    )
    onset_age_min = forms.IntegerField(
        label=_("Onset age from (years)"), required=False, min_value=0, max_value=MAX_AGE
    )
    onset_age_max = forms.IntegerField(label=_("Onset age to (years)"), required=False, min_value=0, max_value=MAX_AGE)
    countries = forms.MultipleChoiceField(
        label=_("Countries of residence"),
        choices=country_choices,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_("Hold Ctrl (Cmd on a Mac) to choose more than one. None chosen means every country."),
    )
    regions = forms.MultipleChoiceField(
        label=_("World regions (UN M49)"),
        choices=region_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Adds every country of the region to the countries chosen above."),
    )
    baseline_ambulation = forms.TypedMultipleChoiceField(
        label=_("Ambulation at the first assessment"),
        choices=AmbulationClass.choices,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None chosen means any."),
    )
    assessed_from = forms.DateField(label=_("Assessed on or after"), required=False, widget=DateInput())
    assessed_to = forms.DateField(label=_("Assessed on or before"), required=False, widget=DateInput())
    statuses = forms.MultipleChoiceField(
        label=_("Enrollment status"),
        choices=status_choices,
        required=False,
        initial=list(DEFAULT_STATUSES),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None chosen means enrolled and lost to follow-up. Withdrawn patients are never exported."),
    )
    include_ancestry = forms.BooleanField(label=_("Include ancestry"), required=False)

    def __init__(self, *args, ancestry_allowed: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not ancestry_allowed:
            del self.fields["include_ancestry"]

    def cohort(self) -> dict:
        """The cohort definition in the shape research.cohort.cohort_clean reads (dates as ISO text)."""
        data = {name: value for name, value in self.cleaned_data.items() if name != "include_ancestry"}
        for name in ("assessed_from", "assessed_to"):
            data[name] = data[name].isoformat() if data[name] else None
        return data

    def add_service_error(self, error: ValidationError) -> None:
        """Show a service's errors next to their fields ("cohort.onset_age_max"), the rest at the top."""
        by_field = error.message_dict if hasattr(error, "error_dict") else {NON_FIELD_ERRORS: error.messages}
        for key, messages in by_field.items():
            name = key.removeprefix("cohort.")
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
