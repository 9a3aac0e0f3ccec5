from django_countries.serializer_fields import CountryField
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from patients.api.base import VisiblePatientField
from patients.models import (
    FIRST_SYMPTOM_HPO,
    AcmgClass,
    Ancestry,
    ConsentDocument,
    ConsentGrant,
    ConsentPurpose,
    Diagnosis,
    EnrollmentEvent,
    EnrollmentStatus,
    Genotype,
    Misdiagnosis,
    Patient,
    PatientIdentity,
    Sex,
    Site,
    Treatment,
    TreatmentKind,
    Variant,
)
from patients.selectors import DiagnosisTimeline, diagnosis_timeline, reconsent_purposes
from patients.services import IDENTITY_FIELDS
from registry.api.fields import PartialDateField, RelatedIdField
from registry.api.serializers import (
    FieldsBuiltOnceMixin,
    LeanRepresentationMixin,
    PatientRefMixin,
    RecordSerializer,
    ReviewFlagsField,
)
from registry.dates import MAX_AGE_YEARS, PartialDate, today
from registry.models import YesNoUnknown

# [shortest, longest]: what a partial date allows (docs/clinical-rules.md, "Partial dates").
YEARS_RANGE_SCHEMA = {
    "type": "array",
    "items": {"type": "number"},
    "minItems": 2,
    "maxItems": 2,
    "nullable": True,
}

NUMBERING_CHOICES = [
    ("auto", "Detect (legacy names of known variants are recognised)"),
    ("current", "NM_001128227.3 (current)"),
    ("legacy", "NM_005476 (legacy, 31 amino acids shorter)"),
]


# --- Patients ---------------------------------------------------------------------------------


class IdentitySerializer(LeanRepresentationMixin, FieldsBuiltOnceMixin, serializers.ModelSerializer):
    class Meta:
        model = PatientIdentity
        fields = list(IDENTITY_FIELDS)


class EnrollmentEventSerializer(LeanRepresentationMixin, FieldsBuiltOnceMixin, serializers.ModelSerializer):
    class Meta:
        model = EnrollmentEvent
        fields = ["status", "effective_date", "reason", "recorded_at"]


class PatientOutputSerializer(RecordSerializer):
    country = CountryField()
    site = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    identity = IdentitySerializer(read_only=True)
    enrollment_events = EnrollmentEventSerializer(many=True, read_only=True)

    class Meta:
        model = Patient
        fields = [
            *RecordSerializer.RECORD_FIELDS,
            "sex",
            "country",
            "ancestry",
            "consanguinity",
            "affected_relatives",
            "site",
            "status",
            "erased_at",  # identity (and by policy clinical data) erased on request: docs/consent.md
            "enrollment_events",
            "identity",
        ]


class PatientInputSerializer(serializers.Serializer):
    sex = serializers.ChoiceField(choices=Sex.choices)
    country = CountryField()
    ancestry = serializers.ListField(
        child=serializers.ChoiceField(choices=Ancestry.choices), required=False, max_length=len(Ancestry)
    )
    consanguinity = serializers.ChoiceField(choices=YesNoUnknown.choices, required=False)
    affected_relatives = serializers.ChoiceField(choices=YesNoUnknown.choices, required=False)
    site = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Site.objects.all(),
        required=False,
        allow_null=True,
        help_text="The site's code. Staff limited to some sites must give one of theirs (docs/sites.md).",
    )
    identity = IdentitySerializer(required=False)

    def validate_ancestry(self, value):
        return sorted(set(value))


class StatusChangeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=EnrollmentStatus.choices)
    effective_date = serializers.DateField()
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


# --- Diagnosis --------------------------------------------------------------------------------


class DiagnosisFieldsMixin(serializers.Serializer):
    onset_date = PartialDateField("onset_date", required=False)
    genetic_diagnosis_date = PartialDateField("genetic_diagnosis_date", required=False)
    prior_misdiagnoses = serializers.ListField(
        child=serializers.ChoiceField(choices=Misdiagnosis.choices), required=False, max_length=len(Misdiagnosis)
    )


DIAGNOSIS_API_FIELDS = [
    "genetically_confirmed",
    "onset_date",
    "onset_age",
    "first_symptom",
    "genetic_diagnosis_date",
    "prior_misdiagnoses",
    "biopsy_done",
    "rimmed_vacuoles",
    "ck_at_diagnosis",
]


class DiagnosisOutputSerializer(PatientRefMixin, DiagnosisFieldsMixin, RecordSerializer):
    first_symptom_hpo = serializers.SerializerMethodField()
    onset_age_years = serializers.SerializerMethodField()
    onset_age_range = serializers.SerializerMethodField()
    diagnostic_delay_years = serializers.SerializerMethodField()
    diagnostic_delay_range_years = serializers.SerializerMethodField()
    review_flags = ReviewFlagsField()

    class Meta:
        model = Diagnosis
        fields = [
            *RecordSerializer.RECORD_FIELDS,
            "patient",
            *DIAGNOSIS_API_FIELDS,
            "first_symptom_hpo",
            "onset_age_years",
            "onset_age_range",
            "diagnostic_delay_years",
            "diagnostic_delay_range_years",
            "review_flags",
        ]

    def get_first_symptom_hpo(self, diagnosis) -> str | None:
        return FIRST_SYMPTOM_HPO.get(diagnosis.first_symptom)

    def get_diagnostic_delay_years(self, diagnosis) -> float | None:
        """Years from symptom onset to genetic diagnosis, midpoint to midpoint of the two intervals,
        a figure the community tracks (docs/clinical-rules.md, "Partial dates")."""
        return _timeline(diagnosis).diagnostic_delay_years

    @extend_schema_field(YEARS_RANGE_SCHEMA)
    def get_diagnostic_delay_range_years(self, diagnosis):
        """Shortest and longest delay the two dates allow."""
        return _timeline(diagnosis).diagnostic_delay_range

    def get_onset_age_years(self, diagnosis) -> float | None:
        """Age at the middle of the onset interval, in years with one decimal."""
        return _timeline(diagnosis).onset_age_years

    @extend_schema_field(YEARS_RANGE_SCHEMA)
    def get_onset_age_range(self, diagnosis):
        """Completed years of age on the first and the last day onset may have been."""
        return _timeline(diagnosis).onset_age_range


def _timeline(diagnosis) -> DiagnosisTimeline:
    """Computed once per diagnosis; the list's queryset annotates the date of birth (no extra query)."""
    timeline = getattr(diagnosis, "_timeline", None)
    if timeline is None:
        birth = getattr(diagnosis, "patient_birth", _MISSING)
        if birth is _MISSING:
            identity = getattr(diagnosis.patient, "identity", None)
            birth = identity.date_of_birth if identity else None
        timeline = diagnosis._timeline = diagnosis_timeline(
            onset=PartialDate.from_stored(diagnosis.onset_date, diagnosis.onset_date_precision),
            onset_age=diagnosis.onset_age,
            genetic_diagnosis=PartialDate.from_stored(
                diagnosis.genetic_diagnosis_date, diagnosis.genetic_diagnosis_date_precision
            ),
            birth=birth,
        )
    return timeline


_MISSING = object()


class DiagnosisInputSerializer(FieldsBuiltOnceMixin, DiagnosisFieldsMixin, serializers.ModelSerializer):
    patient = VisiblePatientField(queryset=Patient.objects.all())

    class Meta:
        model = Diagnosis
        fields = ["patient", *DIAGNOSIS_API_FIELDS]
        extra_kwargs = {"onset_age": {"max_value": MAX_AGE_YEARS}, "ck_at_diagnosis": {"max_value": 100_000}}


class DiagnosisUpdateSerializer(DiagnosisInputSerializer):
    class Meta(DiagnosisInputSerializer.Meta):
        fields = DIAGNOSIS_API_FIELDS


# --- Variants and genotype --------------------------------------------------------------------


class VariantSerializer(LeanRepresentationMixin, FieldsBuiltOnceMixin, serializers.ModelSerializer):
    class Meta:
        model = Variant
        fields = [
            "name",
            "cdna",
            "protein",
            "legacy_cdna",
            "legacy_protein",
            "legacy_short",
            "protein_position",
            "variant_class",
            "protein_domain",
            "is_founder",
            "founder_populations",
        ]


class VariantParseInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=200)
    numbering = serializers.ChoiceField(choices=NUMBERING_CHOICES, default="auto")


class VariantParseOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    cdna = serializers.CharField()
    protein = serializers.CharField()
    legacy_cdna = serializers.CharField()
    legacy_protein = serializers.CharField()
    legacy_short = serializers.CharField()
    protein_position = serializers.IntegerField(allow_null=True)
    variant_class = serializers.CharField()
    protein_domain = serializers.CharField()
    numbering_entered = serializers.CharField()
    is_founder = serializers.BooleanField()
    notes = serializers.ListField(child=serializers.CharField())


class GenotypeOutputSerializer(PatientRefMixin, RecordSerializer):
    allele1 = VariantSerializer(read_only=True)
    allele2 = VariantSerializer(read_only=True, allow_null=True)
    notes = serializers.SerializerMethodField()

    class Meta:
        model = Genotype
        fields = [
            *RecordSerializer.RECORD_FIELDS,
            "patient",
            "zygosity",
            "allele1",
            "allele1_entered_as",
            "allele1_entered_numbering",
            "allele1_acmg_class",
            "allele2",
            "allele2_entered_as",
            "allele2_entered_numbering",
            "allele2_acmg_class",
            "second_allele_not_found",
            "notes",
        ]

    def get_notes(self, genotype) -> list[str]:
        """Remarks from reading the variants just entered, e.g. a legacy name converted."""
        return list(getattr(genotype, "entry_notes", []))


class GenotypeInputSerializer(serializers.Serializer):
    patient = VisiblePatientField(queryset=Patient.objects.all())
    allele1 = serializers.CharField(max_length=200, help_text="HGVS (c. and/or p.) or a legacy name such as M712T.")
    allele1_numbering = serializers.ChoiceField(choices=NUMBERING_CHOICES, default="auto")
    allele1_acmg_class = serializers.ChoiceField(choices=AcmgClass.choices, required=False, allow_blank=True)
    allele2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    allele2_numbering = serializers.ChoiceField(choices=NUMBERING_CHOICES, default="auto")
    allele2_acmg_class = serializers.ChoiceField(choices=AcmgClass.choices, required=False, allow_blank=True)
    second_allele_not_found = serializers.BooleanField(default=False)


class GenotypeUpdateSerializer(GenotypeInputSerializer):
    patient = None


# --- Treatments -------------------------------------------------------------------------------


class TreatmentFieldsMixin(serializers.Serializer):
    start_date = PartialDateField("start_date", allow_null=False)
    stop_date = PartialDateField("stop_date", required=False)


TREATMENT_API_FIELDS = ["kind", "in_clinical_trial", "trial_registration", "start_date", "stop_date"]


class TreatmentOutputSerializer(PatientRefMixin, TreatmentFieldsMixin, RecordSerializer):
    class Meta:
        model = Treatment
        fields = [*RecordSerializer.RECORD_FIELDS, "patient", *TREATMENT_API_FIELDS]


class TreatmentInputSerializer(FieldsBuiltOnceMixin, TreatmentFieldsMixin, serializers.ModelSerializer):
    patient = VisiblePatientField(queryset=Patient.objects.all())
    kind = serializers.ChoiceField(choices=TreatmentKind.choices)

    class Meta:
        model = Treatment
        fields = ["patient", *TREATMENT_API_FIELDS]


class TreatmentUpdateSerializer(TreatmentInputSerializer):
    class Meta(TreatmentInputSerializer.Meta):
        fields = TREATMENT_API_FIELDS


# --- Consent (docs/consent.md) ----------------------------------------------------------------


class ConsentDocumentOutputSerializer(LeanRepresentationMixin, FieldsBuiltOnceMixin, serializers.ModelSerializer):
    purposes = serializers.ListField(child=serializers.ChoiceField(choices=ConsentPurpose.choices))

    class Meta:
        model = ConsentDocument
        fields = ["id", "code", "version", "title", "effective_from", "purposes", "text", "requires_reconsent"]
        read_only_fields = fields


class ConsentDocumentInputSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=60, help_text="The document's name, shared by all its versions.")
    version = serializers.CharField(max_length=20)
    title = serializers.CharField(max_length=200)
    effective_from = serializers.DateField(help_text="First day on which consent can be given under this version.")
    purposes = serializers.ListField(
        child=serializers.ChoiceField(choices=ConsentPurpose.choices), min_length=1, max_length=len(ConsentPurpose)
    )
    text = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100_000, trim_whitespace=False
    )
    requires_reconsent = serializers.BooleanField(
        default=False, help_text="Patients who consented under an earlier version must consent again to this one."
    )


class ConsentGrantOutputSerializer(LeanRepresentationMixin, FieldsBuiltOnceMixin, serializers.ModelSerializer):
    patient = RelatedIdField("patient")
    document_code = serializers.CharField(source="document.code", read_only=True)
    document_version = serializers.CharField(source="document.version", read_only=True)
    recorded_by = serializers.CharField(source="recorded_by.username", read_only=True, allow_null=True, default=None)
    active = serializers.SerializerMethodField()

    class Meta:
        model = ConsentGrant
        fields = [
            "id",
            "patient",
            "document",
            "document_code",
            "document_version",
            "purpose",
            "granted_on",
            "withdrawn_on",
            "active",
            "recorded_by",
            "recorded_at",
        ]
        read_only_fields = fields

    def get_active(self, grant) -> bool:
        """Given and not withdrawn as of today (as `patients.selectors.consent_is_active`)."""
        on = today()
        return grant.granted_on <= on and (grant.withdrawn_on is None or grant.withdrawn_on > on)


class ConsentGrantInputSerializer(serializers.Serializer):
    """A consent given on paper, entered by staff: one grant per purpose ticked on the form."""

    patient = VisiblePatientField(queryset=Patient.objects.all())
    document = serializers.PrimaryKeyRelatedField(
        queryset=ConsentDocument.objects.all(), help_text="The id of the document version the patient signed."
    )
    purposes = serializers.ListField(
        child=serializers.ChoiceField(choices=ConsentPurpose.choices), min_length=1, max_length=len(ConsentPurpose)
    )
    granted_on = serializers.DateField(help_text="The day the form was signed.")

    def validate_purposes(self, value):
        return sorted(set(value))


class ConsentWithdrawalInputSerializer(serializers.Serializer):
    patient = VisiblePatientField(queryset=Patient.objects.all())
    purpose = serializers.ChoiceField(choices=ConsentPurpose.choices)
    withdrawn_on = serializers.DateField(help_text="The day the withdrawal takes effect.")


class ReconsentPendingSerializer(serializers.Serializer):
    """A row of `patients.selectors.patients_needing_reconsent`."""

    patient = serializers.UUIDField(source="patient_uuid", help_text="The patient's registry id.")
    purposes = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=ConsentPurpose.choices)))
    def get_purposes(self, row):
        """Purposes consented to under an earlier version that this version asks for again."""
        return reconsent_purposes(row)


# --- Erasure on request (docs/consent.md, "Erasure") ----------------------------------------------


class ErasureInputSerializer(serializers.Serializer):
    """Empty to ask for the statement and a confirmation token; the token and the registry id to erase."""

    token = serializers.CharField(
        required=False, allow_blank=True, max_length=1000, help_text="The confirmation token of the first step."
    )
    registry_id = serializers.CharField(
        required=False, allow_blank=True, max_length=64, help_text="The patient's registry id, typed again."
    )

    def validate(self, data):
        if data.get("token") and not data.get("registry_id"):
            raise serializers.ValidationError({"registry_id": "Type the patient's registry id again to confirm."})
        return data


class ErasureStatementSerializer(serializers.Serializer):
    policy = serializers.ChoiceField(choices=[("deidentify", "De-identify"), ("erase", "Erase")])
    removes = serializers.ListField(child=serializers.CharField(), help_text="What the erasure will remove.")
    keeps = serializers.ListField(child=serializers.CharField(), help_text="What it will keep.")
    token = serializers.CharField(help_text="Send it back with the registry id to erase.")
    expires_at = serializers.DateTimeField()


class ErasureDoneSerializer(serializers.Serializer):
    patient = serializers.UUIDField(help_text="The registry id of the erased patient.")
    policy = serializers.ChoiceField(choices=[("deidentify", "De-identify"), ("erase", "Erase")])
