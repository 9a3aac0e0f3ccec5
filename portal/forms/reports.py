"""The steps of a patient's self-report (docs/patient-reports.md). Each step's form checks types and
shapes only; the rules (no future date, injurious falls within falls, ...) are the assessment
services', applied when the report is sent, and their messages are brought back to the step and
field they concern.

Every form field is named after the assessment field it answers, so that answers, drafts and the
services' error messages all use the same names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

from django import forms
from django.utils import formats
from django.utils.translation import gettext_lazy as _

from assessments.models import IBMFRS_MAX_ITEM_SCORE, Ability, AmbulationClass, Device, WheelchairUse
from assessments.services import COMMENT_MAX_LENGTH
from patients.models import TreatmentKind

# Well above any honest count, low enough to catch a slip of the finger; the API has the same bound.
MAX_COUNT = 1000


class CountInput(forms.TextInput):
    """A count typed on a phone: the numeric keypad, no spinner to nudge by mistake, no autofill."""

    def __init__(self, attrs=None):
        base = {
            "inputmode": "numeric",
            "pattern": "[0-9]*",
            "autocomplete": "off",
            "spellcheck": "false",
            "class": "input--count",
        }
        super().__init__(attrs=base | (attrs or {}))


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs={"autocomplete": "off"} | (attrs or {}), format="%Y-%m-%d")


def count_field(label, *, required=False, help_text="") -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=required,
        min_value=0,
        max_value=MAX_COUNT,
        help_text=help_text,
        widget=CountInput(),
        error_messages={
            "required": _("Enter a number; enter 0 if none."),
            "invalid": _("Enter a whole number, such as 0, 1 or 2."),
            "min_value": _("Enter 0 or more."),
            "max_value": _("Enter %(limit_value)s or fewer."),
        },
    )


def radio_field(label, choices, *, required=False, coerce=str, help_text="") -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        choices=choices,
        coerce=coerce,
        empty_value=None if coerce is int else "",
        required=required,
        help_text=help_text,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose one of the answers."),
            "invalid_choice": _("Choose one of the answers shown."),
        },
    )


def checkbox_field(label, choices, *, help_text="") -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=label,
        choices=choices,
        required=False,
        help_text=help_text,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": _("Choose from the answers shown.")},
    )


# --- Plain-language answers --------------------------------------------------------------------

AMBULATION_CHOICES = [
    (AmbulationClass.UNAIDED, _("I walk without any aid")),
    (AmbulationClass.AFO_ONLY, _("I walk with leg braces (AFOs), but no cane or walker")),
    (AmbulationClass.CANE, _("I walk with a cane or crutch")),
    (AmbulationClass.WALKER, _("I walk with a walker or rollator")),
    (AmbulationClass.WHEELCHAIR_PART_TIME, _("I use a wheelchair part of the time, and still walk some of the time")),
    (AmbulationClass.WHEELCHAIR_FULL_TIME, _("I use a wheelchair all the time and no longer walk")),
]
DEVICE_CHOICES = [
    (Device.AFO, _("Ankle-foot orthoses (leg braces)")),
    (Device.CANE, _("Cane or crutch")),
    (Device.WALKER, _("Walker or rollator")),
    (Device.MANUAL_WHEELCHAIR, _("Manual wheelchair")),
    (Device.POWER_WHEELCHAIR, _("Power wheelchair")),
    (Device.SCOOTER, _("Mobility scooter")),
]
WHEELCHAIR_CHOICES = [
    (WheelchairUse.NONE, _("I do not use a wheelchair")),
    (WheelchairUse.PART_TIME, _("Part of the time")),
    (WheelchairUse.FULL_TIME, _("All the time")),
]
ABILITY_CHOICES = [
    (Ability.ABLE, _("Yes, without difficulty")),
    (Ability.WITH_DIFFICULTY, _("Yes, but with difficulty or with help")),
    (Ability.UNABLE, _("No, I cannot")),
]
TREATMENT_CHOICES = [
    (TreatmentKind.SIALIC_ACID, _("Sialic acid (any form)")),
    (TreatmentKind.SIALIC_ACID_ER, _("Sialic acid extended release (aceneuramic acid)")),
    (TreatmentKind.MANNAC, _("ManNAc (N-acetylmannosamine)")),
    (TreatmentKind.INVESTIGATIONAL, _("Another medicine tested in a clinical trial")),
    (TreatmentKind.OTHER, _("Another treatment for GNE myopathy")),
]

# The ten IBMFRS items: the question, and what each score from 4 (as before the disease) down to 0
# means, in everyday words. The registry stores the score; the total is computed.
IBMFRS_QUESTIONS = {
    "ibmfrs_swallowing": (
        _("Swallowing"),
        (
            _("Normal"),
            _("I sometimes choke or have early eating problems"),
            _("I have changed what I eat (softer food, thicker drinks)"),
            _("I often choke"),
            _("I need tube feeding"),
        ),
    ),
    "ibmfrs_handwriting": (
        _("Handwriting"),
        (
            _("Normal"),
            _("Slow or untidy, but every word can be read"),
            _("Not every word can be read"),
            _("I can hold a pen but cannot write"),
            _("I cannot hold a pen"),
        ),
    ),
    "ibmfrs_cutting_food": (
        _("Cutting food and using cutlery"),
        (
            _("Normal"),
            _("Somewhat slow and clumsy, but I need no help"),
            _("I can cut most foods, slowly and clumsily; I need some help"),
            _("Someone must cut my food, but I can still feed myself slowly"),
            _("I need to be fed"),
        ),
    ),
    "ibmfrs_fine_motor": (
        _("Small hand tasks (opening doors, using keys, picking up small things)"),
        (
            _("Normal"),
            _("Slow or clumsy, but I manage"),
            _("I manage, but with changed ways of doing it or with aids"),
            _("I often need help from someone"),
            _("I cannot do these tasks"),
        ),
    ),
    "ibmfrs_dressing": (
        _("Dressing"),
        (
            _("Normal"),
            _("I manage alone, with more effort or more slowly"),
            _("I manage alone, with aids or changed ways (Velcro, no buttons)"),
            _("I need help with some clothes"),
            _("I need help with everything"),
        ),
    ),
    "ibmfrs_hygiene": (
        _("Washing and using the toilet"),
        (
            _("Normal"),
            _("I manage alone, with more effort or more slowly"),
            _("I manage alone, with aids (shower chair, raised toilet seat)"),
            _("I sometimes need help from someone"),
            _("I need help with everything"),
        ),
    ),
    "ibmfrs_turning_in_bed": (
        _("Turning in bed and pulling up the covers"),
        (
            _("Normal"),
            _("Somewhat slow and clumsy, but I need no help"),
            _("I manage alone, but with great difficulty"),
            _("I can start, but cannot finish without help"),
            _("I cannot, or I need full help"),
        ),
    ),
    "ibmfrs_sit_to_stand": (
        _("Standing up from sitting"),
        (
            _("Normal, without using my arms"),
            _("Without my arms, but I lean forward or rock to get up"),
            _("I need to push up with my arms"),
            _("I need help from a device or a person"),
            _("I cannot stand up"),
        ),
    ),
    "ibmfrs_walking": (
        _("Walking"),
        (
            _("Normal"),
            _("Slow or a little unsteady"),
            _("I sometimes use an aid (brace, cane or walker)"),
            _("I always need an aid"),
            _("I cannot walk; I use a wheelchair"),
        ),
    ),
    "ibmfrs_climbing_stairs": (
        _("Climbing stairs"),
        (
            _("Normal"),
            _("Slow, or with effort; I sometimes hold the hand rail"),
            _("I must hold the hand rail"),
            _("I need the hand rail and more support (a cane or a person)"),
            _("I cannot climb stairs"),
        ),
    ),
}


def ibmfrs_choices(answers) -> list[tuple[int, str]]:
    return [(IBMFRS_MAX_ITEM_SCORE - index, text) for index, text in enumerate(answers)]


# --- The steps ---------------------------------------------------------------------------------


class ReportStepForm(forms.Form):
    """One step of the report. `today` is the patient's today, in their own time zone."""

    def __init__(self, *args, today: dt.date | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today


class WhenAndFallsForm(ReportStepForm):
    assessment_date = forms.DateField(
        label=_("Date of this report"),
        help_text=_("Usually today."),
        widget=DateInput(),
        error_messages={"required": _("Enter the date of this report."), "invalid": _("Enter a real date.")},
    )
    falls_count = count_field(
        _("How many times have you fallen since your last report?"),
        required=True,
        help_text=_("Enter 0 if you have not fallen."),
    )
    injurious_falls_count = count_field(
        _("How many of these falls hurt you?"), help_text=_("Optional. Count the falls, not the injuries.")
    )
    fractures_count = count_field(_("How many of these falls broke a bone?"), help_text=_("Optional."))
    falls_indoors_count = count_field(_("Indoors"))
    falls_outdoors_count = count_field(_("Outdoors"))
    falls_transfer_count = count_field(
        _("Moving between bed, chair, toilet or car"), help_text=_("Indoors or outdoors.")
    )

    CIRCUMSTANCES = ("falls_indoors_count", "falls_outdoors_count", "falls_transfer_count")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.today is not None:
            # The browser's date picker stops at the patient's today; the services judge it again.
            self.fields["assessment_date"].widget.attrs["max"] = self.today.isoformat()
            self.fields["assessment_date"].initial = self.today

    def circumstances(self):
        """The falls by circumstance, asked together in one fieldset."""
        return [self[name] for name in self.CIRCUMSTANCES]

    def main_questions(self):
        return [field for field in self if field.name not in self.CIRCUMSTANCES]


class MobilityForm(ReportStepForm):
    ambulation_class = radio_field(_("How do you get around now?"), AMBULATION_CHOICES, required=True, coerce=int)
    devices = checkbox_field(
        _("Which of these do you use?"), DEVICE_CHOICES, help_text=_("Tick all that apply, or none.")
    )
    wheelchair_use = radio_field(_("How often do you use a wheelchair or scooter?"), WHEELCHAIR_CHOICES)


class DailyActivitiesForm(ReportStepForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, (question, answers) in IBMFRS_QUESTIONS.items():
            self.fields[name] = radio_field(question, ibmfrs_choices(answers), coerce=int)
        self.fields["raise_arms_above_head"] = radio_field(
            _("Can you raise your arms above your head?"), ABILITY_CHOICES
        )
        self.fields["rise_from_chair"] = radio_field(
            _("Can you get up from a chair without using your arms?"), ABILITY_CHOICES
        )


class TreatmentsAndCommentForm(ReportStepForm):
    treatments_taken = checkbox_field(
        _("Which of these treatments have you taken since your last report?"),
        TREATMENT_CHOICES,
        help_text=_("Tick all that apply, or none."),
    )
    comment = forms.CharField(
        label=_("Anything else you would like the registry team to know?"),
        required=False,
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 6, "autocomplete": "off"}),
        error_messages={"max_length": _("Shorten your comment to %(limit_value)d characters (it has %(show_value)d).")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Here rather than on the field: the number goes into the text in the language of the request.
        self.fields["comment"].help_text = _(
            "Optional, up to %(limit)d characters. Only the registry team reads it; it is never given to researchers."
        ) % {"limit": COMMENT_MAX_LENGTH}


class CheckForm(ReportStepForm):
    """The last step has nothing to fill in: the patient reads the summary and sends."""


@dataclass(frozen=True)
class Step:
    slug: str
    title: str
    form_class: type[ReportStepForm]
    template: str


STEPS = (
    Step("when-and-falls", _("When, and falls"), WhenAndFallsForm, "portal/reports/step_when_and_falls.html"),
    Step("mobility", _("Walking and getting around"), MobilityForm, "portal/reports/step_mobility.html"),
    Step("daily-activities", _("Daily activities"), DailyActivitiesForm, "portal/reports/step_daily_activities.html"),
    Step(
        "treatments-and-comments",
        _("Treatments and comments"),
        TreatmentsAndCommentForm,
        "portal/reports/step_treatments_and_comments.html",
    ),
    Step("check", _("Check and send"), CheckForm, "portal/reports/check.html"),
)
STEP_BY_SLUG = {step.slug: step for step in STEPS}
ANSWER_STEPS = STEPS[:-1]


@cache
def steps_of_fields() -> dict[str, Step]:
    """Which step asks each question: where a service's message about a field is shown. (Built on
    first use, not at import: the forms' fields are made when a form is.)"""
    return {name: step for step in ANSWER_STEPS for name in step.form_class().fields}


def step_number(step: Step) -> int:
    return STEPS.index(step) + 1


def answers_of(form: ReportStepForm) -> dict:
    """A valid form's answers, as the services take them."""
    return {name: form.cleaned_data[name] for name in form.fields}


# --- The summary (check page and a sent report) ------------------------------------------------


@dataclass(frozen=True)
class SummaryRow:
    name: str
    question: str
    answer: str
    answered: bool


def _display(field: forms.Field, value) -> tuple[str, bool]:
    if value in (None, "", []):
        return str(_("Not answered")), False
    if isinstance(field, forms.DateField):
        try:
            return formats.date_format(dt.date.fromisoformat(str(value)), "DATE_FORMAT"), True
        except ValueError:
            return str(value), True
    choices = getattr(field, "choices", None)
    if choices:
        labels = {str(key): str(label) for key, label in choices}
        values = value if isinstance(value, list) else [value]
        return "; ".join(labels.get(str(item), str(item)) for item in values), True
    return str(value), True


# Questions that read well only inside their group on the form, as they read on their own.
SUMMARY_QUESTIONS = {
    "falls_indoors_count": _("Falls indoors"),
    "falls_outdoors_count": _("Falls outdoors"),
    "falls_transfer_count": _("Falls while moving between bed, chair, toilet or car"),
}


def summary(answers: dict) -> list[tuple[Step, list[SummaryRow]]]:
    """Each answer step with its questions and the answers given, in plain words."""
    sections = []
    for step in ANSWER_STEPS:
        form = step.form_class()
        rows = []
        for name, field in form.fields.items():
            answer, answered = _display(field, answers.get(name))
            question = str(SUMMARY_QUESTIONS.get(name, field.label))
            rows.append(SummaryRow(name=name, question=question, answer=answer, answered=answered))
        sections.append((step, rows))
    return sections
