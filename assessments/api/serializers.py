from collections.abc import Mapping

from rest_framework import serializers

from assessments.models import (
    FALL_CIRCUMSTANCES,
    IBMFRS_ITEMS,
    IBMFRS_MAX_ITEM_SCORE,
    Assessment,
    Device,
    DynamometryMeasurement,
    ManualMuscleTest,
    Milestone,
    MilestoneCensoring,
    MilestoneKind,
    MmtMuscle,
    Source,
)
from assessments.services import ASSESSMENT_FIELDS, DYNAMOMETRY_RANGE_KG, MEASURE_RANGES, PATIENT_REPORT_FIELDS
from patients.api.base import VisiblePatientField
from patients.models import Patient, TreatmentKind
from registry.api.fields import PartialDateField, RelatedIdField
from registry.api.serializers import (
    FieldsBuiltOnceMixin,
    LeanRepresentationMixin,
    PatientRefMixin,
    RecordSerializer,
    ReviewFlagsField,
)
from registry.dates import MAX_AGE_YEARS


class MeasurementRowMixin:
    """Output of a measurement row read as a dict (`selectors.assessments_attach_measurements`).

    The same output as DRF gives for the row as a model instance: each field's value is taken by the
    field's name, and formatted by the field itself (`kg` quantized as a decimal). A choice field with
    text keys would give back the stored value unchanged, so it is copied as it is. A model instance
    still goes through the serializer's usual path.
    """

    def to_representation(self, row):
        if not isinstance(row, dict):
            return super().to_representation(row)
        cls = type(self)
        plan = cls.__dict__.get("_row_plan")
        if plan is None:  # made once per class, as LeanRepresentationMixin's plan is
            plan = cls._row_plan = self._row_plan_build()
        names, formatted = plan
        data = {name: row[name] for name in names}
        for name, to_representation in formatted:
            if data[name] is not None:
                data[name] = to_representation(data[name])
        return data

    def _row_plan_build(self) -> tuple[list[str], list[tuple]]:
        names, formatted = [], []
        for field in self._readable_fields:
            names.append(field.field_name)
            stored_as_shown = type(field) is serializers.ChoiceField and all(
                isinstance(key, str) for key in field.choices
            )
            if not stored_as_shown:
                formatted.append((field.field_name, field.to_representation))
        return names, formatted


class DynamometrySerializer(
    MeasurementRowMixin, LeanRepresentationMixin, FieldsBuiltOnceMixin, serializers.ModelSerializer
):
    kg = serializers.DecimalField(
        max_digits=5, decimal_places=1, min_value=DYNAMOMETRY_RANGE_KG[0], max_value=DYNAMOMETRY_RANGE_KG[1]
    )

    class Meta:
        model = DynamometryMeasurement
        fields = ["muscle_group", "side", "kg"]
        validators = []  # uniqueness per assessment is checked by the service, with a field path


class ManualMuscleTestSerializer(
    MeasurementRowMixin, LeanRepresentationMixin, FieldsBuiltOnceMixin, serializers.ModelSerializer
):
    """One MRC grade: "0" to "5", with "4-" and "4+" (docs/clinical-rules.md, "Measures")."""

    class Meta:
        model = ManualMuscleTest
        fields = ["muscle", "side", "grade"]
        validators = []  # uniqueness and neck/midline sides are checked by the service, with a field path


class AssessmentOutputSerializer(PatientRefMixin, RecordSerializer):
    dynamometry = DynamometrySerializer(many=True, read_only=True, source="measurements")
    manual_muscle_tests = ManualMuscleTestSerializer(many=True, read_only=True, source="mmt_grades")
    review_flags = ReviewFlagsField()
    devices = serializers.ListField(child=serializers.ChoiceField(choices=Device.choices), read_only=True)
    treatments_taken = serializers.ListField(
        child=serializers.ChoiceField(choices=TreatmentKind.choices), read_only=True
    )

    class Meta:
        model = Assessment
        fields = [
            *RecordSerializer.RECORD_FIELDS,
            "patient",
            *ASSESSMENT_FIELDS,
            "ibmfrs_total",
            "dynamometry",
            "hhd_upper_composite_kg",
            "hhd_lower_composite_kg",
            "manual_muscle_tests",
            "mmt_sum_score",
            "review_flags",
        ]


def _range_kwargs() -> dict:
    kwargs = {name: {"min_value": 0, "max_value": IBMFRS_MAX_ITEM_SCORE} for name in IBMFRS_ITEMS}
    for name, (low, high) in MEASURE_RANGES.items():
        kwargs[name] = {"min_value": low, "max_value": high}
    for name in ("falls_count", "injurious_falls_count", "fractures_count", *FALL_CIRCUMSTANCES):
        kwargs[name] = {"min_value": 0, "max_value": 1000}
    return kwargs


def _whole_rows(rows: list[dict], names: tuple[str, ...]) -> list[dict]:
    """A PATCH is partial for the assessment, but each child row replaces a whole row."""
    missing = {
        str(index): {name: ["This field is required."] for name in names if name not in row}
        for index, row in enumerate(rows)
    }
    missing = {index: fields for index, fields in missing.items() if fields}
    if missing:
        raise serializers.ValidationError(missing)
    return rows


def _treatments_taken_field() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=TreatmentKind.choices),
        required=False,
        max_length=len(TreatmentKind),
        help_text="Treatments taken since the last report, each once.",
    )


class AssessmentInputSerializer(FieldsBuiltOnceMixin, serializers.ModelSerializer):
    patient = VisiblePatientField(queryset=Patient.objects.all())
    devices = serializers.ListField(
        child=serializers.ChoiceField(choices=Device.choices), required=False, max_length=len(Device)
    )
    treatments_taken = _treatments_taken_field()
    dynamometry = DynamometrySerializer(many=True, required=False, max_length=50)
    manual_muscle_tests = ManualMuscleTestSerializer(many=True, required=False, max_length=2 * len(MmtMuscle))

    class Meta:
        model = Assessment
        fields = ["patient", *ASSESSMENT_FIELDS, "dynamometry", "manual_muscle_tests"]
        extra_kwargs = _range_kwargs()

    def validate_dynamometry(self, rows):
        return _whole_rows(rows, ("muscle_group", "side", "kg"))

    def validate_manual_muscle_tests(self, rows):
        return _whole_rows(rows, ("muscle", "side", "grade"))


class AssessmentUpdateSerializer(AssessmentInputSerializer):
    class Meta(AssessmentInputSerializer.Meta):
        fields = [*ASSESSMENT_FIELDS, "dynamometry", "manual_muscle_tests"]


class PatientReportInputSerializer(serializers.ModelSerializer):
    """A patient's own report (docs/patient-reports.md): for their own patient record, with the
    self-report fields only. Any other field is refused by name rather than silently dropped, so a
    client learns at once what a patient cannot report."""

    # Only the patient's own record is a known patient: another's id reads as "no such record".
    patient = VisiblePatientField(queryset=Patient.objects.all())
    source = serializers.ChoiceField(
        choices=[(Source.PATIENT, Source.PATIENT.label)],
        required=False,
        help_text='Always "patient" for a patient\'s own report; may be left out.',
    )
    devices = serializers.ListField(
        child=serializers.ChoiceField(choices=Device.choices), required=False, max_length=len(Device)
    )
    treatments_taken = _treatments_taken_field()

    not_reportable_message = "Patients do not report this; the registry team records it."

    class Meta:
        model = Assessment
        fields = ["patient", "source", *PATIENT_REPORT_FIELDS]
        extra_kwargs = {name: kwargs for name, kwargs in _range_kwargs().items() if name in PATIENT_REPORT_FIELDS}

    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, Mapping):
            unknown = {name: [self.not_reportable_message] for name in data if name not in self.fields}
        try:
            values = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if unknown and isinstance(error.detail, dict):
                raise serializers.ValidationError({**error.detail, **unknown}) from None
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return values


class PatientReportUpdateSerializer(PatientReportInputSerializer):
    class Meta(PatientReportInputSerializer.Meta):
        fields = ["source", *PATIENT_REPORT_FIELDS]


class MilestoneFieldsMixin(serializers.Serializer):
    date = PartialDateField("date", required=False)


class MilestoneOutputSerializer(PatientRefMixin, MilestoneFieldsMixin, RecordSerializer):
    """A derived milestone happened after `lower_bound_date` (the last visit below the stage; null when
    left-censored) and by `date` (the first visit at or beyond it, `derived_from`). A reported one
    is `exact` on a day, or an `interval` (a month, a year or an age). docs/clinical-rules.md, "Milestones"."""

    derived_from = RelatedIdField("derived_from")
    lower_bound_date = serializers.DateField(read_only=True, allow_null=True)
    censoring = serializers.ChoiceField(choices=MilestoneCensoring.choices, allow_blank=True, read_only=True)
    review_flags = ReviewFlagsField()

    class Meta:
        model = Milestone
        fields = [
            *RecordSerializer.RECORD_FIELDS,
            "patient",
            "kind",
            "source",
            "date",
            "lower_bound_date",
            "censoring",
            "age_years",
            "skipped",
            "derived_from",
            "review_flags",
        ]


class MilestoneInputSerializer(FieldsBuiltOnceMixin, MilestoneFieldsMixin, serializers.ModelSerializer):
    patient = VisiblePatientField(queryset=Patient.objects.all())
    kind = serializers.ChoiceField(choices=MilestoneKind.choices)

    class Meta:
        model = Milestone
        fields = ["patient", "kind", "date", "age_years", "skipped"]
        extra_kwargs = {"age_years": {"max_value": MAX_AGE_YEARS}}


class MilestoneUpdateSerializer(MilestoneInputSerializer):
    class Meta(MilestoneInputSerializer.Meta):
        fields = ["date", "age_years", "skipped"]
