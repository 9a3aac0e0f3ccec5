"""Staff forms for entering and correcting every record type (docs/workspace.md, "Entering and
correcting records").

The forms check types and shapes only; every rule is the services' (patients.services,
assessments.services), applied when the form is saved, and their messages are put back at the field
they concern (`service_errors_to_form`). Each form says which service it feeds through `values()`,
what a stored record looks like in its terms (`initial_from`), and how a value reads in the
side-by-side of a stale form (`display`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from assessments.models import (
    FALL_CIRCUMSTANCES,
    IBMFRS_ITEMS,
    IBMFRS_MAX_ITEM_SCORE,
    TIMED_TESTS,
    Ability,
    AmbulationClass,
    Device,
    FvcReference,
    MilestoneKind,
    MuscleGroup,
    Side,
    SixMinuteWalk,
    Source,
    TimedTestStatus,
    WheelchairUse,
)
from assessments.services import ASSESSMENT_FIELDS, COMMENT_MAX_LENGTH
from patients.models import (
    AcmgClass,
    Ancestry,
    ConsentDocument,
    ConsentPurpose,
    EnrollmentStatus,
    FirstSymptom,
    Misdiagnosis,
    Sex,
    TreatmentKind,
)
from patients.services import IDENTITY_FIELDS
from registry.dates import MAX_AGE_YEARS, PartialDate
from registry.models import YesNoUnknown

MAX_COUNT = 1000  # the API's bound on counts: well above any honest count
NUMBERING_CHOICES = [
    ("auto", _("Detect (legacy names of known variants are recognised)")),
    ("current", _("NM_001128227.3 (current)")),
    ("legacy", _("NM_005476 (legacy, 31 amino acids shorter)")),
]
EMPTY_CHOICE = [("", _("Not recorded"))]


# --- Widgets and fields --------------------------------------------------------------------------


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs={"autocomplete": "off"} | (attrs or {}), format="%Y-%m-%d")


class NumberInput(forms.TextInput):
    """A number typed on a phone: numeric keypad, no spinner to nudge a value by mistake."""

    def __init__(self, attrs=None, *, decimal=False):
        base = {"inputmode": "decimal" if decimal else "numeric", "autocomplete": "off", "spellcheck": "false"}
        super().__init__(attrs=base | (attrs or {}))


def count_field(label, *, help_text="") -> forms.IntegerField:
    return forms.IntegerField(
        label=label, required=False, min_value=0, max_value=MAX_COUNT, help_text=help_text, widget=NumberInput()
    )


def integer_field(label, *, low=0, high=None, help_text="", required=False) -> forms.IntegerField:
    return forms.IntegerField(
        label=label, required=required, min_value=low, max_value=high, help_text=help_text, widget=NumberInput()
    )


def decimal_field(label, *, places=1, digits=5, help_text="") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        max_digits=digits,
        decimal_places=places,
        help_text=help_text,
        widget=NumberInput(decimal=True),
    )


def choice_field(label, choices, *, required=False, coerce=str, help_text="", radio=False) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        choices=choices if required else [*EMPTY_CHOICE, *choices],
        coerce=coerce,
        empty_value=None if coerce is int else "",
        required=required,
        help_text=help_text,
        widget=forms.RadioSelect if radio else forms.Select,
    )


def checkboxes(label, choices, *, help_text="") -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=label, choices=choices, required=False, help_text=help_text, widget=forms.CheckboxSelectMultiple
    )


class PartialDateField(forms.CharField):
    """A date known to the day, the month or the year ("2015", "2015-03", "2015-03-14")."""

    def __init__(self, *, label, required=False, help_text=None):
        super().__init__(
            label=label,
            required=required,
            help_text=help_text or _("YYYY, YYYY-MM or YYYY-MM-DD: as much as is known."),
            widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "inputmode": "numeric"}),
        )

    def clean(self, value):
        text = super().clean(value)
        if not text:
            return ""
        try:
            return str(PartialDate.parse(text))
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None


def partial_date_values(text: str, name: str) -> dict:
    """A partial date field's text as the model's date and precision fields."""
    partial = PartialDate.parse(text) if text else None
    return {name: partial.date if partial else None, f"{name}_precision": partial.precision if partial else ""}


def partial_date_text(date: dt.date | None, precision: str) -> str:
    partial = PartialDate.from_stored(date, precision)
    return str(partial) if partial else ""


# --- The common part of every record form ----------------------------------------------------------


class RecordForm(forms.Form):
    """What every record form shares: service messages mapped back to fields, and readable values.

    `service_fields` maps a service's error keys to this form's fields where their names differ
    (`identity.date_of_birth` -> `date_of_birth`, `onset_date_precision` -> `onset_date`); a key
    that names no field here becomes a message for the whole form, so nothing is lost.
    """

    # One-time token of this form (registry.idempotency): sent twice, it saves once.
    submission = forms.CharField(required=False, max_length=32, widget=forms.HiddenInput)

    service_fields: dict[str, str] = {}
    # Fields of the side-by-side comparison; all but the hidden ones by default.
    compared_fields: tuple[str, ...] | None = None

    def service_errors(self, error) -> None:
        """Put a service ValidationError's messages on the fields they concern."""
        by_key = error.message_dict if hasattr(error, "error_dict") else {NON_FIELD_ERRORS: error.messages}
        for key, messages in by_key.items():
            name = self.service_fields.get(key, key)
            if name not in self.fields or self.fields[name].widget.is_hidden:
                name = None
            for message in messages:
                self.add_error(name, message)

    def display(self, name: str, value) -> str:
        """A value of field `name` as a person reads it: choice labels, Yes/No, dashes for nothing."""
        field = self.fields[name]
        if value in (None, "", []):
            return "—"
        if isinstance(value, bool):
            return str(_("Yes") if value else _("No"))
        if isinstance(value, models.Model):  # a site or a document: its name, without listing the choices
            return str(value)
        choices = {str(key): label for key, label in getattr(field, "choices", ()) if not isinstance(label, list)}
        if isinstance(value, list | tuple):
            return ", ".join(str(choices.get(str(item), item)) for item in value)
        if choices:
            return str(choices.get(str(getattr(value, "pk", value)), value))
        if isinstance(value, Decimal):
            return f"{value.normalize():f}"
        return str(value)

    def comparison(self, saved: dict) -> list[dict]:
        """Rows of the side-by-side shown on a stale form: the value saved now and the value typed,
        for every field where they differ. `saved` is `initial_from` of the record as it is now."""
        rows = []
        names = self.compared_fields or [name for name, field in self.fields.items() if not field.widget.is_hidden]
        for name in names:
            now, typed = self.display(name, saved.get(name)), self.display(name, self.cleaned_data.get(name))
            if now != typed:
                rows.append({"label": self.fields[name].label, "saved": now, "typed": typed})
        return rows


class VersionedForm(RecordForm):
    """An edit form: it carries the version of the record it was opened on (docs/workspace.md,
    "Someone else changed this record")."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


# --- Patient ---------------------------------------------------------------------------------------


class PatientForm(VersionedForm):
    given_name = forms.CharField(label=_("Given name"), max_length=150, required=False)
    family_name = forms.CharField(label=_("Family name"), max_length=150, required=False)
    date_of_birth = forms.DateField(label=_("Date of birth"), required=False, widget=DateInput())
    date_of_death = forms.DateField(label=_("Date of death"), required=False, widget=DateInput())
    sex = choice_field(_("Sex"), Sex.choices, required=True)
    country = forms.ChoiceField(label=_("Country of residence"), choices=[("", "—"), *countries])
    site = forms.ModelChoiceField(label=_("Site"), queryset=None, required=False, empty_label=_("No site"))
    ancestry = checkboxes(_("Ancestry"), Ancestry.choices, help_text=_("Several may apply."))
    consanguinity = choice_field(_("Consanguinity of the parents"), YesNoUnknown.choices, required=True)
    affected_relatives = choice_field(_("Affected relatives"), YesNoUnknown.choices, required=True)
    email = forms.EmailField(label=_("Email"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    postal_address = forms.CharField(
        label=_("Postal address"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    national_id = forms.CharField(label=_("National id"), max_length=64, required=False)
    hospital_id = forms.CharField(label=_("Hospital id"), max_length=64, required=False)

    service_fields = {f"identity.{name}": name for name in IDENTITY_FIELDS}

    def __init__(self, *args, sites, with_identity=True, **kwargs):
        super().__init__(*args, **kwargs)
        # A site-limited member chooses among their own sites: moving a patient elsewhere would hide it from them.
        self.fields["site"].queryset = sites
        if not with_identity:
            for name in IDENTITY_FIELDS:
                del self.fields[name]

    @property
    def has_identity(self) -> bool:
        return "given_name" in self.fields

    @staticmethod
    def initial_from(patient) -> dict:
        identity = getattr(patient, "identity", None)
        return {
            "version": patient.version,
            "sex": patient.sex,
            "country": patient.country.code if patient.country else "",
            "site": patient.site,
            "ancestry": list(patient.ancestry or []),
            "consanguinity": patient.consanguinity,
            "affected_relatives": patient.affected_relatives,
            **{name: getattr(identity, name) if identity else None for name in IDENTITY_FIELDS},
        }

    def values(self) -> tuple[dict, dict]:
        data = self.cleaned_data
        patient = {name: data[name] for name in ("sex", "country", "consanguinity", "affected_relatives", "site")}
        patient["ancestry"] = sorted(set(data["ancestry"]))
        return patient, {name: data[name] for name in IDENTITY_FIELDS} if self.has_identity else None


class StatusForm(RecordForm):
    status = choice_field(_("New status"), EnrollmentStatus.choices, required=True)
    effective_date = forms.DateField(label=_("Effective from"), widget=DateInput())
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False)

    def __init__(self, *args, allowed=(), **kwargs):
        super().__init__(*args, **kwargs)
        # Only the statuses that may follow the current one (patients.services.STATUS_TRANSITIONS).
        self.fields["status"].choices = [
            (value, label) for value, label in EnrollmentStatus.choices if value in allowed
        ]


# --- Diagnosis -------------------------------------------------------------------------------------


class DiagnosisForm(VersionedForm):
    genetically_confirmed = forms.BooleanField(label=_("Genetically confirmed"), required=False)
    onset_date = PartialDateField(label=_("Symptom onset"))
    onset_age = integer_field(
        _("Age at onset (years)"),
        high=MAX_AGE_YEARS,
        help_text=_("Only when no onset date is known; otherwise it is computed from the date."),
    )
    first_symptom = choice_field(_("First symptom"), FirstSymptom.choices, required=True)
    genetic_diagnosis_date = PartialDateField(label=_("Genetic diagnosis"))
    prior_misdiagnoses = checkboxes(_("Earlier diagnoses that proved wrong"), Misdiagnosis.choices)
    biopsy_done = choice_field(_("Muscle biopsy done"), YesNoUnknown.choices, required=True)
    rimmed_vacuoles = choice_field(_("Rimmed vacuoles on biopsy"), YesNoUnknown.choices, required=True)
    ck_at_diagnosis = integer_field(_("CK at diagnosis (U/L)"), high=100_000)

    service_fields = {
        "onset_date_precision": "onset_date",
        "genetic_diagnosis_date_precision": "genetic_diagnosis_date",
        "patient": NON_FIELD_ERRORS,
    }

    def __init__(self, *args, creating=False, **kwargs):
        super().__init__(*args, **kwargs)
        if creating:
            del self.fields["version"]

    @staticmethod
    def initial_from(diagnosis) -> dict:
        onset = partial_date_text(diagnosis.onset_date, diagnosis.onset_date_precision)
        return {
            "version": diagnosis.version,
            "genetically_confirmed": diagnosis.genetically_confirmed,
            "onset_date": onset,
            # A computed age is not shown as if typed: a changed onset date recomputes it.
            "onset_age": None if onset else diagnosis.onset_age,
            "first_symptom": diagnosis.first_symptom,
            "genetic_diagnosis_date": partial_date_text(
                diagnosis.genetic_diagnosis_date, diagnosis.genetic_diagnosis_date_precision
            ),
            "prior_misdiagnoses": list(diagnosis.prior_misdiagnoses or []),
            "biopsy_done": diagnosis.biopsy_done,
            "rimmed_vacuoles": diagnosis.rimmed_vacuoles,
            "ck_at_diagnosis": diagnosis.ck_at_diagnosis,
        }

    def values(self) -> dict:
        data = self.cleaned_data
        values = {
            name: data[name]
            for name in ("genetically_confirmed", "onset_age", "first_symptom", "biopsy_done", "rimmed_vacuoles")
        }
        values |= partial_date_values(data["onset_date"], "onset_date")
        values |= partial_date_values(data["genetic_diagnosis_date"], "genetic_diagnosis_date")
        values["prior_misdiagnoses"] = sorted(set(data["prior_misdiagnoses"]))
        values["ck_at_diagnosis"] = data["ck_at_diagnosis"]
        return values


# --- Genotype --------------------------------------------------------------------------------------


class GenotypeForm(VersionedForm):
    allele1 = forms.CharField(
        label=_("First variant"),
        max_length=200,
        help_text=_("As the report gives it: HGVS (c. and/or p.) or a legacy name such as M712T."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    allele1_numbering = choice_field(_("Numbering of the first variant"), NUMBERING_CHOICES, required=True)
    allele1_acmg_class = choice_field(_("ACMG class of the first variant"), AcmgClass.choices)
    allele2 = forms.CharField(
        label=_("Second variant"),
        max_length=200,
        required=False,
        help_text=_("The same one again if homozygous; leave blank if the second variant was not found."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    allele2_numbering = choice_field(_("Numbering of the second variant"), NUMBERING_CHOICES, required=True)
    allele2_acmg_class = choice_field(_("ACMG class of the second variant"), AcmgClass.choices)
    second_allele_not_found = forms.BooleanField(label=_("Second variant not found"), required=False)

    service_fields = {"patient": NON_FIELD_ERRORS}

    def __init__(self, *args, creating=False, **kwargs):
        kwargs.setdefault("initial", {"allele1_numbering": "auto", "allele2_numbering": "auto"})
        super().__init__(*args, **kwargs)
        if creating:
            del self.fields["version"]

    @staticmethod
    def initial_from(genotype) -> dict:
        return {
            "version": genotype.version,
            "allele1": genotype.allele1_entered_as,
            "allele1_numbering": genotype.allele1_entered_numbering or "auto",
            "allele1_acmg_class": genotype.allele1_acmg_class,
            "allele2": genotype.allele2_entered_as,
            "allele2_numbering": genotype.allele2_entered_numbering or "auto",
            "allele2_acmg_class": genotype.allele2_acmg_class,
            "second_allele_not_found": genotype.second_allele_not_found,
        }

    def values(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if name not in ("version", "submission")}


# --- Assessment ("enter a visit") ------------------------------------------------------------------

IBMFRS_LABELS = {
    "ibmfrs_swallowing": _("Swallowing"),
    "ibmfrs_handwriting": _("Handwriting"),
    "ibmfrs_cutting_food": _("Cutting food and handling utensils"),
    "ibmfrs_fine_motor": _("Fine motor tasks"),
    "ibmfrs_dressing": _("Dressing"),
    "ibmfrs_hygiene": _("Hygiene"),
    "ibmfrs_turning_in_bed": _("Turning in bed and adjusting covers"),
    "ibmfrs_sit_to_stand": _("Sit to stand"),
    "ibmfrs_walking": _("Walking"),
    "ibmfrs_climbing_stairs": _("Climbing stairs"),
}
IBMFRS_SCORES = [(score, str(score)) for score in range(IBMFRS_MAX_ITEM_SCORE, -1, -1)]
TIMED_TEST_NAMES = {
    "ten_metre_walk_status": _("10-metre walk"),
    "timed_up_and_go_status": _("Timed up-and-go"),
    "stair_climb_status": _("Timed stair climb"),
}
# Entered here: every field of ASSESSMENT_FIELDS but the IBMFRS version (the current one is stored).
# Hand-held dynamometry and manual muscle testing (rows per muscle and side) go through the API.
ASSESSMENT_FORM_FIELDS = tuple(name for name in ASSESSMENT_FIELDS if name != "ibmfrs_version")
# Hand-held dynamometry on the visit form: one field per muscle group and side, as the clinic's sheet
# has them (the service's rows: {muscle_group, side, kg}); a blank field is not measured.
HHD_FIELDS = {f"hhd_{group}_{side}": (group, side) for group in MuscleGroup.values for side in Side.values}
# How the page groups them, each group a fieldset.
ASSESSMENT_SECTIONS = (
    (_("Visit"), ("assessment_date", "source")),
    (_("Mobility"), ("ambulation_class", "devices", "wheelchair_use", "ambulation_regain_confirmed")),
    (
        _("Falls since the last visit"),
        ("falls_count", "injurious_falls_count", "fractures_count", *FALL_CIRCUMSTANCES),
    ),
    (
        _("Timed tests"),
        (
            "six_minute_walk_status",
            "six_minute_walk_m",
            *(name for test in TIMED_TESTS.items() for name in test),
            "stair_climb_steps",
        ),
    ),
    (_("IBMFRS"), tuple(IBMFRS_ITEMS)),
    (_("Daily activities"), ("raise_arms_above_head", "rise_from_chair")),
    (
        _("Strength, lung function, balance and laboratory"),
        (
            "grip_left_kg",
            "grip_right_kg",
            "pinch_left_kg",
            "pinch_right_kg",
            "fvc_percent_predicted",
            "fvc_litres",
            "fvc_reference_equation",
            "abc_total_percent",
            "ck_u_per_l",
        ),
    ),
    (_("Hand-held dynamometry (kg)"), tuple(HHD_FIELDS)),
    (_("Treatments and comment"), ("treatments_taken", "comment")),
)


class AssessmentForm(VersionedForm):
    assessment_date = forms.DateField(label=_("Date of the visit"), widget=DateInput())
    source = choice_field(_("Source"), Source.choices, required=True)
    ambulation_class = choice_field(_("Ambulation"), AmbulationClass.choices, coerce=int)
    devices = checkboxes(_("Devices used"), Device.choices)
    wheelchair_use = choice_field(_("Wheelchair use"), WheelchairUse.choices)
    ambulation_regain_confirmed = forms.BooleanField(
        label=_("Clinician confirms walking again after full-time wheelchair use"), required=False
    )
    falls_count = count_field(_("Falls"))
    injurious_falls_count = count_field(_("Of which injurious"))
    fractures_count = count_field(_("Of which with a fracture"))
    falls_indoors_count = count_field(_("Of the falls, indoors"))
    falls_outdoors_count = count_field(_("Of the falls, outdoors"))
    falls_transfer_count = count_field(_("Of the falls, during a transfer"))
    six_minute_walk_status = choice_field(_("6-minute walk"), SixMinuteWalk.choices)
    six_minute_walk_m = integer_field(_("6-minute walk distance (m)"))
    ten_metre_walk_status = choice_field(TIMED_TEST_NAMES["ten_metre_walk_status"], TimedTestStatus.choices)
    ten_metre_walk_s = decimal_field(_("10-metre walk time (s)"), digits=4)
    timed_up_and_go_status = choice_field(TIMED_TEST_NAMES["timed_up_and_go_status"], TimedTestStatus.choices)
    timed_up_and_go_s = decimal_field(_("Timed up-and-go time (s)"), digits=4)
    stair_climb_status = choice_field(TIMED_TEST_NAMES["stair_climb_status"], TimedTestStatus.choices)
    stair_climb_s = decimal_field(_("Stair climb time (s)"), digits=4)
    stair_climb_steps = integer_field(_("Steps climbed"))
    raise_arms_above_head = choice_field(_("Raises arms above the head"), Ability.choices)
    rise_from_chair = choice_field(_("Rises from a chair"), Ability.choices)
    grip_left_kg = decimal_field(_("Grip, left (kg)"))
    grip_right_kg = decimal_field(_("Grip, right (kg)"))
    pinch_left_kg = decimal_field(_("Key pinch, left (kg)"), digits=4)
    pinch_right_kg = decimal_field(_("Key pinch, right (kg)"), digits=4)
    fvc_percent_predicted = decimal_field(_("FVC (% predicted)"))
    fvc_litres = decimal_field(_("FVC (litres)"), places=2, digits=4)
    fvc_reference_equation = choice_field(_("FVC reference equation"), FvcReference.choices)
    abc_total_percent = decimal_field(_("ABC scale total (%)"), digits=4)
    ck_u_per_l = integer_field(_("CK (U/L)"))
    treatments_taken = checkboxes(_("Treatments taken since the last visit"), TreatmentKind.choices)
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=COMMENT_MAX_LENGTH,
        help_text=_("Free text; never exported for research."),
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    service_fields = {"patient": NON_FIELD_ERRORS}

    def __init__(self, *args, creating=False, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in IBMFRS_LABELS.items():
            self.fields[name] = choice_field(label, IBMFRS_SCORES, coerce=int, help_text=_("4 = normal, 0 = unable."))
        for name, (group, side) in HHD_FIELDS.items():
            label = _("%(muscle)s, %(side)s") % {"muscle": MuscleGroup(group).label, "side": Side(side).label.lower()}
            self.fields[name] = decimal_field(label, digits=4)
        if creating:
            del self.fields["version"]

    def service_errors(self, error) -> None:
        """As every record form, with the service's dynamometry rows ("dynamometry.3.kg") put back at
        the field of that muscle and side."""
        if hasattr(error, "error_dict"):
            fields = [name for name, _ in self.dynamometry_rows()]
            renamed = {}
            for key, messages in error.message_dict.items():
                parts = key.split(".")
                if parts[0] == "dynamometry" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(fields):
                    key = fields[int(parts[1])]
                renamed.setdefault(key, []).extend(messages)
            error = ValidationError(renamed)
        super().service_errors(error)

    def dynamometry_rows(self) -> list[tuple[str, dict]]:
        """(field, the service's row) for each dynamometry field filled in, in the form's order."""
        data = getattr(self, "cleaned_data", {})
        return [
            (name, {"muscle_group": group, "side": side, "kg": data[name]})
            for name, (group, side) in HHD_FIELDS.items()
            if data.get(name) is not None
        ]

    def dynamometry(self) -> list[dict]:
        return [row for _name, row in self.dynamometry_rows()]

    def sections(self):
        """The fields grouped as the page shows them (ASSESSMENT_SECTIONS)."""
        return [(title, [self[name] for name in names]) for title, names in ASSESSMENT_SECTIONS]

    @staticmethod
    def initial_from(assessment) -> dict:
        measured = {f"hhd_{row.muscle_group}_{row.side}": row.kg for row in assessment.dynamometry.all()}
        return (
            {"version": assessment.version}
            | {name: getattr(assessment, name) for name in ASSESSMENT_FORM_FIELDS}
            | measured
        )

    def values(self) -> dict:
        data = self.cleaned_data
        values = {name: data[name] for name in ASSESSMENT_FORM_FIELDS}
        values["devices"] = [code for code in Device.values if code in data["devices"]]
        values["treatments_taken"] = [code for code in TreatmentKind.values if code in data["treatments_taken"]]
        return values


# --- Treatment -------------------------------------------------------------------------------------


class TreatmentForm(VersionedForm):
    kind = choice_field(_("Treatment"), TreatmentKind.choices, required=True)
    in_clinical_trial = forms.BooleanField(label=_("Taken in a clinical trial"), required=False)
    trial_registration = forms.CharField(
        label=_("Trial registration"), max_length=40, required=False, help_text=_("e.g. NCT02346461")
    )
    start_date = PartialDateField(label=_("Started"), required=True)
    stop_date = PartialDateField(
        label=_("Stopped"), help_text=_("Leave blank while it goes on. YYYY, YYYY-MM or YYYY-MM-DD.")
    )

    service_fields = {"start_date_precision": "start_date", "stop_date_precision": "stop_date"}

    def __init__(self, *args, creating=False, **kwargs):
        super().__init__(*args, **kwargs)
        if creating:
            del self.fields["version"]

    @staticmethod
    def initial_from(treatment) -> dict:
        return {
            "version": treatment.version,
            "kind": treatment.kind,
            "in_clinical_trial": treatment.in_clinical_trial,
            "trial_registration": treatment.trial_registration,
            "start_date": partial_date_text(treatment.start_date, treatment.start_date_precision),
            "stop_date": partial_date_text(treatment.stop_date, treatment.stop_date_precision),
        }

    def values(self) -> dict:
        data = self.cleaned_data
        values = {name: data[name] for name in ("kind", "in_clinical_trial", "trial_registration")}
        values |= partial_date_values(data["start_date"], "start_date")
        values |= partial_date_values(data["stop_date"], "stop_date")
        return values


# --- Milestone (reported) --------------------------------------------------------------------------


class MilestoneForm(VersionedForm):
    kind = choice_field(_("Milestone"), MilestoneKind.choices, required=True)
    date = PartialDateField(label=_("When it was reached"))
    age_years = integer_field(_("Or the age it was reached at (years)"), high=MAX_AGE_YEARS)
    skipped = forms.BooleanField(label=_("This step never happened (skipped)"), required=False)

    service_fields = {"date_precision": "date"}

    def __init__(self, *args, creating=False, **kwargs):
        super().__init__(*args, **kwargs)
        if creating:
            del self.fields["version"]
        else:
            del self.fields["kind"]  # a milestone's kind never changes (assessments.services.milestone_update)

    @staticmethod
    def initial_from(milestone) -> dict:
        return {
            "version": milestone.version,
            "date": partial_date_text(milestone.date, milestone.date_precision),
            "age_years": milestone.age_years,
            "skipped": milestone.skipped,
        }

    def values(self) -> dict:
        data = self.cleaned_data
        values = {"age_years": data["age_years"], "skipped": data["skipped"]}
        values |= partial_date_values(data["date"], "date")
        if "kind" in data:
            values["kind"] = data["kind"]
        return values


# --- Consent on paper ------------------------------------------------------------------------------


class ConsentDocumentChoice(forms.ModelChoiceField):
    def label_from_instance(self, document):
        return f"{document.title} v{document.version} ({document.code}, {document.effective_from:%Y-%m-%d})"


class ConsentGrantForm(RecordForm):
    document = ConsentDocumentChoice(
        label=_("Consent document signed"), queryset=ConsentDocument.objects.order_by("code", "-effective_from")
    )
    purposes = forms.MultipleChoiceField(
        label=_("Purposes consented to"),
        choices=ConsentPurpose.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("As ticked on the signed form; each must be one the document asks for."),
    )
    granted_on = forms.DateField(label=_("Date signed"), widget=DateInput())


class ConsentWithdrawalForm(RecordForm):
    purpose = choice_field(_("Consent withdrawn"), ConsentPurpose.choices, required=True, radio=True)
    withdrawn_on = forms.DateField(label=_("Withdrawal takes effect on"), widget=DateInput())
