"""The PostgreSQL COPY path and the generic ORM path write the same assessments.csv, byte for byte;
the COPY worker process (research/package/copy_worker.py) starts, fails and stops as it should."""

import ast
import datetime as dt
import json
import subprocess
import sys
import time
import zipfile

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from assessments.models import Assessment
from patients.models import PatientIdentity
from research.package.assessment_rows import (
    AssessmentsCopy,
    write_assessments_generic,
    write_assessments_postgresql,
)
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


def _recording_copies(monkeypatch) -> list:
    """Every AssessmentsCopy the builder starts, kept for the test to look at."""
    from research.package import build

    started = []

    class Recorded(AssessmentsCopy):
        def __init__(self, *args):
            super().__init__(*args)
            started.append(self)

    monkeypatch.setattr(build, "AssessmentsCopy", Recorded)
    return started


@pytest.mark.django_db(transaction=True)
def test_a_build_with_the_copy_in_a_worker_process_gives_the_same_zip(package_cohort, tmp_path, monkeypatch):
    """When the builder opens the transaction itself (as the export worker does), assessments.csv is
    copied by a process of its own, in the same snapshot, while the builder writes the rest; inside a
    caller's transaction (every other test) all is read on one connection. Same bytes."""
    from django.db import transaction

    from research.package import build_package

    started = _recording_copies(monkeypatch)
    request = package_cohort.request()
    assert not connection.in_atomic_block
    overlapped = build_package(request, tmp_path / "overlapped", lambda percent, step: None)
    assert len(started) == 1
    assert started[0]._process.returncode == 0
    with transaction.atomic():
        sequential = build_package(request, tmp_path / "sequential", lambda percent, step: None)
    assert len(started) == 1
    assert overlapped.sha256 == sequential.sha256
    with zipfile.ZipFile(overlapped.path) as archive:
        assert archive.read("data/assessments.csv").count(b"\n") == 1 + len(package_cohort.patients) * len(VISITS)
        readme = archive.read("data/README.md").decode()
        assert f"- assessments: {len(package_cohort.patients) * len(VISITS)}\n" in readme


@pytest.mark.django_db(transaction=True)
def test_a_build_that_fails_stops_its_copy_worker_and_leaves_no_zip(package_cohort, tmp_path, monkeypatch):
    from research.package import build, build_package

    started = _recording_copies(monkeypatch)

    def failing_milestones(path, participants):
        raise RuntimeError("disk full")

    monkeypatch.setattr(build, "write_milestones", failing_milestones)
    with pytest.raises(RuntimeError, match="disk full"):
        build_package(package_cohort.request(), tmp_path, lambda percent, step: None)
    (copy,) = started
    assert copy._process.poll() is not None  # stopped, not left running
    assert list(tmp_path.iterdir()) == []


def test_a_copy_worker_that_fails_raises_the_database_error(package_cohort, tmp_path):
    request = package_cohort.request()
    participants = _participants(request)
    with (
        AssessmentsCopy(tmp_path / "a.csv", participants, request, "00000003-00000002-1") as copy,
        pytest.raises(DatabaseError, match=r"writing assessments\.csv: .*snapshot"),
    ):
        copy.in_snapshot()
    assert copy._process.returncode == 1


@pytest.mark.django_db(transaction=True)
def test_the_copy_worker_stops_and_cancels_its_query_when_the_builder_goes(tmp_path):
    """The builder holds the worker's stdin open; when it ends (the builder died or gave up), the
    worker exits at once and its connection closes, which ends the query on the server (at its next
    rows)."""
    from django.db import transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        params = connection.get_connection_params()
        params.pop("cursor_factory")
        spec = {
            "connect": params,
            "snapshot": snapshot,
            "steps": [],
            # Rows keep coming, as in an export's COPY: the server notices the client has gone
            # when it next sends them.
            "copy": "COPY (SELECT 'gne-worker-probe', repeat('x', 1000), pg_sleep(0.01)"
            " FROM generate_series(1, 100000)) TO STDOUT",
            "path": str(tmp_path / "slow.csv"),
        }
        worker = subprocess.Popen(
            [sys.executable, str(AssessmentsCopy.WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        worker.stdin.write(json.dumps(spec).encode() + b"\n")
        worker.stdin.flush()
        assert worker.stdout.readline() == b"in-snapshot\n"
    worker.stdin.close()
    assert worker.wait(timeout=10) == 2
    worker.stdout.close()
    deadline = time.monotonic() + 10
    while _probe_queries() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _probe_queries() == 0


def _probe_queries() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            # Not this probe itself, which other connections may show as their last query.
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE query LIKE %s AND query NOT LIKE %s AND pid <> pg_backend_pid()",
            ["%gne-worker-probe%", "%pg_stat_activity%"],
        )
        return cursor.fetchone()[0]


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


def test_the_copy_worker_imports_only_psycopg2_and_the_standard_library():
    """So that it starts in a tenth of a second, without Django (research/package/copy_worker.py)."""
    tree = ast.parse(AssessmentsCopy.WORKER.read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "psycopg2" in imported
    assert imported <= set(sys.stdlib_module_names) | {"psycopg2"}
