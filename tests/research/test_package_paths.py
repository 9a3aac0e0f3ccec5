"""The PostgreSQL COPY path and the generic ORM path write the same assessments.csv, byte for byte."""

import datetime as dt
import zipfile

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assessments.models import Assessment
from patients.models import PatientIdentity
from research.package.assessment_rows import write_assessments_generic, write_assessments_postgresql
from research.package.participants import anonymise_participants, load_participants
from tests.research.conftest import VISITS


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


@pytest.mark.django_db(transaction=True)
def test_a_build_with_the_copy_on_a_second_connection_gives_the_same_zip(package_cohort, tmp_path, monkeypatch):
    """When the builder opens the transaction itself (as the export worker does), assessments.csv is
    copied on a second connection, in the same snapshot, while the milestones are written; inside
    a caller's transaction (every other test) all is read on one connection. Same bytes."""
    from django.db import connection, transaction

    from research.package import build, build_package

    shared = []
    in_snapshot = build._in_snapshot
    monkeypatch.setattr(
        build, "_in_snapshot", lambda snapshot, *args: [shared.append(snapshot), in_snapshot(snapshot, *args)]
    )
    request = package_cohort.request()
    assert not connection.in_atomic_block
    overlapped = build_package(request, tmp_path / "overlapped", lambda percent, step: None)
    assert len(shared) == 1
    with transaction.atomic():
        sequential = build_package(request, tmp_path / "sequential", lambda percent, step: None)
    assert len(shared) == 1
    assert overlapped.sha256 == sequential.sha256
    with zipfile.ZipFile(overlapped.path) as archive:
        assert archive.read("data/assessments.csv").count(b"\n") == 1 + len(package_cohort.patients) * len(VISITS)


def test_the_copy_path_works_with_the_debug_cursor_of_local_settings(package_cohort, tmp_path):
    """`make run` on PostgreSQL runs with DEBUG, where Django wraps cursors for query logging."""
    request = package_cohort.request()
    participants = _participants(request)
    with CaptureQueriesContext(connection) as queries:  # the same debug wrapper as DEBUG = True
        write_assessments_postgresql(tmp_path / "copy.csv", participants, request)
    assert any("COPY (SELECT" in query["sql"] for query in queries.captured_queries)
    assert (tmp_path / "copy.csv").read_bytes().count(b"\n") == 1 + Assessment.objects.filter(
        patient__in=package_cohort.patients
    ).count()
