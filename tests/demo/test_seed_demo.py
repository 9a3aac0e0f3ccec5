"""The synthetic cohort: realistic against DOMAIN.md figures, and valid under the services' rules."""

import io
import os
import statistics
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from assessments.models import Assessment, Milestone
from assessments.services import assessment_validate
from patients.models import Diagnosis, Genotype, Patient, Zygosity
from patients.services import genotypes_build, same_variant
from patients.variants import parse_variant

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


def test_seeded_zygosity_is_what_the_genotype_service_derives(cohort):
    genotypes = list(Genotype.objects.select_related("patient", "allele1", "allele2").order_by("id"))
    assert {genotype.zygosity for genotype in genotypes} == {Zygosity.HOMOZYGOUS, Zygosity.COMPOUND_HETEROZYGOUS}
    entered = [
        {
            "allele1": genotype.allele1_entered_as,
            "allele1_numbering": genotype.allele1_entered_numbering,
            "allele2": genotype.allele2_entered_as,
            "allele2_numbering": genotype.allele2_entered_numbering,
        }
        for genotype in genotypes
    ]
    derived = genotypes_build([(genotype.patient, data) for genotype, data in zip(genotypes, entered, strict=True)])
    for genotype, data, again in zip(genotypes, entered, derived, strict=True):
        assert (genotype.zygosity, genotype.allele1_id, genotype.allele2_id) == (
            again.zygosity,
            again.allele1_id,
            again.allele2_id,
        )
        first = parse_variant(data["allele1"], numbering=data["allele1_numbering"])
        second = parse_variant(data["allele2"], numbering=data["allele2_numbering"])
        assert (genotype.zygosity == Zygosity.HOMOZYGOUS) == same_variant(first, second)


def test_seeded_contacts_are_clearly_invented(cohort):
    for email, phone in Patient.objects.values_list("identity__email", "identity__phone"):
        assert email.rsplit("@", 1)[1] in ("example.org", "example.com", "example.net")
        assert phone.startswith("+1 ") and phone[:-2].endswith(" 555 01")
    assert len(set(Patient.objects.values_list("identity__email", flat=True))) == 300


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


# Installed by requirements-dev.txt only. The seeder is documented for real installs, which have
# requirements.txt alone, so none of these may be needed to run it.
DEV_ONLY_MODULES = ("faker", "factory", "pytest", "pytest_django", "hypothesis", "schemathesis")
WITHOUT_DEV_PACKAGES = """
import sys

for name in {blocked!r}:
    sys.modules[name] = None  # any import of it now fails, as if it were not installed
try:
    import faker  # noqa: F401
except ImportError:
    pass
else:
    sys.exit("faker is still importable; this check would prove nothing")

from django.core.management import execute_from_command_line

execute_from_command_line(["manage.py", "migrate", "--verbosity", "0"])
execute_from_command_line(["manage.py", "seed_demo", "--patients", "3"])

from patients.models import Patient

print("patients in the database:", Patient.objects.count())
"""


def test_seed_demo_runs_without_the_development_packages(tmp_path):
    # As `make run` does it: local settings on a SQLite file of its own (the test settings accept
    # only PostgreSQL, and rows another process commits there would outlive this test's transaction).
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'runtime-only.sqlite3'}",
    }
    completed = subprocess.run(
        [sys.executable, "-c", WITHOUT_DEV_PACKAGES.format(blocked=DEV_ONLY_MODULES)],
        cwd=settings.BASE_DIR,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Creating 3 synthetic patients" in completed.stdout
    assert "patients in the database: 3" in completed.stdout
