"""Invariants the database itself keeps, whatever path a row takes around the services."""

import pytest
from django.db import IntegrityError, transaction

from assessments.models import DynamometryMeasurement
from patients.models import Genotype
from patients.services import variant_for
from patients.variants import parse_variant
from tests.factories import AssessmentFactory, PatientFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "values",
    [
        {"ibmfrs_walking": 5},
        {"six_minute_walk_m": 901},
        {"falls_count": 1, "injurious_falls_count": 2},
        {"falls_count": 3, "injurious_falls_count": 1, "fractures_count": 2},
        {"six_minute_walk_status": "unable", "six_minute_walk_m": 120},
    ],
)
def test_impossible_assessments_cannot_be_stored(values):
    with pytest.raises(IntegrityError), transaction.atomic():
        AssessmentFactory(**values)


def test_dynamometry_force_range():
    assessment = AssessmentFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        DynamometryMeasurement.objects.create(assessment=assessment, muscle_group="hip_flexion", side="left", kg=151)


@pytest.mark.parametrize(("second", "not_found"), [(True, True), (False, False)])
def test_genotype_has_a_second_allele_or_says_it_was_not_found(second, not_found):
    variant = variant_for(parse_variant("c.2228T>C"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Genotype.objects.create(
            patient=PatientFactory(),
            allele1=variant,
            allele1_entered_as="c.2228T>C",
            allele2=variant if second else None,
            second_allele_not_found=not_found,
            zygosity="homozygous",
        )
