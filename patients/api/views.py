from dataclasses import asdict

from django.db.models import F
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from patients import services
from patients.api import serializers as s
from patients.api.filters import DiagnosisFilter, GenotypeFilter, PatientFilter, TreatmentFilter
from patients.models import Diagnosis, Genotype, Patient, Treatment
from patients.variants import VariantError, founder_catalogue, parse_variant
from registry.api.idempotency import idempotent
from registry.api.views import PatientScopedViewSet, write_schema
from registry.errors import ValidationError


class PatientViewSet(PatientScopedViewSet):
    """Patients: identity (staff and the patient themself only) beside the clinical record."""

    queryset = Patient.objects.select_related("identity", "site").prefetch_related("enrollment_events")
    output_serializer = s.PatientOutputSerializer
    owner_lookup = "account"
    filterset_class = PatientFilter
    ordering_fields = ["created_at", "updated_at", "status", "country"]
    ordering = ["id"]

    @write_schema(s.PatientInputSerializer, s.PatientOutputSerializer, status_code=201)
    @idempotent
    def create(self, request):
        data = self.input(s.PatientInputSerializer)
        identity = data.pop("identity", {})
        patient = services.patient_create(data=data, identity=identity, recorded_by=request.user)
        return self.respond(self.get_queryset().get(pk=patient.pk), status.HTTP_201_CREATED)

    @write_schema(s.PatientInputSerializer, s.PatientOutputSerializer)
    def update(self, request, id=None, partial=False):
        patient = self.get_object()
        data = self.input(s.PatientInputSerializer, partial=partial)
        identity = data.pop("identity", None)
        services.patient_update(patient=patient, expected_version=self.expected_version(), data=data, identity=identity)
        return self.respond(self.get_queryset().get(pk=patient.pk))

    @write_schema(s.PatientInputSerializer, s.PatientOutputSerializer)
    def partial_update(self, request, id=None):
        return self.update(request, id=id, partial=True)

    @write_schema(s.StatusChangeSerializer, s.PatientOutputSerializer, status_code=201)
    @idempotent
    @action(detail=True, methods=["post"], url_path="status")
    def change_status(self, request, id=None):
        """Record a dated enrollment status change (enrolled, withdrawn, deceased, ...)."""
        patient = self.get_object()
        data = self.input(s.StatusChangeSerializer)
        services.patient_change_status(patient=patient, recorded_by=request.user, **data)
        return self.respond(self.get_queryset().get(pk=patient.pk), status.HTTP_201_CREATED)


class DiagnosisViewSet(PatientScopedViewSet):
    queryset = Diagnosis.objects.annotate(
        patient_uuid=F("patient__uuid"), patient_birth=F("patient__identity__date_of_birth")
    )
    output_serializer = s.DiagnosisOutputSerializer
    filterset_class = DiagnosisFilter
    ordering_fields = ["created_at", "updated_at", "onset_date"]
    ordering = ["id"]

    @write_schema(s.DiagnosisInputSerializer, s.DiagnosisOutputSerializer, status_code=201)
    @idempotent
    def create(self, request):
        data = self.input(s.DiagnosisInputSerializer)
        diagnosis = services.diagnosis_create(patient=data.pop("patient"), data=data)
        return self.respond(diagnosis, status.HTTP_201_CREATED)

    @write_schema(s.DiagnosisUpdateSerializer, s.DiagnosisOutputSerializer)
    def update(self, request, id=None, partial=False):
        diagnosis = self.get_object()
        data = self.input(s.DiagnosisUpdateSerializer, partial=partial)
        diagnosis = services.diagnosis_update(diagnosis=diagnosis, expected_version=self.expected_version(), data=data)
        return self.respond(diagnosis)

    @write_schema(s.DiagnosisUpdateSerializer, s.DiagnosisOutputSerializer)
    def partial_update(self, request, id=None):
        return self.update(request, id=id, partial=True)


class GenotypeViewSet(PatientScopedViewSet):
    queryset = Genotype.objects.select_related("allele1", "allele2").annotate(patient_uuid=F("patient__uuid"))
    output_serializer = s.GenotypeOutputSerializer
    filterset_class = GenotypeFilter
    ordering_fields = ["created_at", "updated_at"]
    ordering = ["id"]

    @write_schema(s.GenotypeInputSerializer, s.GenotypeOutputSerializer, status_code=201)
    @idempotent
    def create(self, request):
        data = self.input(s.GenotypeInputSerializer)
        genotype, notes = services.genotype_create(patient=data.pop("patient"), data=data)
        genotype.entry_notes = notes
        return self.respond(genotype, status.HTTP_201_CREATED)

    @write_schema(s.GenotypeUpdateSerializer, s.GenotypeOutputSerializer)
    def update(self, request, id=None, partial=False):
        genotype = self.get_object()
        data = self.input(s.GenotypeUpdateSerializer, partial=partial)
        genotype, notes = services.genotype_update(
            genotype=genotype, expected_version=self.expected_version(), data=data
        )
        genotype.entry_notes = notes
        return self.respond(genotype)

    @write_schema(s.GenotypeUpdateSerializer, s.GenotypeOutputSerializer)
    def partial_update(self, request, id=None):
        return self.update(request, id=id, partial=True)


class TreatmentViewSet(PatientScopedViewSet):
    queryset = Treatment.objects.annotate(patient_uuid=F("patient__uuid"))
    output_serializer = s.TreatmentOutputSerializer
    filterset_class = TreatmentFilter
    ordering_fields = ["start_date", "created_at", "updated_at"]
    ordering = ["patient_id", "start_date", "id"]

    @write_schema(s.TreatmentInputSerializer, s.TreatmentOutputSerializer, status_code=201)
    @idempotent
    def create(self, request):
        data = self.input(s.TreatmentInputSerializer)
        treatment = services.treatment_create(patient=data.pop("patient"), data=data)
        return self.respond(treatment, status.HTTP_201_CREATED)

    @write_schema(s.TreatmentUpdateSerializer, s.TreatmentOutputSerializer)
    def update(self, request, id=None, partial=False):
        treatment = self.get_object()
        data = self.input(s.TreatmentUpdateSerializer, partial=partial)
        treatment = services.treatment_update(treatment=treatment, expected_version=self.expected_version(), data=data)
        return self.respond(treatment)

    @write_schema(s.TreatmentUpdateSerializer, s.TreatmentOutputSerializer)
    def partial_update(self, request, id=None):
        return self.update(request, id=id, partial=True)

    @write_schema(None, None, status_code=204)
    def destroy(self, request, id=None):
        services.treatment_delete(treatment=self.get_object(), expected_version=self.expected_version())
        return Response(status=status.HTTP_204_NO_CONTENT)


class VariantViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The GNE founder-variant catalogue, and a checker that reads any variant name.

    Only the shipped catalogue is listed, never the variants stored for patients: in an
    ultra-rare disease, the list of rare variants in a registry is itself identifying.
    """

    permission_classes = [IsAuthenticated]
    serializer_class = s.VariantParseOutputSerializer
    pagination_class = None
    filter_backends = []

    @extend_schema(responses={200: s.VariantParseOutputSerializer(many=True)})
    def list(self, request):
        return Response([_parsed_output(parsed) for parsed in founder_catalogue()])

    @write_schema(s.VariantParseInputSerializer, s.VariantParseOutputSerializer)
    @action(detail=False, methods=["post"])
    def parse(self, request):
        """Read a variant as typed (HGVS or legacy name) and show both numberings, without storing it."""
        serializer = s.VariantParseInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            parsed = parse_variant(serializer.validated_data["text"], numbering=serializer.validated_data["numbering"])
        except VariantError as error:
            raise ValidationError({"text": str(error)}) from None
        return Response(_parsed_output(parsed))


def _parsed_output(parsed) -> dict:
    fields = asdict(parsed)
    entry = fields.pop("catalogue_entry")
    return {**fields, "name": parsed.name, "notes": list(parsed.notes), "is_founder": entry is not None}
