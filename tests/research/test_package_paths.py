"""The PostgreSQL COPY path and the generic ORM path write the same assessments.csv, byte for byte."""

import datetime as dt

from assessments.models import Assessment
from patients.models import PatientIdentity
from research.package.assessment_rows import write_assessments_generic, write_assessments_postgresql
from research.package.participants import anonymise_participants, load_participants


def _participants(request):
    participants = load_participants(request)
    anonymise_participants(participants, request)
    return participants


def test_copy_and_orm_paths_give_identical_bytes(package_cohort, tmp_path):
    # Values that test the formatting: decimals with trailing zeros, an empty choice, devices to sort,
    # an age of 90 and over.
    first = package_cohort.patients[0]
    Assessment.objects.filter(patient=first).update(
        grip_right_kg="30.0", fvc_litres="2.50", devices=["walker", "afo", "cane"], rise_from_chair=""
    )
    # The ten Israeli patients (the first group) become 94 at baseline: a group of ten aged 90+.
    PatientIdentity.objects.filter(patient__in=package_cohort.patients[:10]).update(date_of_birth=dt.date(1925, 3, 1))
    request = package_cohort.request()
    participants = _participants(request)
    write_assessments_postgresql(tmp_path / "copy.csv", participants, request)
    write_assessments_generic(tmp_path / "orm.csv", participants, request)
    copied = (tmp_path / "copy.csv").read_bytes()
    assert copied == (tmp_path / "orm.csv").read_bytes()
    assert b"afo;cane;walker" in copied and b",30.0," in copied and b",2.50," in copied and b",90+," in copied


def test_assessment_window_limits_rows_and_moves_the_baseline(package_cohort, tmp_path):
    request = package_cohort.request(assessed_from=dt.date(2021, 1, 1))
    participants = _participants(request)
    write_assessments_postgresql(tmp_path / "copy.csv", participants, request)
    write_assessments_generic(tmp_path / "orm.csv", participants, request)
    lines = (tmp_path / "copy.csv").read_text().splitlines()
    assert (tmp_path / "orm.csv").read_text().splitlines() == lines
    assert len(lines) == 1 + 2 * 25
    assert {line.split(",")[1] for line in lines[1:]} == {"0", str((dt.date(2023, 2, 1) - dt.date(2021, 3, 15)).days)}
