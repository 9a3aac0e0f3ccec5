"""assessments.csv: one row per assessment, written without holding the rows in Python.

On PostgreSQL the cohort (patient id, pid, baseline, birth) goes into a temporary table with
COPY FROM, and one `COPY (SELECT ...) TO STDOUT WITH CSV HEADER` joins, pseudonymises, turns dates
into day intervals and ages, and streams straight into the file. Other databases (SQLite, for
`make run`) take a slower path with the same bytes: chunks of patients through the ORM. A test
holds the two to byte-identical output.
"""

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from django.db import connection

from assessments.models import Assessment
from registry.dates import age_in_years
from research.package import PackageRequest, deid
from research.package.columns import assessment_measures, assessments_table
from research.package.participants import CHUNK, Participant, assessment_window

TEMP_TABLE = "research_export_cohort"


def _exported_birth(participant: Participant):
    """The date of birth used for ages, or None when the participant's ages must not leave:
    unknown, or k-anonymity suppressed or widened their age band (an exact age would undo it)."""
    return None if participant.ages_withheld else participant.birth


def write_assessments(path: Path, participants: Sequence[Participant], request: PackageRequest) -> None:
    if connection.vendor == "postgresql":
        write_assessments_postgresql(path, participants, request)
    else:
        write_assessments_generic(path, participants, request)


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


def load_cohort_table(cursor, participants: Sequence[Participant]) -> None:
    """The cohort into a temporary table, with COPY FROM: one round trip for any number of patients."""
    cursor.execute(f"DROP TABLE IF EXISTS {TEMP_TABLE}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {TEMP_TABLE} (patient_id integer PRIMARY KEY, pid text NOT NULL,"
        " baseline date, birth_year integer, birth_md integer)"
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
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
    buffer.seek(0)
    cursor.copy_expert(f"COPY {TEMP_TABLE} FROM STDIN WITH CSV", buffer)
    cursor.execute(f"ANALYZE {TEMP_TABLE}")


def write_assessments_postgresql(path: Path, participants: Sequence[Participant], request: PackageRequest) -> None:
    with connection.cursor() as cursor:
        load_cohort_table(cursor, participants)
        try:
            sql, params = assessments_sql(request)
            query = cursor.mogrify(sql, params).decode()
            with path.open("w", encoding="utf-8", newline="") as out:
                # The buffer size positionally: the debug cursor wrapper (DEBUG, or query logging) takes no keywords.
                cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)", out, 1 << 20)
        finally:
            cursor.execute(f"DROP TABLE IF EXISTS {TEMP_TABLE}")


# --- Any database: the ORM, a chunk of patients at a time ------------------------------------------


def _value(column, value):
    if column.kind == "devices":
        return ";".join(sorted(value or [])) or None
    if column.kind == "choice":
        return value or None
    return value


def write_assessments_generic(path: Path, participants: Sequence[Participant], request: PackageRequest) -> None:
    """The same bytes as the COPY path (csv quoting, empty for NULL, "\\n" line ends, same order)."""
    measures = assessment_measures()
    fields = ["patient_id", "assessment_date", "id", "source", *(column.source for column in measures)]
    exported = [participant for participant in participants if participant.baseline is not None]
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(assessments_table().header)
        for start in range(0, len(exported), CHUNK):
            chunk = exported[start : start + CHUNK]  # already in pid order
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
