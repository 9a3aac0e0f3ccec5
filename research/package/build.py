"""Build one export package: read, de-identify, write the tables and their companions, bag, zip.

The database is read first, inside one transaction (REPEATABLE READ when the builder opens it), so
that participants, assessments and milestones come from one snapshot. The assessments, by far the
largest table, are copied by a process of their own in that snapshot
(research.package.assessment_rows.AssessmentsCopy) while this one writes everything else: the
milestones, the phenopackets, the figure, the small tables and their Parquet files. Inside a
caller's transaction (the tests) all is read on one connection instead; the bytes are the same.

The tables go to a staging directory (the Parquet files are converted from them); the phenopackets,
one per participant, go straight into the zip, which holds the bag (research.package.bag), followed
by the staged files in path order. The order is fixed, so the zip is reproducible.
"""

import csv
import json
import os
import shutil
from contextlib import ExitStack, contextmanager
from pathlib import Path

from django.db import connection, transaction

from research.errors import ExportRefused
from research.package import PackageRequest, PackageResult, Progress, deid
from research.package.assessment_rows import AssessmentsCopy, write_assessments
from research.package.bag import BagZip
from research.package.columns import Table, codebook_rows, datapackage, tables
from research.package.figure import curves_by_group, draw_progression, group_label
from research.package.milestones import write_milestones
from research.package.parquet import csv_to_parquet
from research.package.participants import anonymise_participants, load_participants
from research.package.phenopacket_files import phenopacket_files
from research.package.readme import readme
from research.package.summary import summary_rows
from research.storage import file_sha256


def export_name(request: PackageRequest) -> str:
    return f"gne-registry-export-{request.export_id}"


@contextmanager
def _snapshot():
    """One consistent view of the database for every read of the build.

    Yields the snapshot's id when another connection can share it (`_in_snapshot`): on
    PostgreSQL, when the builder opened the transaction. Else None.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        snapshot = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                if outermost:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    cursor.execute("SELECT pg_export_snapshot()")
                    snapshot = cursor.fetchone()[0]
                # The build's chunked queries are costed high enough for JIT compilation, which
                # takes longer (about 0.1 s a query) than running them.
                cursor.execute("SET LOCAL jit = off")
        yield snapshot


def _write_csv(path: Path, table: Table, rows) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(table.header)
        writer.writerows(rows)


def _json(path: Path, content: dict) -> None:
    path.write_text(json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _staged_files(directory: Path) -> list[tuple[str, Path]]:
    """(path under data/, file) of every file of the staging directory, sorted by path."""
    found = []
    for root, _, files in os.walk(directory):
        found += [Path(root, name) for name in files]
    return sorted((path.relative_to(directory).as_posix(), path) for path in found)


def build(request: PackageRequest, workdir: Path, progress: Progress) -> PackageResult:
    name = export_name(request)
    staging = Path(workdir) / name
    target = Path(workdir) / f"{name}.zip"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    target.unlink(missing_ok=True)
    bag = BagZip(target)
    try:
        report = _write_payload(request, staging, progress, bag)
        progress(85, "zipping the bag")
        bag.add(_staged_files(staging))
        bag_info = {"External-Identifier": name, "External-Description": "GNE myopathy registry research export"}
        bag.close(bag_info)
    except BaseException:
        bag.discard()
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    progress(100, "done")
    return PackageResult(
        path=target,
        size_bytes=target.stat().st_size,
        sha256=file_sha256(target),
        patient_count=report["patients"],
        achieved_k=report["deidentification"]["achieved_k"],
        report=report,
    )


def _write_payload(request: PackageRequest, out: Path, progress: Progress, bag: BagZip) -> dict:
    """The phenopackets into `bag`, every other file of its data/ directory into `out`; returns the
    content of deid_report.json."""
    all_tables = {
        table.name: table
        for table in tables(
            include_ancestry=request.include_ancestry,
            country_values=deid.geography_values(),
            small_cell=request.small_cell,
        )
    }
    with ExitStack() as cleanup:
        with _snapshot() as snapshot:
            progress(5, "selecting participants")
            participants = load_participants(request)
            if not participants:
                raise ExportRefused("the cohort holds no patients")
            deidentification = anonymise_participants(participants, request)
            _write_csv(
                out / "participants.csv",
                all_tables["participants"],
                (p.csv_row(request.include_ancestry) for p in participants),
            )
            progress(15, "writing assessments")
            copying = None
            if snapshot is None:
                assessment_count = write_assessments(out / "assessments.csv", participants, request)
            else:
                # The COPY of the assessments runs in a process of its own, in this snapshot, while
                # this one writes the milestones, the phenopackets, the figure and the small tables.
                copying = cleanup.enter_context(
                    AssessmentsCopy(out / "assessments.csv", participants, request, snapshot)
                )
            progress(25, "writing milestones")
            times = write_milestones(out / "milestones.csv", participants)
            if copying:
                copying.in_snapshot()  # before this transaction, and so the snapshot, ends

        progress(30, "writing phenopackets")
        bag.add(phenopacket_files(participants, times))
        rows, aggregate = summary_rows(participants, request.small_cell)
        _write_csv(out / "summary_counts.csv", all_tables["summary_counts"], rows)
        _write_csv(out / "codebook.csv", all_tables["codebook"], codebook_rows(list(all_tables.values())))

        progress(40, "drawing Kaplan-Meier curves")
        groups = [group_label(participant.out_genotype) for participant in participants]
        curves, left_out = curves_by_group(times, groups, request.small_cell)
        draw_progression(out / "progression.png", curves)
        # Nothing more is read from the participants: their memory goes before the Parquet files,
        # where the build's memory peaks (40,000 participants hold some 20 MB).
        patients = len(participants)
        del participants, times, groups, curves

        if copying:
            progress(50, "finishing assessments")
            assessment_count = copying.wait()
        # After the COPY has ended: the Parquet files are where the build's memory peaks, so not
        # while the COPY worker holds its own too.
        progress(60, "writing Parquet")
        (out / "parquet").mkdir()
        for table in all_tables.values():
            csv_to_parquet(out / table.path, out / "parquet" / f"{table.name}.parquet", table)

    report = {
        "export": request.export_id,
        "patients": patients,
        "thresholds": {
            "k": request.k,
            "max_suppression": request.max_suppression,
            "small_cell": request.small_cell,
            "include_ancestry": request.include_ancestry,
        },
        "deidentification": deidentification,
        "aggregate_suppression": [aggregate],
        "figure_groups_left_out": [
            {"figure": "progression.png", "milestone": item.milestone, "group": item.group, "reason": item.reason}
            for item in left_out
        ],
        "dropped": "names, contact details, addresses, national and hospital ids, registry UUIDs, database ids, "
        "site, free text, entry and audit timestamps, dates of birth and death, every calendar date",
    }
    _json(out / "deid_report.json", report)
    counts = {"participants": patients, "assessments": assessment_count}
    (out / "README.md").write_text(readme(request, report=report, left_out=left_out, counts=counts), encoding="utf-8")
    _json(
        out / "datapackage.json",
        datapackage(
            list(all_tables.values()),
            name=export_name(request),
            title=f"GNE myopathy registry research export {request.export_id}",
            description="De-identified (pseudonymised) registry data; see README.md and deid_report.json.",
        ),
    )
    return report
