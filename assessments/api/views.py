from django.db.models import Prefetch
from rest_framework import status
from rest_framework.response import Response

from assessments import services
from assessments.api import serializers as s
from assessments.api.filters import AssessmentFilter, MilestoneFilter
from assessments.models import Assessment, DynamometryMeasurement, Milestone
from registry.api.views import PatientScopedViewSet, write_schema


class AssessmentViewSet(PatientScopedViewSet):
    """Repeated functional assessments. Totals, composites and review flags are computed."""

    queryset = Assessment.objects.select_related("patient").prefetch_related(
        Prefetch("dynamometry", queryset=DynamometryMeasurement.objects.order_by("muscle_group", "side"))
    )
    output_serializer = s.AssessmentOutputSerializer
    filterset_class = AssessmentFilter
    ordering_fields = ["assessment_date", "created_at", "updated_at"]
    ordering = ["patient_id", "assessment_date", "id"]

    def _fresh(self, assessment):
        return self.get_queryset().get(pk=assessment.pk)

    @write_schema(s.AssessmentInputSerializer, s.AssessmentOutputSerializer, status_code=201)
    def create(self, request):
        data = self.input(s.AssessmentInputSerializer)
        assessment = services.assessment_create(
            patient=data.pop("patient"),
            dynamometry=data.pop("dynamometry", []),
            data=data,
            entered_by=request.user,
        )
        return self.respond(self._fresh(assessment), status.HTTP_201_CREATED)

    @write_schema(s.AssessmentUpdateSerializer, s.AssessmentOutputSerializer, concurrency=True)
    def update(self, request, id=None, partial=False):
        assessment = self.get_object()
        data = self.input(s.AssessmentUpdateSerializer, partial=partial)
        services.assessment_update(
            assessment=assessment,
            expected_version=self.expected_version(),
            dynamometry=data.pop("dynamometry", None),
            data=data,
        )
        return self.respond(self._fresh(assessment))

    @write_schema(s.AssessmentUpdateSerializer, s.AssessmentOutputSerializer, concurrency=True)
    def partial_update(self, request, id=None):
        return self.update(request, id=id, partial=True)

    @write_schema(None, None, status_code=204, concurrency=True)
    def destroy(self, request, id=None):
        services.assessment_delete(assessment=self.get_object(), expected_version=self.expected_version())
        return Response(status=status.HTTP_204_NO_CONTENT)


class MilestoneViewSet(PatientScopedViewSet):
    """Milestones derived from assessments (read-only) and reported retrospectively."""

    queryset = Milestone.objects.select_related("patient", "derived_from")
    output_serializer = s.MilestoneOutputSerializer
    filterset_class = MilestoneFilter
    ordering_fields = ["date", "created_at"]
    ordering = ["patient_id", "date", "id"]

    @write_schema(s.MilestoneInputSerializer, s.MilestoneOutputSerializer, status_code=201)
    def create(self, request):
        data = self.input(s.MilestoneInputSerializer)
        milestone = services.milestone_report(patient=data.pop("patient"), data=data)
        return self.respond(milestone, status.HTTP_201_CREATED)

    @write_schema(s.MilestoneUpdateSerializer, s.MilestoneOutputSerializer, concurrency=True)
    def update(self, request, id=None, partial=False):
        milestone = self.get_object()
        data = self.input(s.MilestoneUpdateSerializer, partial=partial)
        milestone = services.milestone_update(milestone=milestone, expected_version=self.expected_version(), data=data)
        return self.respond(milestone)

    @write_schema(s.MilestoneUpdateSerializer, s.MilestoneOutputSerializer, concurrency=True)
    def partial_update(self, request, id=None):
        return self.update(request, id=id, partial=True)

    @write_schema(None, None, status_code=204, concurrency=True)
    def destroy(self, request, id=None):
        services.milestone_delete(milestone=self.get_object(), expected_version=self.expected_version())
        return Response(status=status.HTTP_204_NO_CONTENT)
