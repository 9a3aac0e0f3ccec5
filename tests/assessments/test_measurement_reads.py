"""A page's measurements are read as plain rows (`selectors.assessments_attach_measurements`, no model
instance built), and the API's output from them is exactly what it was from model instances."""

from decimal import Decimal

import pytest
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from assessments.api.serializers import AssessmentOutputSerializer, DynamometrySerializer, ManualMuscleTestSerializer
from assessments.models import DynamometryMeasurement, ManualMuscleTest
from assessments.selectors import assessments_attach_measurements
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def measured():
    """An assessment with dynamometry (whole, one-decimal and zero kg) and MMT grades, stored out of order."""
    assessment = factories.AssessmentFactory()
    DynamometryMeasurement.objects.bulk_create(
        DynamometryMeasurement(assessment=assessment, muscle_group=group, side=side, kg=kg)
        for group, side, kg in (
            ("knee_flexion", "right", Decimal("12.5")),
            ("hip_flexion", "right", Decimal("0")),
            ("hip_flexion", "left", Decimal("7")),
        )
    )
    ManualMuscleTest.objects.bulk_create(
        ManualMuscleTest(assessment=assessment, muscle=muscle, side=side, grade=grade)
        for muscle, side, grade in (
            ("shoulder_abduction", "left", "4-"),
            ("neck_flexion", "midline", "4+"),
        )
    )
    return assessment


def test_rows_are_the_output_fields_as_dicts_by_muscle_then_side(measured):
    unmeasured = factories.AssessmentFactory()

    assessments_attach_measurements([measured, unmeasured])

    assert measured.measurements == [
        {"muscle_group": "hip_flexion", "side": "left", "kg": Decimal("7.0")},
        {"muscle_group": "hip_flexion", "side": "right", "kg": Decimal("0.0")},
        {"muscle_group": "knee_flexion", "side": "right", "kg": Decimal("12.5")},
    ]
    assert measured.mmt_grades == [
        {"muscle": "neck_flexion", "side": "midline", "grade": "4+"},
        {"muscle": "shoulder_abduction", "side": "left", "grade": "4-"},
    ]
    assert (unmeasured.measurements, unmeasured.mmt_grades) == ([], [])


def test_a_row_gives_what_drf_gives_for_the_same_model_row(measured):
    assessments_attach_measurements([measured])
    stored = (
        (DynamometrySerializer(), measured.measurements, measured.dynamometry.order_by("muscle_group", "side")),
        (ManualMuscleTestSerializer(), measured.mmt_grades, measured.manual_muscle_tests.order_by("muscle", "side")),
    )

    for serializer, rows, instances in stored:
        drf = [serializers.Serializer.to_representation(serializer, instance) for instance in instances]
        assert [serializer.to_representation(row) for row in rows] == drf
        assert [serializer.to_representation(instance) for instance in instances] == drf  # the usual path


def test_the_rendered_assessment_is_byte_identical_to_the_one_from_model_rows(measured):
    assessments_attach_measurements([measured])
    from_rows = JSONRenderer().render(AssessmentOutputSerializer(measured).data)
    measured.measurements = list(measured.dynamometry.order_by("muscle_group", "side"))
    measured.mmt_grades = list(measured.manual_muscle_tests.order_by("muscle", "side"))

    from_instances = JSONRenderer().render(AssessmentOutputSerializer(measured).data)

    assert from_rows == from_instances
    assert b'"dynamometry":[{"muscle_group":"hip_flexion","side":"left","kg":7.0},' in from_rows
