from rest_framework import serializers

from assessments.models import (
    IBMFRS_ITEMS,
    IBMFRS_MAX_ITEM_SCORE,
    Assessment,
    Device,
    DynamometryMeasurement,
    Milestone,
    MilestoneKind,
)
from assessments.services import ASSESSMENT_FIELDS, DYNAMOMETRY_RANGE_KG, MEASURE_RANGES
from patients.models import Patient
from registry.api.fields import PartialDateField, RelatedIdField, UUIDRelatedField
from registry.api.serializers import (
    FieldsBuiltOnceMixin,
    LeanRepresentationMixin,
    PatientRefMixin,
    RecordSerializer,
    ReviewFlagsField,
)
from registry.dates import MAX_AGE_YEARS


class DynamometrySerializer(LeanRepresentationMixin, FieldsBuiltOnceMixin, serializers.ModelSerializer):
    kg = serializers.DecimalField(
        max_digits=5, decimal_places=1, min_value=DYNAMOMETRY_RANGE_KG[0], max_value=DYNAMOMETRY_RANGE_KG[1]
    )

    class Meta:
        model = DynamometryMeasurement
        fields = ["muscle_group", "side", "kg"]
        validators = []  # uniqueness per assessment is checked by the service, with a field path


class AssessmentOutputSerializer(PatientRefMixin, RecordSerializer):
    dynamometry = DynamometrySerializer(many=True, read_only=True, source="measurements")
    review_flags = ReviewFlagsField()
    devices = serializers.ListField(child=serializers.ChoiceField(choices=Device.choices), read_only=True)

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
            "review_flags",
        ]


def _range_kwargs() -> dict:
    kwargs = {name: {"min_value": 0, "max_value": IBMFRS_MAX_ITEM_SCORE} for name in IBMFRS_ITEMS}
    for name, (low, high) in MEASURE_RANGES.items():
        kwargs[name] = {"min_value": low, "max_value": high}
    for name in ("falls_count", "injurious_falls_count", "fractures_count"):
        kwargs[name] = {"min_value": 0, "max_value": 1000}
    return kwargs


class AssessmentInputSerializer(FieldsBuiltOnceMixin, serializers.ModelSerializer):
    patient = UUIDRelatedField(queryset=Patient.objects.all())
    devices = serializers.ListField(
        child=serializers.ChoiceField(choices=Device.choices), required=False, max_length=len(Device)
    )
    dynamometry = DynamometrySerializer(many=True, required=False, max_length=50)

    class Meta:
        model = Assessment
        fields = ["patient", *ASSESSMENT_FIELDS, "dynamometry"]
        extra_kwargs = _range_kwargs()

    def validate_dynamometry(self, rows):
        # A PATCH is partial for the assessment, but each measurement replaces a whole row.
        missing = {
            str(index): {
                name: ["This field is required."] for name in ("muscle_group", "side", "kg") if name not in row
            }
            for index, row in enumerate(rows)
        }
        missing = {index: fields for index, fields in missing.items() if fields}
        if missing:
            raise serializers.ValidationError(missing)
        return rows


class AssessmentUpdateSerializer(AssessmentInputSerializer):
    class Meta(AssessmentInputSerializer.Meta):
        fields = [*ASSESSMENT_FIELDS, "dynamometry"]


class MilestoneFieldsMixin(serializers.Serializer):
    date = PartialDateField("date", required=False)


class MilestoneOutputSerializer(PatientRefMixin, MilestoneFieldsMixin, RecordSerializer):
    derived_from = RelatedIdField("derived_from")

    class Meta:
        model = Milestone
        fields = [
            *RecordSerializer.RECORD_FIELDS,
            "patient",
            "kind",
            "source",
            "date",
            "age_years",
            "skipped",
            "derived_from",
        ]


class MilestoneInputSerializer(FieldsBuiltOnceMixin, MilestoneFieldsMixin, serializers.ModelSerializer):
    patient = UUIDRelatedField(queryset=Patient.objects.all())
    kind = serializers.ChoiceField(choices=MilestoneKind.choices)

    class Meta:
        model = Milestone
        fields = ["patient", "kind", "date", "age_years", "skipped"]
        extra_kwargs = {"age_years": {"max_value": MAX_AGE_YEARS}}


class MilestoneUpdateSerializer(MilestoneInputSerializer):
    class Meta(MilestoneInputSerializer.Meta):
        fields = ["date", "age_years", "skipped"]
