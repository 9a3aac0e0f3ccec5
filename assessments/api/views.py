from django.db.models import F
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.response import Response

from assessments import services
from assessments.api import serializers as s
from assessments.api.filters import AssessmentFilter, MilestoneFilter
from assessments.models import Assessment, Milestone
from assessments.selectors import assessments_attach_measurements
from patients.api.base import SiteScopedViewSet
from registry.api.idempotency import idempotent
from registry.api.permissions import StaffOrOwnPatientReports
from registry.api.views import write_schema
from registry.roles import is_staff_member


class AssessmentViewSet(SiteScopedViewSet):
    """Repeated functional assessments. Totals, composites and review flags are computed.

    Staff record and change any assessment. A patient reads their own, sends their own reports and
    corrects them within the correction window (docs/patient-reports.md); nothing else.
    """

    permission_classes = [StaffOrOwnPatientReports]
    patient_write_actions = ("create", "update", "partial_update")

    # The patient's public id is all the output needs of the patient: no patient row is built.
    queryset = Assessment.objects.annotate(patient_uuid=F("patient__uuid"))
    output_serializer = s.AssessmentOutputSerializer
    filterset_class = AssessmentFilter
    ordering_fields = ["assessment_date", "created_at", "updated_at"]
    ordering = ["patient_id", "assessment_date", "id"]

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        assessments_attach_measurements(page)
        serializer = self.output_serializer(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(serializer.data)

    def retrieve(self, request, *args, **kwargs):
        return self.respond(self._with_dynamometry(self.get_object()))

    @staticmethod
    def _with_dynamometry(assessment):
        """The assessment with its measurements attached, in one query."""
        return assessments_attach_measurements([assessment])[0]

    @write_schema(s.AssessmentInputSerializer, s.AssessmentOutputSerializer, status_code=201)
    @idempotent
    def create(self, request):
        """Record an assessment.

        Staff send the body below. A patient sends a report for their own patient record only (another
        patient's id is answered "No record with id ..."), with only these fields: `assessment_date`,
        falls (`falls_count`, `injurious_falls_count`, `fractures_count`, `falls_indoors_count`,
        `falls_outdoors_count`, `falls_transfer_count`), `devices`, `ambulation_class`, `wheelchair_use`,
        the ten `ibmfrs_*` items, `raise_arms_above_head`, `rise_from_chair`, `treatments_taken` and
        `comment`. `source` may be left out and is recorded as `patient`; any other field is refused
        with 400, naming it.
        """
        if not is_staff_member(request.user):
            return self._create_patient_report(request)
        data = self.input(s.AssessmentInputSerializer)
        dynamometry = data.pop("dynamometry", [])
        manual_muscle_tests = data.pop("manual_muscle_tests", [])
        assessment = services.assessment_create(
            patient=data.pop("patient"),
            dynamometry=dynamometry,
            manual_muscle_tests=manual_muscle_tests,
            data=data,
            entered_by=request.user,
        )
        if not dynamometry and not manual_muscle_tests:
            assessment.measurements = assessment.mmt_grades = []  # nothing to read back
            return self.respond(assessment, status.HTTP_201_CREATED)
        return self.respond(self._with_dynamometry(assessment), status.HTTP_201_CREATED)

    def _create_patient_report(self, request):
        data = self.input(s.PatientReportInputSerializer)
        assessment = services.patient_report_create(patient=data.pop("patient"), data=data, entered_by=request.user)
        assessment.measurements = assessment.mmt_grades = []  # a patient reports no measurements
        return self.respond(assessment, status.HTTP_201_CREATED)

    @write_schema(s.AssessmentUpdateSerializer, s.AssessmentOutputSerializer)
    def update(self, request, id=None, partial=False):
        """Change an assessment.

        Staff change any field. A patient corrects only their own self-reports (source `patient`), only
        within the correction window after sending them, and only the fields they may report (see
        POST); otherwise 403 with the reason (after the window, corrections go through the registry team).
        """
        assessment = self.get_object()
        if not is_staff_member(request.user):
            return self._correct_patient_report(request, assessment, partial)
        data = self.input(s.AssessmentUpdateSerializer, partial=partial)
        assessment = services.assessment_update(
            assessment=assessment,
            expected_version=self.expected_version(),
            dynamometry=data.pop("dynamometry", None),
            manual_muscle_tests=data.pop("manual_muscle_tests", None),
            data=data,
        )
        return self.respond(self._with_dynamometry(assessment))

    def _correct_patient_report(self, request, assessment, partial):
        # Refused before the body is read: a patient learns first that the record is not theirs to change.
        refusal = services.report_correction_refusal(assessment=assessment, patient=request.user.patient)
        if refusal:
            raise exceptions.PermissionDenied(refusal)
        data = self.input(s.PatientReportUpdateSerializer, partial=partial)
        try:
            assessment = services.patient_report_correct(
                assessment=assessment, expected_version=self.expected_version(), data=data, corrected_by=request.user
            )
        except services.ReportCorrectionRefused as refused:  # the window closed while the request waited
            raise exceptions.PermissionDenied(str(refused)) from None
        return self.respond(self._with_dynamometry(assessment))

    @write_schema(s.AssessmentUpdateSerializer, s.AssessmentOutputSerializer)
    def partial_update(self, request, id=None):
        """Change some fields of an assessment; a patient, as for PUT."""
        return self.update(request, id=id, partial=True)

    @write_schema(None, None, status_code=204)
    def destroy(self, request, id=None):
        services.assessment_delete(assessment=self.get_object(), expected_version=self.expected_version())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @write_schema(None, s.AssessmentOutputSerializer, status_code=201)
    @idempotent
    @action(detail=True, methods=["post"])
    def restore(self, request, id=None):
        """Bring back an assessment that was deleted (staff only; docs/consent.md).

        The id is the deleted assessment's, as listed among deleted records. It comes back with the
        values and measurements it had when deleted, checked by the rules as a new entry would be
        (400 naming the fields if it no longer fits the patient's record), and its milestones are
        derived again. 404 if no assessment with this id was deleted; 400 if it exists. For staff limited
        to some sites, another site's assessment, deleted or not, answers 404 (docs/sites.md).
        """
        assessment = services.assessment_restore(assessment_uuid=id, restored_by=request.user)
        return self.respond(self._with_dynamometry(assessment), status.HTTP_201_CREATED)


class MilestoneViewSet(SiteScopedViewSet):
    """Milestones derived from assessments (read-only) and reported retrospectively."""

    queryset = Milestone.objects.annotate(patient_uuid=F("patient__uuid"), derived_from_uuid=F("derived_from__uuid"))
    output_serializer = s.MilestoneOutputSerializer
    filterset_class = MilestoneFilter
    ordering_fields = ["date", "created_at"]
    ordering = ["patient_id", "date", "id"]

    @write_schema(s.MilestoneInputSerializer, s.MilestoneOutputSerializer, status_code=201)
    @idempotent
    def create(self, request):
        data = self.input(s.MilestoneInputSerializer)
        milestone = services.milestone_report(patient=data.pop("patient"), data=data)
        return self.respond(milestone, status.HTTP_201_CREATED)

    @write_schema(s.MilestoneUpdateSerializer, s.MilestoneOutputSerializer)
    def update(self, request, id=None, partial=False):
        milestone = self.get_object()
        data = self.input(s.MilestoneUpdateSerializer, partial=partial)
        milestone = services.milestone_update(milestone=milestone, expected_version=self.expected_version(), data=data)
        return self.respond(milestone)

    @write_schema(s.MilestoneUpdateSerializer, s.MilestoneOutputSerializer)
    def partial_update(self, request, id=None):
        return self.update(request, id=id, partial=True)

    @write_schema(None, None, status_code=204)
    def destroy(self, request, id=None):
        services.milestone_delete(milestone=self.get_object(), expected_version=self.expected_version())
        return Response(status=status.HTTP_204_NO_CONTENT)
