"""Build one export package: read, de-identify, write the tables and their companions, bag, zip.

The database is read first, inside one transaction (REPEATABLE READ when the builder opens it), so
that participants, assessments and milestones come from one snapshot. Everything after works on
the files written and the participants held in memory. The tables go to a staging directory (the
Parquet files are converted from them); the phenopackets, one per participant, go straight into
the zip, which holds the bag (research.package.bag): first, from a second thread, while the main
one writes the rest; then the staged files in path order. The order is fixed, so the zip is
reproducible.
"""

import csv
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from django.db import connection, transaction

from research.errors import ExportRefused
from research.package import PackageRequest, PackageResult, Progress, deid
from research.package.assessment_rows import write_assessments
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


def _in_snapshot(snapshot: str, function, *args) -> None:
    """Run `function(*args)` on this thread's own connection, in the builder's snapshot."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
            cursor.execute("SET LOCAL jit = off")
            function(*args)
    finally:
        connection.close()


def _write_csv(path: Path, table: Table, rows) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(table.header)
        writer.writerows(rows)


def _count_rows(path: Path) -> int:
    with path.open("rb") as source:
        return sum(block.count(b"\n") for block in iter(lambda: source.read(1 << 20), b"")) - 1


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
        # The phenopackets go into the zip first, from a second thread, as soon as the milestones
        # are known: compressing 40,000 small files then overlaps the Parquet, the figure and the
        # other files, which the main thread writes meanwhile (bench/export_bench.py: 12.1 s down to
        # 10.9 s at 40,000 patients). Zipping the large tables there too was slower: the figure and
        # the zipping then contend for the interpreter. The staged files follow in path order.
        with ThreadPoolExecutor(max_workers=1) as zipper:
            report, zipping = _write_payload(
                request,
                staging,
                progress,
                start_zipping=lambda participants, times: zipper.submit(
                    bag.add, phenopacket_files(participants, times)
                ),
            )
            zipping.result()
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


def _write_payload(request: PackageRequest, out: Path, progress: Progress, start_zipping):
    """Every file of the bag's data/ directory but the phenopackets. `start_zipping` (participants,
    times to each milestone) is called once the milestones are known;
    returns the content of deid_report.json and what `start_zipping` returned."""
    all_tables = {
        table.name: table
        for table in tables(
            include_ancestry=request.include_ancestry,
            country_values=deid.geography_values(),
            small_cell=request.small_cell,
        )
    }
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
        if snapshot is None:
            write_assessments(out / "assessments.csv", participants, request)
            progress(40, "writing milestones")
            times = write_milestones(out / "milestones.csv", participants)
        else:
            # The database's COPY of the assessments and the Python work of the milestones overlap:
            # the COPY on a second connection, in the same snapshot. The files are the same.
            with ThreadPoolExecutor(max_workers=1) as copier:
                copying = copier.submit(
                    _in_snapshot, snapshot, write_assessments, out / "assessments.csv", participants, request
                )
                progress(40, "writing milestones")
                times = write_milestones(out / "milestones.csv", participants)
                copying.result()

    zipping = start_zipping(participants, times)
    rows, aggregate = summary_rows(participants, request.small_cell)
    _write_csv(out / "summary_counts.csv", all_tables["summary_counts"], rows)
    _write_csv(out / "codebook.csv", all_tables["codebook"], codebook_rows(list(all_tables.values())))

    progress(50, "writing Parquet")
    (out / "parquet").mkdir()
    for table in all_tables.values():
        csv_to_parquet(out / table.path, out / "parquet" / f"{table.name}.parquet", table)

    progress(70, "drawing Kaplan-Meier curves")
    groups = [group_label(p.out_genotype) for p in participants]
    curves, left_out = curves_by_group(times, groups, request.small_cell)
    draw_progression(out / "progression.png", curves)

    report = {
        "export": request.export_id,
        "patients": len(participants),
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
    counts = {"participants": len(participants), "assessments": _count_rows(out / "assessments.csv")}
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
    return report, zipping
