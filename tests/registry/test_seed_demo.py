"""The synthetic cohort: realistic against DOMAIN.md figures, and valid under the services' rules."""

import io
import statistics

import pytest
from django.core.management import CommandError, call_command

from assessments.models import Assessment, Milestone
from assessments.services import assessment_validate
from patients.models import Diagnosis, Genotype, Patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def cohort():
    call_command("seed_demo", patients=300, seed=7, stdout=io.StringIO())
    return Patient.objects.all()


def test_cohort_follows_published_natural_history(cohort):
    assert cohort.count() == 300
    onset_ages = list(Diagnosis.objects.values_list("onset_age", flat=True))
    assert 24 <= statistics.mean(onset_ages) <= 31  # 27.7 ± 9.6 in Mori-Yoshimura 2014
    assert min(onset_ages) >= 15 and max(onset_ages) <= 52

    wheelchair_years = []
    for milestone in Milestone.objects.filter(kind="wheelchair_part_time").select_related("patient__diagnosis"):
        wheelchair_years.append((milestone.date - milestone.patient.diagnosis.onset_date).days / 365.25)
    assert 10 <= statistics.median(wheelchair_years) <= 20  # "10-20 years after onset"

    founders = Genotype.objects.filter(allele1__legacy_short="M712T", allele2__legacy_short="M712T")
    assert founders.filter(patient__ancestry__contains=["middle_eastern_jewish"]).count() >= founders.count() * 0.8
    assert Assessment.objects.filter(ibmfrs_total__isnull=True).exists()  # some missing data


def test_every_seeded_assessment_passes_the_service_rules(cohort):
    for patient in cohort.select_related("identity")[:60]:
        for assessment in patient.assessments.all():
            values = {field.name: getattr(assessment, field.name) for field in Assessment._meta.fields}
            computed = assessment_validate(patient, values, [], exclude_id=assessment.pk)
            assert computed["ibmfrs_total"] == assessment.ibmfrs_total


def test_same_seed_same_cohort():
    call_command("seed_demo", patients=20, seed=3, stdout=io.StringIO())
    first = list(
        Assessment.objects.order_by("patient_id", "assessment_date").values_list("assessment_date", "ambulation_class")
    )
    Patient.objects.all().delete()
    call_command("seed_demo", patients=20, seed=3, stdout=io.StringIO())
    second = list(
        Assessment.objects.order_by("patient_id", "assessment_date").values_list("assessment_date", "ambulation_class")
    )
    assert first == second


def test_demo_users_only_with_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", patients=1, demo_users=True)


def test_if_empty_leaves_existing_data_alone(cohort, capsys):
    call_command("seed_demo", patients=50, if_empty=True)
    assert Patient.objects.count() == 300
