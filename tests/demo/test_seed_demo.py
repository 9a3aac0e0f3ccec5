"""The synthetic cohort: realistic against the published figures (docs/clinical-rules.md), and
valid under the services' rules."""

import datetime as dt
import io
import itertools
import os
import statistics
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from assessments.models import Assessment, Milestone, MilestoneSource
from assessments.services import (
    ASSESSMENT_FIELDS,
    MILESTONE_FIELDS,
    _check_milestone,
    assessment_create,
    assessment_validate,
    milestone_report,
    milestones_reported_build,
)
from demo.cohort import CohortBuilder
from patients.models import (
    ConsentDocument,
    Diagnosis,
    EnrollmentStatus,
    Genotype,
    Patient,
    Treatment,
    TreatmentKind,
    Zygosity,
)
from patients.services import (
    DIAGNOSIS_FIELDS,
    IDENTITY_FIELDS,
    STATUS_TRANSITIONS,
    TREATMENT_FIELDS,
    _check_identity_dates,
    _diagnosis_check,
    _treatment_check,
    consent_grant,
    consent_grants_build,
    diagnosis_build,
    diagnosis_create,
    enrollment_events_build,
    genotypes_build,
    identity_build,
    patient_change_status,
    patient_create,
    same_variant,
    treatment_create,
    treatments_build,
)
from patients.variants import parse_variant
from registry.errors import ValidationError
from research.models import ResearchProject

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
    # Reported milestones given as an age have no date (the generator reports some stages that way).
    part_time = Milestone.objects.filter(kind="wheelchair_part_time", date__isnull=False)
    for milestone in part_time.select_related("patient__diagnosis"):
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


def test_seeded_diagnoses_carry_the_flags_the_diagnosis_service_computes(cohort):
    diagnoses = list(Diagnosis.objects.select_related("patient__identity"))
    assert len(diagnoses) == 300
    for diagnosis in diagnoses:
        values = {name: getattr(diagnosis, name) for name in DIAGNOSIS_FIELDS}
        # As `diagnosis_update` runs it: date of birth and first assessment read from the database.
        assert _diagnosis_check(diagnosis.patient, values) == diagnosis.review_flags
        assert values["onset_age"] == diagnosis.onset_age


def test_seeded_onset_ages_outside_the_review_window_are_flagged(settings):
    # Seeded onsets (15-52, as published) all fall inside the default window (10-60): narrow the
    # window so that both sides of the rule are seeded.
    settings.REGISTRY_ONSET_REVIEW_MIN_AGE, settings.REGISTRY_ONSET_REVIEW_MAX_AGE = 22, 34
    call_command("seed_demo", patients=120, seed=11, stdout=io.StringIO())
    seen = set()
    for onset_age, flags in Diagnosis.objects.values_list("onset_age", "review_flags"):
        unusual = not 22 <= onset_age <= 34
        assert [flag["code"] for flag in flags] == (["onset_age_unusual"] if unusual else [])
        seen.add(unusual)
    assert seen == {True, False}


def test_seeded_treatments_and_reported_milestones_pass_the_service_checks(cohort):
    treatments = list(Treatment.objects.select_related("patient__identity"))
    assert treatments
    for treatment in treatments:
        _treatment_check(treatment.patient, {name: getattr(treatment, name) for name in TREATMENT_FIELDS})
    reported = list(Milestone.objects.filter(source=MilestoneSource.REPORTED).select_related("patient__identity"))
    assert reported
    for milestone in reported:
        # Against every other milestone of the patient, the derived ones included.
        values = {name: getattr(milestone, name) for name in MILESTONE_FIELDS}
        _check_milestone(milestone.patient, values, exclude_id=milestone.pk)


def test_seeded_enrollment_histories_and_consents_follow_the_status_rules(cohort):
    statuses, consented_research = set(), set()
    for patient in cohort.select_related("identity").prefetch_related("enrollment_events", "consents"):
        _check_identity_dates({name: getattr(patient.identity, name) for name in IDENTITY_FIELDS})
        events = list(patient.enrollment_events.all())  # in date order
        assert events[0].status == EnrollmentStatus.CANDIDATE and patient.status == events[-1].status
        for previous, event in itertools.pairwise(events):
            assert event.status in STATUS_TRANSITIONS[previous.status]
        # A withdrawal ends every consent on its effective day (some patients gave none).
        withdrawal = events[-1].effective_date if patient.status == EnrollmentStatus.WITHDRAWN else None
        assert {grant.withdrawn_on for grant in patient.consents.all()} <= {withdrawal}
        consented_research |= {grant.patient_id for grant in patient.consents.all() if grant.purpose == "research"}
        if patient.status == EnrollmentStatus.DECEASED:
            assert patient.identity.date_of_death == events[-1].effective_date
        statuses.add(patient.status)
    assert statuses == {EnrollmentStatus.ENROLLED, EnrollmentStatus.WITHDRAWN, EnrollmentStatus.DECEASED}
    # Most, not all, agreed to research use, so an export visibly leaves some out.
    assert 0.8 < len(consented_research) / cohort.count() < 0.97


def test_seeded_patients_are_what_the_one_by_one_services_store(cohort):
    """Entered again through the ordinary services, seeded patients get the same values and flags."""
    sample = [
        *cohort.filter(status=EnrollmentStatus.WITHDRAWN)[:3],
        *cohort.filter(status=EnrollmentStatus.DECEASED)[:2],
        *cohort.filter(status=EnrollmentStatus.ENROLLED)[:5],
    ]
    # Deaths are rare (1% of the cohort, demo/cohort.py `deceased`): this seed may have only one.
    assert {patient.status for patient in sample} == {
        EnrollmentStatus.WITHDRAWN,
        EnrollmentStatus.DECEASED,
        EnrollmentStatus.ENROLLED,
    }
    for seeded in sample:
        identity = {name: getattr(seeded.identity, name) for name in IDENTITY_FIELDS}
        patient = patient_create(data={"sex": seeded.sex, "country": seeded.country}, identity=identity)
        events = list(seeded.enrollment_events.all())
        patient_change_status(patient=patient, status=events[1].status, effective_date=events[1].effective_date)
        grants = list(seeded.consents.all())
        consent_grant(
            patient=patient,
            document=grants[0].document,
            purposes=[grant.purpose for grant in grants],
            granted_on=grants[0].granted_on,
        )
        diagnosis = diagnosis_create(
            patient=patient, data={name: getattr(seeded.diagnosis, name) for name in DIAGNOSIS_FIELDS}
        )
        assert diagnosis.onset_age == seeded.diagnosis.onset_age
        assert diagnosis.review_flags == seeded.diagnosis.review_flags
        for treatment in seeded.treatments.all():
            treatment_create(patient=patient, data={name: getattr(treatment, name) for name in TREATMENT_FIELDS})
        for milestone in seeded.milestones.filter(source=MilestoneSource.REPORTED).order_by("id"):
            milestone_report(patient=patient, data={name: getattr(milestone, name) for name in MILESTONE_FIELDS})
        for assessment in seeded.assessments.order_by("assessment_date", "id"):
            again = assessment_create(
                patient=patient, data={name: getattr(assessment, name) for name in ASSESSMENT_FIELDS}
            )
            assert (again.review_flags, again.ibmfrs_total) == (assessment.review_flags, assessment.ibmfrs_total)
        for event in events[2:]:
            patient_change_status(patient=patient, status=event.status, effective_date=event.effective_date)

        patient.refresh_from_db()
        assert patient.status == seeded.status
        assert patient.identity.date_of_death == seeded.identity.date_of_death

        def consents(someone):
            return sorted(someone.consents.values_list("purpose", "granted_on", "withdrawn_on"))

        def milestones(someone):
            return sorted(someone.milestones.values_list("kind", "source", "date", "date_precision"))

        assert consents(patient) == consents(seeded)
        assert milestones(patient) == milestones(seeded)


def _stops_before_it_starts(builder, onset, last_day):
    return [
        {
            "kind": TreatmentKind.SIALIC_ACID,
            "start_date": onset + dt.timedelta(days=60),
            "start_date_precision": "day",
            "stop_date": onset + dt.timedelta(days=30),
            "stop_date_precision": "day",
        }
    ]


def test_a_generator_producing_a_treatment_the_rules_refuse_makes_the_seeder_fail(monkeypatch):
    monkeypatch.setattr(CohortBuilder, "treatments", _stops_before_it_starts)
    with pytest.raises(ValidationError) as raised:
        call_command("seed_demo", patients=5, stdout=io.StringIO())
    assert "stops" in raised.value.message_dict["stop_date"][0]
    assert not Patient.objects.exists()  # the batch was rolled back


def _first_visit(row):
    return min(visit["assessment_date"] for visit in row["visits"])


# A generator bug for each record type the seeder now builds through the services: (field, corruption).
GENERATOR_BUGS = {
    "death before birth": (
        "identity.date_of_death",
        lambda row: row["identity"].update(date_of_death=row["identity"]["date_of_birth"] - dt.timedelta(days=1)),
    ),
    "onset after the first visit": (
        "onset_date",
        lambda row: row["diagnosis"].update(onset_date=_first_visit(row) + dt.timedelta(days=1)),
    ),
    "status change dated before the previous one": (
        "effective_date",
        lambda row: row["events"].__setitem__(
            slice(2, None), [(EnrollmentStatus.WITHDRAWN, row["events"][1][1] - dt.timedelta(days=1))]
        ),
    ),
    "status that cannot follow": (
        "status",
        lambda row: row["events"].append((EnrollmentStatus.CANDIDATE, row["events"][-1][1])),
    ),
}


@pytest.mark.parametrize("bug", GENERATOR_BUGS, ids=list(GENERATOR_BUGS))
def test_a_generator_bug_makes_the_seeder_fail(monkeypatch, bug):
    field, corrupt = GENERATOR_BUGS[bug]
    build_patient = CohortBuilder.build_patient

    def corrupted(builder, population):
        row = build_patient(builder, population)
        corrupt(row)
        return row

    monkeypatch.setattr(CohortBuilder, "build_patient", corrupted)
    with pytest.raises(ValidationError) as raised:
        call_command("seed_demo", patients=5, stdout=io.StringIO())
    assert field in raised.value.message_dict
    assert not Patient.objects.exists()


def test_the_bulk_builders_check_without_queries(django_assert_num_queries):
    patient = Patient(country="IL")
    document = ConsentDocument(title="Consent", version="1", effective_from=dt.date(2010, 1, 1), purposes=["research"])
    with django_assert_num_queries(0):
        identity = identity_build(patient=patient, data={"date_of_birth": dt.date(1980, 6, 15)})
        events = enrollment_events_build(
            patient=patient,
            history=[
                (EnrollmentStatus.CANDIDATE, dt.date(2020, 3, 1)),
                (EnrollmentStatus.ENROLLED, dt.date(2015, 5, 1)),  # its real, earlier date
                (EnrollmentStatus.WITHDRAWN, dt.date(2021, 1, 1)),
            ],
        )
        diagnosis = diagnosis_build(
            patient=patient, data={"onset_date": dt.date(2010, 1, 1), "onset_date_precision": "year"}
        )
        treatments = treatments_build(
            patient=patient, entries=[{"kind": TreatmentKind.OTHER, "start_date": dt.date(2016, 1, 1)}]
        )
        grants = consent_grants_build(
            patient=patient,
            document=document,
            purposes=["research"],
            granted_on=dt.date(2015, 5, 1),
            withdrawn_on=dt.date(2021, 1, 1),
        )
        reported = milestones_reported_build(
            patient=patient,
            entries=[
                {"kind": "afo", "date": dt.date(2012, 1, 1), "date_precision": "year"},
                {"kind": "cane", "age_years": 35},
            ],
        )
    assert patient.identity is identity and patient.diagnosis is diagnosis
    # The first change after registration carries its real date: the registration moves to it.
    assert [(event.status, event.effective_date) for event in events] == [
        ("candidate", dt.date(2015, 5, 1)),
        ("enrolled", dt.date(2015, 5, 1)),
        ("withdrawn", dt.date(2021, 1, 1)),
    ]
    assert patient.status == EnrollmentStatus.WITHDRAWN
    assert diagnosis.onset_age == 30  # computed from the middle of 2010, as `diagnosis_create` does
    assert len(treatments) == 1 and grants[0].withdrawn_on == dt.date(2021, 1, 1)
    assert [milestone.kind for milestone in reported] == ["afo", "cane"]


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (
            lambda patient: diagnosis_build(
                patient=patient,
                data={"onset_date": dt.date(2012, 1, 1), "onset_date_precision": "year"},
                first_assessment=dt.date(2011, 6, 1),
            ),
            "onset_date",
        ),
        (
            lambda patient: milestones_reported_build(
                patient=patient,
                entries=[
                    {"kind": "walker", "date": dt.date(2010, 1, 1), "date_precision": "year"},
                    {"kind": "cane", "date": dt.date(2014, 1, 1), "date_precision": "year"},
                ],
            ),
            "date",
        ),
        (
            lambda patient: milestones_reported_build(
                patient=patient, entries=[{"kind": "afo", "age_years": 30}, {"kind": "afo", "age_years": 31}]
            ),
            "kind",
        ),
        (
            lambda patient: consent_grants_build(
                patient=patient,
                document=ConsentDocument(title="C", version="1", effective_from=dt.date(2010, 1, 1), purposes=["x"]),
                purposes=["x"],
                granted_on=dt.date(2015, 1, 1),
                withdrawn_on=dt.date(2014, 1, 1),
            ),
            "withdrawn_on",
        ),
    ],
    ids=["onset after first visit", "milestones out of order", "milestone twice", "consent ends before given"],
)
def test_the_bulk_builders_refuse_what_the_services_refuse(build, field):
    patient = Patient(country="IL")
    identity_build(patient=patient, data={"date_of_birth": dt.date(1980, 6, 15)})
    with pytest.raises(ValidationError) as raised:
        build(patient)
    assert field in raised.value.message_dict


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


def test_demo_users_get_a_research_project_the_demo_researcher_can_export_from(settings):
    settings.DEBUG = True
    call_command("seed_demo", patients=1, demo_users=True, stdout=io.StringIO())
    call_command("seed_demo", patients=1, if_empty=True, demo_users=True, stdout=io.StringIO())  # again: no copy
    project = ResearchProject.objects.get()
    assert [user.username for user in project.members.all()] == ["demo.researcher"]
    assert project.data_use_agreement_ends > timezone.localdate()
    assert len(bytes(project.pseudonym_key)) == 32


def test_if_empty_leaves_existing_data_alone(cohort, capsys):
    call_command("seed_demo", patients=50, if_empty=True)
    assert Patient.objects.count() == 300


# Installed by requirements-dev.txt only. The seeder is documented for real installs, which have
# requirements.txt alone, so none of these may be needed to run it.
DEV_ONLY_MODULES = (
    "faker",
    "factory",
    "pytest",
    "pytest_django",
    "hypothesis",
    "schemathesis",
    # bench/validity.py's statistics: the generator itself uses only the standard library.
    "lifelines",
    "scipy",
    "pandas",
)
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
