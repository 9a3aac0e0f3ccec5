"""The lean output path gives exactly what DRF's own to_representation gives."""

import datetime as dt
from decimal import Decimal

import pytest

from assessments.api.serializers import AssessmentOutputSerializer, MilestoneOutputSerializer
from assessments.models import DynamometryMeasurement, Milestone
from assessments.selectors import assessments_attach_measurements
from patients.api.serializers import PatientOutputSerializer
from registry.api.serializers import LeanRepresentationMixin
from tests.factories import AssessmentFactory, PatientFactory

pytestmark = pytest.mark.django_db


def _drf(serializer, instance):
    return super(LeanRepresentationMixin, serializer).to_representation(instance)


def test_assessment_output_matches_drf():
    assessment = AssessmentFactory(
        ibmfrs_walking=2,
        grip_left_kg=Decimal("12.5"),
        fvc_percent_predicted=Decimal("88.0"),
        devices=["afo", "cane"],
        review_flags=[{"code": "x", "field": "y", "message": "z"}],
        six_minute_walk_status="done",
        six_minute_walk_m=320,
    )
    DynamometryMeasurement.objects.create(assessment=assessment, muscle_group="hip_flexion", side="left", kg=7)
    assessment.refresh_from_db()
    assessments_attach_measurements([assessment])
    serializer = AssessmentOutputSerializer()

    assert serializer.to_representation(assessment) == _drf(serializer, assessment)
    assert serializer.to_representation(assessment)["created_at"].endswith("Z")


def test_patient_and_milestone_output_match_drf():
    patient = PatientFactory()
    milestone = Milestone.objects.create(
        patient=patient, kind="afo", source="reported", date=dt.date(2015, 1, 1), date_precision="year"
    )
    for serializer, instance in ((PatientOutputSerializer(), patient), (MilestoneOutputSerializer(), milestone)):
        assert serializer.to_representation(instance) == _drf(serializer, instance)
