"""assessments.csv: one row per assessment, written without holding the rows in Python.

On PostgreSQL the cohort (patient id, pid, baseline, birth) goes into a temporary table with
COPY FROM, and one `COPY (SELECT ...) TO STDOUT WITH CSV HEADER` joins, pseudonymises, turns dates
into day intervals and ages, and streams straight into the file. Other databases (SQLite, for
`make run`) take a slower path with the same bytes: chunks of patients through the ORM. A test
holds the two to byte-identical output.
"""

import csv
import io
import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from django.db import DatabaseError, OperationalError, connection

from assessments.models import Assessment
from registry.dates import age_in_years
from research.package import PackageRequest, deid
from research.package.columns import assessment_measures, assessments_table
from research.package.copy_worker import run_steps
from research.package.participants import Participant, assessment_window

TEMP_TABLE = "research_export_cohort"
GENERIC_CHUNK = 2000  # patients, whose assessments (some 40,000 rows) are held at once


def _exported_birth(participant: Participant):
    """The date of birth used for ages, or None when the participant's ages must not leave:
    unknown, or k-anonymity suppressed or widened their age band (an exact age would undo it)."""
    return None if participant.ages_withheld else participant.birth


def write_assessments(path: Path, participants: Sequence[Participant], request: PackageRequest) -> int:
    """Write assessments.csv; returns its number of rows."""
    if connection.vendor == "postgresql":
        return write_assessments_postgresql(path, participants, request)
    return write_assessments_generic(path, participants, request)


# --- PostgreSQL: COPY ------------------------------------------------------------------------


def _measure_sql(column) -> str:
    name = connection.ops.quote_name(Assessment._meta.get_field(column.source).column)
    if column.kind == "devices":
        # Sorted byte-wise (COLLATE "C") as Python sorts, whatever the database's collation. No
        # device and a single one (most visits) without the subquery, which costs more than the rest of the row.
        return (
            f"CASE jsonb_array_length(a.{name}) WHEN 0 THEN NULL WHEN 1 THEN a.{name} ->> 0"
            f" ELSE (SELECT string_agg(d, ';' ORDER BY d COLLATE \"C\") FROM jsonb_array_elements_text(a.{name}) d) END"
        )
    if column.kind == "choice":
        return f"NULLIF(a.{name}, '')"  # an empty choice is missing: written empty, as None is
    return f"a.{name}"


def assessments_sql(request: PackageRequest) -> tuple[str, list]:
    """The SELECT behind assessments.csv, over the temporary cohort table; also what the benchmark times."""
    table = connection.ops.quote_name(Assessment._meta.db_table)
    date = "a.assessment_date"
    age = (
        f"EXTRACT(YEAR FROM {date})::int - c.birth_year"
        f" - (EXTRACT(MONTH FROM {date})::int * 100 + EXTRACT(DAY FROM {date})::int < c.birth_md)::int"
    )
    conditions, params = ["TRUE"], []
    if request.assessed_from:
        conditions.append(f"{date} >= %s")
        params.append(request.assessed_from)
    if request.assessed_to:
        conditions.append(f"{date} <= %s")
        params.append(request.assessed_to)
    columns = [
        "c.pid AS pid",
        f"{date} - c.baseline AS days_from_baseline",
        f"CASE WHEN c.birth_year IS NULL THEN NULL WHEN {age} >= {deid.TOP_AGE} THEN '{deid.TOP_AGE}+'"
        f" ELSE ({age})::text END AS age_at_assessment",
        "a.source AS source",
        *(f"{_measure_sql(column)} AS {column.name}" for column in assessment_measures()),
    ]
    sql = (
        f"SELECT {', '.join(columns)} FROM {TEMP_TABLE} c JOIN {table} a ON a.patient_id = c.patient_id"
        f" WHERE {' AND '.join(conditions)}"
        f' ORDER BY c.pid COLLATE "C", {date}, a.id'
    )
    return sql, params


def cohort_table_steps(participants: Sequence[Participant]) -> list[tuple[str, str | None]]:
    """The statements that put the cohort into a temporary table, as (SQL, the CSV text for a COPY
    FROM or None): one round trip for any number of patients."""
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    for participant in participants:
        if participant.baseline is None:
            continue
        birth = _exported_birth(participant)
        writer.writerow(
            [
                participant.patient_id,
                participant.pid,
                participant.baseline.isoformat(),
                birth.year if birth else "",
                birth.month * 100 + birth.day if birth else "",
            ]
        )
    return [
        (f"DROP TABLE IF EXISTS {TEMP_TABLE}", None),
        (
            f"CREATE TEMPORARY TABLE {TEMP_TABLE} (patient_id integer PRIMARY KEY, pid text NOT NULL,"
            " baseline date, birth_year integer, birth_md integer)",
            None,
        ),
        (f"COPY {TEMP_TABLE} FROM STDIN WITH CSV", rows.getvalue()),
        (f"ANALYZE {TEMP_TABLE}", None),
    ]


def _copy_statement(cursor, request: PackageRequest) -> str:
    sql, params = assessments_sql(request)
    return f"COPY ({cursor.mogrify(sql, params).decode()}) TO STDOUT WITH (FORMAT csv, HEADER)"


def write_assessments_postgresql(path: Path, participants: Sequence[Participant], request: PackageRequest) -> int:
    """On the caller's connection, in its transaction."""
    with connection.cursor() as cursor:
        run_steps(cursor, cohort_table_steps(participants))
        try:
            with path.open("wb") as out:
                # The buffer size positionally: the debug cursor wrapper (DEBUG, or query logging) takes no keywords.
                cursor.copy_expert(_copy_statement(cursor, request), out, 1 << 20)
            return cursor.rowcount
        finally:
            cursor.execute(f"DROP TABLE IF EXISTS {TEMP_TABLE}")


class AssessmentsCopy:
    """assessments.csv written by a process of its own (research/package/copy_worker.py), on its
    own connection, in the builder's exported snapshot, while the builder goes on with its Python
    work: a COPY in a thread beside it would wait for the GIL at every row.

    `in_snapshot` returns once the worker's transaction has taken the snapshot, after which the
    builder may end its own; `wait` returns once the file is complete, with its number of rows. Use
    as a context manager: leaving it stops a worker still running (a failed build leaves no process
    behind).
    """

    WORKER = Path(__file__).with_name("copy_worker.py")

    def __init__(self, path: Path, participants: Sequence[Participant], request: PackageRequest, snapshot: str):
        with connection.cursor() as cursor:
            copy_statement = _copy_statement(cursor, request)
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)  # Django's cursor class; the worker uses psycopg2's own
        spec = {
            "connect": params,
            "snapshot": snapshot,
            "steps": [("SET LOCAL jit = off", None), *cohort_table_steps(participants)],
            "copy": copy_statement,
            "path": str(path),
        }
        self._process = subprocess.Popen(
            [sys.executable, str(self.WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            # stdin stays open: its end tells the worker to stop (research/package/copy_worker.py).
            self._process.stdin.write(json.dumps(spec).encode() + b"\n")
            self._process.stdin.flush()
        except BrokenPipeError:  # it stopped at once: say why
            self._process.wait()
            self._raise_failure()
        except BaseException:
            self.__exit__()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        for pipe in (self._process.stdin, self._process.stdout, self._process.stderr):
            pipe.close()

    def _expect(self, word: str) -> str:
        """The rest of the worker's next line, which must start with `word`."""
        said, _, rest = self._process.stdout.readline().decode().strip().partition(" ")
        if said != word:
            self._process.wait()
            self._raise_failure()
        return rest

    def _raise_failure(self):
        try:
            failure = json.loads(self._process.stderr.read() or b"{}")
        except ValueError:
            failure = {}
        message = failure.get("message") or f"the COPY worker stopped (exit status {self._process.returncode})"
        # A lost or refused connection is worth a retry, as in the builder's own process.
        error = OperationalError if failure.get("error") in ("OperationalError", "InterfaceError") else DatabaseError
        raise error(f"writing assessments.csv: {message}")

    def in_snapshot(self) -> None:
        self._expect("in-snapshot")

    def wait(self) -> int:
        """Wait for the file to be complete; returns its number of rows."""
        rows = int(self._expect("done"))
        self._process.wait()
        return rows


# --- Any database: the ORM, a chunk of patients at a time ------------------------------------------


def _value(column, value):
    if column.kind == "devices":
        return ";".join(sorted(value or [])) or None
    if column.kind == "choice":
        return value or None
    return value


def write_assessments_generic(path: Path, participants: Sequence[Participant], request: PackageRequest) -> int:
    """The same bytes as the COPY path (csv quoting, empty for NULL, "\\n" line ends, same order)."""
    written = 0
    measures = assessment_measures()
    fields = ["patient_id", "assessment_date", "id", "source", *(column.source for column in measures)]
    exported = [participant for participant in participants if participant.baseline is not None]
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(assessments_table().header)
        for start in range(0, len(exported), GENERIC_CHUNK):
            chunk = exported[start : start + GENERIC_CHUNK]  # already in pid order
            by_patient = defaultdict(list)
            rows = (
                Assessment.objects.filter(assessment_window(request), patient_id__in=[p.patient_id for p in chunk])
                .order_by("patient_id", "assessment_date", "id")
                .values_list(*fields)
                .iterator(chunk_size=2000)
            )
            for row in rows:
                by_patient[row[0]].append(row)
            for participant in chunk:
                birth = _exported_birth(participant)
                for _, date, _, source, *values in by_patient.pop(participant.patient_id, ()):
                    writer.writerow(
                        [
                            participant.pid,
                            (date - participant.baseline).days,
                            deid.age_text(age_in_years(birth, date)) if birth else None,
                            source,
                            *(_value(column, value) for column, value in zip(measures, values, strict=True)),
                        ]
                    )
                    written += 1
    return written
