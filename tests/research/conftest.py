"""Fixtures for the export package tests (tests/research/test_package_*.py), all named `package_*`.

`package_cohort` makes 25 patients through the services, in three large groups that share their
quasi-identifiers and one rare genotype that k-anonymity must suppress, with identifiers planted in
every place they could leak from: identity, free text (a patient's report comment), treatments,
enrollment reasons, and database ids moved to large, recognisable numbers.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.db import connection

from assessments import services as assessment_services
from assessments.models import AmbulationClass, Assessment, Source, WheelchairUse
from patients import services as patient_services
from patients.models import Diagnosis, EnrollmentEvent, Patient, PatientIdentity, Treatment
from research.package import PackageRequest
from tests import factories

PACKAGE_KEY = b"k" * 32
PLANTED_ID_BASE = 987_650_000
TRIAL_REGISTRATION = "NCT02346461"
ENROLLMENT_REASON = "Referred by Dr Hartigan-Pym after a pub quiz"
REPORT_COMMENT = "My neighbour Ottoline Wolstenholme drives me to the clinic"  # a patient's free text


@dataclass
class PackageCohort:
    patients: list[Patient]
    outsider: Patient  # not in the request: withdrawn consent
    planted: list[str] = field(default_factory=list)

    def request(self, **changes) -> PackageRequest:
        values = {
            "export_id": 41,
            "patient_ids": sorted(patient.pk for patient in self.patients),
            "key": PACKAGE_KEY,
            "k": 5,
            "max_suppression": 0.05,
            "small_cell": 10,
            "include_ancestry": False,
            "description": (("Project", "Natural history of GNE myopathy"), ("Cohort", "all consenting patients")),
        }
        return PackageRequest(**(values | changes))


# (count, sex, country, first birthday, onset age, allele 1, allele 2)
GROUPS = (
    (10, "female", "IL", dt.date(1980, 1, 3), 24, "c.2228T>C", "c.2228T>C"),
    (8, "male", "JP", dt.date(1975, 1, 3), 30, "c.1807G>C", "c.1807G>C"),
    (6, "female", "JP", dt.date(1970, 1, 3), 35, "c.620A>T", "c.1807G>C"),
    (1, "male", "GB", dt.date(1985, 1, 3), 22, "c.1225G>T", "c.1985C>T"),
)

# Visits of each patient: (date, ambulation class, wheelchair use, devices, extra measures)
VISITS = (
    (dt.date(2020, 3, 1), AmbulationClass.AFO_ONLY, WheelchairUse.NONE, ["afo"], {"grip_left_kg": Decimal("21.5")}),
    (dt.date(2021, 3, 15), AmbulationClass.CANE, WheelchairUse.NONE, ["cane", "afo"], {"six_minute_walk_m": 310}),
    (
        dt.date(2023, 2, 1),
        AmbulationClass.WHEELCHAIR_FULL_TIME,
        WheelchairUse.FULL_TIME,
        ["manual_wheelchair", "afo"],
        {"six_minute_walk_status": "unable", "ibmfrs_walking": 0},
    ),
)


def _move_sequences(offset: int) -> None:
    """Database ids far from any other number in the files, so a leaked id can be searched for."""
    with connection.cursor() as cursor:
        for model in (Patient, PatientIdentity, Diagnosis, Assessment, EnrollmentEvent, Treatment):
            table = model._meta.db_table
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, offset])
            offset += 10_000


def _make_patient(number: int, sex: str, country: str, birth: dt.date, onset_age: int, alleles, visits) -> Patient:
    patient = factories.PatientFactory(sex=sex, country=country, identity=None)
    PatientIdentity.objects.create(
        patient=patient,
        given_name="Zebulon",
        family_name=f"Quarrington{number:02d}",
        date_of_birth=birth,
        email=f"zq{number:02d}@planted.example",
        phone=f"+44 20 7946 1{number:03d}",
        postal_address=f"{number} Plantation Row, Leeds",
        national_id=f"NIDPLANT{number:04d}",
        hospital_id=f"HOSPPLANT{number:04d}",
    )
    EnrollmentEvent.objects.create(
        patient=patient, status="enrolled", effective_date=dt.date(2019, 5, 1), reason=ENROLLMENT_REASON
    )
    factories.DiagnosisFactory(
        patient=patient,
        onset_date=dt.date(birth.year + onset_age, 1, 1),
        onset_date_precision="year",
        onset_age=onset_age,
        first_symptom="foot_drop",
        genetic_diagnosis_date=dt.date(birth.year + onset_age + 4, 6, 1),
        genetic_diagnosis_date_precision="month",
        rimmed_vacuoles="yes",
    )
    patient_services.genotype_create(patient=patient, data={"allele1": alleles[0], "allele2": alleles[1]})
    Treatment.objects.create(
        patient=patient,
        kind="sialic_acid_er",
        in_clinical_trial=True,
        trial_registration=TRIAL_REGISTRATION,
        start_date=dt.date(2021, 1, 1),
        start_date_precision="month",
    )
    for date, ambulation, wheelchair, devices, extra in visits:
        assessment_services.assessment_create(
            patient=patient,
            data={
                "assessment_date": date,
                "source": Source.CLINICIAN,
                "ambulation_class": ambulation,
                "wheelchair_use": wheelchair,
                "devices": devices,
                "falls_count": number % 3,
                "treatments_taken": ["sialic_acid_er"],
                "comment": f"{REPORT_COMMENT} ({number})",
                **extra,
            },
        )
    return patient


def _identifiers(patient: Patient) -> list[str]:
    identity = patient.identity
    found = [
        identity.given_name,
        identity.family_name,
        identity.email,
        identity.phone,
        identity.postal_address,
        identity.national_id,
        identity.hospital_id,
        identity.date_of_birth.isoformat(),
        identity.date_of_birth.strftime("%d/%m/%Y"),
        str(patient.uuid),
        patient.uuid.hex,
        str(patient.pk),
        *(str(pk) for pk in patient.assessments.values_list("pk", flat=True)),
    ]
    return found


@pytest.fixture
def package_cohort(db) -> PackageCohort:
    _move_sequences(PLANTED_ID_BASE)
    patients, number = [], 0
    for count, sex, country, first_birthday, onset_age, *alleles in GROUPS:
        for offset in range(count):
            number += 1
            birth = first_birthday + dt.timedelta(days=offset)
            patients.append(_make_patient(number, sex, country, birth, onset_age, alleles, VISITS))
    outsider = _make_patient(99, "female", "IL", dt.date(1980, 1, 20), 24, GROUPS[0][5:], VISITS[:1])
    cohort = PackageCohort(patients=patients, outsider=outsider)
    for patient in [*patients, outsider]:
        cohort.planted += _identifiers(patient)
    cohort.planted += [TRIAL_REGISTRATION, ENROLLMENT_REASON, "Hartigan", "Plantation Row", "planted.example"]
    cohort.planted += [REPORT_COMMENT, "Wolstenholme"]
    return cohort


@pytest.fixture
def package_built(package_cohort, tmp_path):
    """The cohort's package, built once per test, unzipped: (result, path to the bag, list of progress calls)."""
    import zipfile

    from research.package import build_package

    calls = []
    result = build_package(
        package_cohort.request(), tmp_path / "work", lambda percent, step: calls.append((percent, step))
    )
    bag = tmp_path / "bag"
    with zipfile.ZipFile(result.path) as archive:
        archive.extractall(bag)
    return result, bag, calls


# --- Export workflow fixtures (tests/research/test_export_*.py and test_cohort.py), named `export_*` ---


def pytest_configure(config):
    # Registered here because tests that start a real Celery worker live in this directory.
    config.addinivalue_line("markers", "worker: starts a real Celery worker on Redis (slower; part of `make test`)")


@pytest.fixture
def export_storage(settings, tmp_path):
    """The exports storage, in a fresh directory per test; returns that directory."""
    root = tmp_path / "published"
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


@pytest.fixture
def export_consent_document(db):
    from patients.models import ConsentDocument

    return ConsentDocument.objects.get_or_create(
        code="registry-consent",
        version="1",
        defaults={"title": "Registry consent", "effective_from": dt.date(2015, 1, 1), "purposes": ["research"]},
    )[0]


@pytest.fixture
def export_make_patient(export_consent_document):
    """Make one enrolled, research-consenting patient with a diagnosis, genotype and assessments."""
    from patients.models import ConsentGrant

    def make(
        *,
        alleles=("c.2228T>C", "c.2228T>C"),
        country="IL",
        sex="female",
        onset_age=24,
        status="enrolled",
        visits=((dt.date(2020, 3, 1), AmbulationClass.CANE),),
        consent_from=dt.date(2016, 1, 1),
        consent_until=None,
        birth=dt.date(1980, 6, 15),
    ) -> Patient:
        patient = factories.PatientFactory(country=country, sex=sex, status=status, identity=None)
        factories.PatientIdentityFactory(patient=patient, date_of_birth=birth)
        factories.DiagnosisFactory(
            patient=patient,
            onset_date=dt.date(birth.year + onset_age, 1, 1),
            onset_date_precision="year",
            onset_age=onset_age,
        )
        if alleles:
            data = {"allele1": alleles[0]}
            data |= {"allele2": alleles[1]} if alleles[1] else {"second_allele_not_found": True}
            patient_services.genotype_create(patient=patient, data=data)
        for date, ambulation in visits:
            factories.AssessmentFactory(patient=patient, assessment_date=date, ambulation_class=ambulation)
        if consent_from:
            ConsentGrant.objects.create(
                patient=patient,
                document=export_consent_document,
                purpose="research",
                granted_on=consent_from,
                withdrawn_on=consent_until,
            )
        return patient

    return make


@pytest.fixture
def export_project(researcher_user, staff_user):
    """A project with `researcher_user` as its member: k 3, cohorts of at least 4."""
    from research.services import project_create

    return project_create(
        data={
            "title": "Natural history of GNE myopathy",
            "approving_body": "Example ethics committee",
            "approval_reference": "EC-2026-017",
            "data_use_agreement_ends": dt.date.today() + dt.timedelta(days=365),
            "k_anonymity": 3,
            "minimum_cohort": 4,
        },
        members=[researcher_user],
        created_by=staff_user,
    )


@pytest.fixture
def export_other_researcher(db):
    """A researcher who is not a member of `export_project`."""
    from django.contrib.auth.models import Group

    user = factories.UserFactory(username="researcher.otto")
    user.groups.add(Group.objects.get_or_create(name="researcher")[0])
    return user


@pytest.fixture
def export_fake_builder(monkeypatch):
    """Replace the package builder by a small one that writes a zip naming the patients it was given.

    Returns the list of PackageRequests it received. Set `.fail_with` on the list to an exception
    for the builder to raise instead.
    """
    import zipfile

    from research import package

    calls = _BuilderCalls()

    def build(request, workdir, progress):
        calls.append(request)
        if calls.fail_with is not None:
            raise calls.fail_with
        progress(50, "writing the tables")
        if calls.during_build is not None:
            calls.during_build(request)
        path = workdir / f"gne-registry-export-{request.export_id}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("data/patients.txt", "\n".join(str(pk) for pk in request.patient_ids))
        size = path.stat().st_size
        return package.PackageResult(
            path=path,
            size_bytes=size,
            sha256="not-checked",
            patient_count=len(request.patient_ids),
            achieved_k=request.k,
            report={},
        )

    monkeypatch.setattr(package, "build_package", build)
    return calls


class _BuilderCalls(list):
    fail_with: Exception | None = None
    during_build = None
