from dataclasses import asdict

from django.db.models import F
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from patients import erasure, services
from patients.access import limit_to_visible_patients
from patients.api import serializers as s
from patients.api.base import SiteScopedViewSet
from patients.api.filters import (
    ConsentDocumentFilter,
    ConsentGrantFilter,
    DiagnosisFilter,
    GenotypeFilter,
    PatientFilter,
    TreatmentFilter,
)
from patients.models import ConsentDocument, ConsentGrant, Diagnosis, Genotype, Patient, Treatment
from patients.selectors import patients_needing_reconsent
from patients.variants import VariantError, founder_catalogue, parse_variant
from registry.api.audit import HistoryEntrySerializer
from registry.api.idempotency import idempotent
from registry.api.permissions import StaffOnly, StaffOrOwnPatientReadOnly
from registry.api.schema import ERROR_DESCRIPTIONS, ErrorSerializer
from registry.api.views import write_schema
from registry.errors import ValidationError
from registry.history import record_history

ID_PATTERN = r"[0-9]{1,18}"  # ids beyond this would not fit the database's integer


class PatientViewSet(SiteScopedViewSet):
    """Patients: identity (staff and the patient themself only) beside the clinical record."""

    queryset = Patient.objects.select_related("identity", "site").prefetch_related("enrollment_events")
    output_serializer = s.PatientOutputSerializer
    owner_lookup = "account"
    patient_path = ""
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
        services.patient_update(
            patient=patient,
            expected_version=self.expected_version(),
            data=data,
            identity=identity,
            changed_by=request.user,
        )
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

    @extend_schema(responses={200: HistoryEntrySerializer(many=True)})
    @action(detail=True, methods=["get"], permission_classes=[StaffOnly], pagination_class=None, filter_backends=[])
    def history(self, request, id=None):
        """Every recorded change of this patient's records, oldest first, with old and new values (staff only)."""
        patient = get_object_or_404(self.limit_for_staff(Patient.objects.only("id", "uuid")), uuid=id)
        return Response(HistoryEntrySerializer(record_history(patient), many=True).data)

    @extend_schema(
        request=s.ErasureInputSerializer,
        responses={202: s.ErasureStatementSerializer, 200: s.ErasureDoneSerializer},
    )
    @action(detail=True, methods=["post"], url_path="erasure")
    def erasure(self, request, id=None):
        """Erase the patient on request, confirmed twice (docs/consent.md, "Erasure"); staff only.

        First send an empty body: the answer (202) says what will be removed and kept under the
        registry's policy, with a confirmation `token` valid for ten minutes. Then send that
        `token` with the patient's `registry_id` typed again: the erasure is done (200). A wrong or
        expired token, or another id, is refused (400) and nothing changes.
        """
        patient = self.get_object()
        data = self.input(s.ErasureInputSerializer)
        if not data.get("token"):
            plan = erasure.erasure_plan(patient=patient)
            token, expires_at = erasure.erasure_confirmation_issue(patient=patient, requested_by=request.user)
            statement = {"policy": plan.policy, "removes": plan.removes, "keeps": plan.keeps}
            body = s.ErasureStatementSerializer({**statement, "token": token, "expires_at": expires_at}).data
            return Response(body, status=status.HTTP_202_ACCEPTED)
        policy = erasure.patient_erase(
            patient=patient,
            requested_by=request.user,
            confirmation=data["token"],
            registry_id=data["registry_id"],
            via="api",
        )
        return Response(s.ErasureDoneSerializer({"patient": patient.uuid, "policy": policy}).data)


class DiagnosisViewSet(SiteScopedViewSet):
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


class GenotypeViewSet(SiteScopedViewSet):
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


class TreatmentViewSet(SiteScopedViewSet):
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


class ConsentDocumentViewSet(viewsets.GenericViewSet):
    """Consent documents, one row per version. Staff publish new versions; staff and patients read them.

    Documents are never changed or deleted: patients consented to the words they read, so a change
    of wording is a new version, which may require re-consent.
    """

    queryset = ConsentDocument.objects.all()
    serializer_class = s.ConsentDocumentOutputSerializer
    permission_classes = [StaffOrOwnPatientReadOnly]
    filterset_class = ConsentDocumentFilter
    lookup_value_regex = ID_PATTERN
    lookup_url_kwarg = "id"
    ordering_fields = ["code", "effective_from"]
    ordering = ["code", "effective_from", "id"]

    def http_method_not_allowed(self, request, *args, **kwargs):
        if request.method in ("PUT", "PATCH", "DELETE"):
            raise exceptions.MethodNotAllowed(
                request.method,
                detail="Consent documents are never changed or deleted: a change of wording is a new version "
                "(POST /api/v1/consent-documents/).",
            )
        return super().http_method_not_allowed(request, *args, **kwargs)

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, id=None):
        return Response(self.get_serializer(self.get_object()).data)

    @write_schema(s.ConsentDocumentInputSerializer, s.ConsentDocumentOutputSerializer, status_code=201)
    @idempotent
    def create(self, request):
        """Publish a new version of a consent document (a new `code`, or a new `version` of one)."""
        serializer = s.ConsentDocumentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        document = services.consent_document_create(data=serializer.validated_data)
        return Response(self.get_serializer(document).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={
            200: s.ReconsentPendingSerializer(many=True),
            # A page parameter out of range; the shared schema adds this to list endpoints only.
            400: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[400]),
        },
        filters=False,
    )
    @action(
        detail=True, methods=["get"], url_path="reconsent-pending", permission_classes=[StaffOnly], filterset_class=None
    )
    def reconsent_pending(self, request, id=None):
        """Patients who consented under an earlier version of this document and have not yet answered
        this one, when it requires re-consent; with the purposes to ask about. Staff only, and a member
        limited to some sites lists their sites' patients only (docs/sites.md)."""
        pending = limit_to_visible_patients(patients_needing_reconsent(self.get_object()), request.user)
        page = self.paginate_queryset(pending)
        return self.get_paginated_response(s.ReconsentPendingSerializer(page, many=True).data)


class ConsentViewSet(SiteScopedViewSet):
    """Consent grants: one row per patient, document version and purpose, until withdrawn.

    Staff record a consent given on paper and a withdrawal; a patient reads their own grants.
    """

    versioned_records = False  # grants change only by withdrawal, an action of its own
    queryset = ConsentGrant.objects.select_related("document", "recorded_by").annotate(patient_uuid=F("patient__uuid"))
    output_serializer = s.ConsentGrantOutputSerializer
    filterset_class = ConsentGrantFilter
    lookup_field = "pk"
    lookup_value_regex = ID_PATTERN
    ordering_fields = ["granted_on", "withdrawn_on", "recorded_at"]
    ordering = ["patient_id", "document__code", "document__effective_from", "purpose", "id"]

    def retrieve(self, request, id=None):
        return Response(self.output_serializer(self.get_object()).data)

    def _render(self, grants) -> list:
        return self.output_serializer(grants, many=True).data

    @write_schema(s.ConsentGrantInputSerializer, s.ConsentGrantOutputSerializer(many=True), status_code=201)
    @idempotent
    def create(self, request):
        """Record a consent given on paper: one grant per purpose, dated the day the form was signed."""
        data = self.input(s.ConsentGrantInputSerializer)
        grants = services.consent_grant(**data, recorded_by=request.user)
        created = self.get_queryset().filter(pk__in=[grant.pk for grant in grants]).order_by("purpose")
        return Response(self._render(created), status=status.HTTP_201_CREATED)

    @write_schema(s.ConsentWithdrawalInputSerializer, s.ConsentGrantOutputSerializer(many=True))
    @idempotent
    @action(detail=False, methods=["post"])
    def withdraw(self, request):
        """Record a withdrawal of consent to one purpose, from a given day: every active grant of it ends."""
        data = self.input(s.ConsentWithdrawalInputSerializer)
        services.consent_withdraw(**data, require_active=True)
        ended = self.get_queryset().filter(
            patient=data["patient"], purpose=data["purpose"], withdrawn_on=data["withdrawn_on"]
        )
        return Response(self._render(ended))


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
