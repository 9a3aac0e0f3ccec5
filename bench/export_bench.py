#!/usr/bin/env python
"""Export package benchmark: the whole `build_package` against a plain COPY of the rows it reads.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gne_export_bench \\
        .venv/bin/python bench/export_bench.py --patients 40000 --visits 20

Runs half the size first, then the size asked for, each `--repeat` times (3), and prints medians:
`patients=N visits=V export_s=... copy_s=... ratio=... peak_rss_mb=... copy_worker_peak_rss_mb=...`:
the build runs in a child process of its own, so its peak RSS is the builder's, not the loader's:
the builder's own high-water mark (VmHWM) or, while the process it starts for the assessments'
COPY (research/package/copy_worker.py) runs, the two together, whichever is higher;
copy_worker_peak_rss_mb is the worker's alone. copy_s is `COPY (SELECT the joined patient,
identity and assessment rows) TO STDOUT` into a file. Targets: ratio <= 3, peak RSS <= 250 MB.

The synthetic cohort is made in SQL (INSERT ... SELECT generate_series), under a site of its own
(`export-bench`), and kept: a rerun with the same or a smaller size reuses it.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/gne_export_bench"
SITE_CODE = "export-bench"
VARIANTS = ("c.2228T>C", "c.1807G>C", "c.620A>T", "c.1985C>T", "c.1225G>T", "c.131C>T", "c.2086G>A", "c.1853T>C")
# Genotype of patient id % 20, as indexes into VARIANTS: the founders common, a few rare pairs.
GENOTYPES = [(0, 0)] * 8 + [(1, 1)] * 4 + [(2, 1)] * 3 + [(3, 4)] * 2 + [(5, 6), (7, 7), (5, 7)]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def setup_django() -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    import django

    django.setup()


def ensure_database() -> None:
    import psycopg2
    from django.conf import settings

    name = settings.DATABASES["default"]["NAME"]
    connection = psycopg2.connect(dbname="postgres", user="postgres", host="127.0.0.1", port=5432)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            log(f"Creating database {name}...")
            cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()


def _insert_select(cursor, model, expressions: dict[str, str], source: str, params=()) -> None:
    """INSERT ... SELECT: the given SQL per column, the model's default for every other NOT NULL column.

    The expressions take no parameters; `params` are for `source`, which comes after every value.
    """
    from django.db import connection

    columns, values, defaults = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        if field.column in expressions:
            columns.append(field.column)
            values.append(expressions[field.column])
        elif not field.null:
            columns.append(field.column)
            values.append("%s")
            defaults.append(field.get_db_prep_save(field.get_default(), connection))
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {source}"
    # The SQL's modulo signs are escaped for the driver; its %s stay placeholders.
    cursor.execute(sql.replace("%", "%%").replace("%%s", "%s"), [*defaults, *params])


def load_cohort(patients: int, visits: int) -> int:
    """Make the synthetic cohort in SQL; returns the site id."""
    from django.db import connection, transaction

    from assessments.models import Assessment
    from patients.models import Diagnosis, Genotype, Patient, PatientIdentity, Site
    from patients.services import variant_for
    from patients.variants import parse_variant

    site, _ = Site.objects.get_or_create(code=SITE_CODE, defaults={"name": "Export benchmark", "country": "GB"})
    Patient.objects.filter(site=site).delete()
    variant_ids = [variant_for(parse_variant(name)).pk for name in VARIANTS]
    first = "ARRAY[" + ",".join(str(variant_ids[a]) for a, _ in GENOTYPES) + "]::bigint[]"
    second = "ARRAY[" + ",".join(str(variant_ids[b]) for _, b in GENOTYPES) + "]::bigint[]"
    stage = "LEAST(5, v / 4 + (p.id % 2))"
    walking = f"CASE WHEN {stage} = 5 THEN 0 ELSE GREATEST(1, 4 - v / 5) END"
    with transaction.atomic(), connection.cursor() as cursor:
        log(f"Loading {patients} patients...")
        _insert_select(
            cursor,
            Patient,
            {
                "uuid": "gen_random_uuid()",
                "created_at": "now()",
                "updated_at": "now()",
                "sex": "CASE WHEN i % 2 = 0 THEN 'female' ELSE 'male' END",
                "country": "(ARRAY['IL','JP','GB','US','IN','CN','DE','IT','IR','KR','FR','IS'])[1 + i % 12]",
                "status": "'enrolled'",
                "site_id": str(int(site.pk)),
            },
            "generate_series(1, %s) i",
            [patients],
        )
        bench = f"patients_patient p WHERE p.site_id = {int(site.pk)}"
        _insert_select(
            cursor,
            PatientIdentity,
            {
                "patient_id": "p.id",
                "given_name": "'Bench'",
                "family_name": "'Patient' || p.id",
                "date_of_birth": "date '1940-01-01' + (p.id * 7919 % 11000)::int",
            },
            bench,
        )
        _insert_select(
            cursor,
            Diagnosis,
            {
                "uuid": "gen_random_uuid()",
                "created_at": "now()",
                "updated_at": "now()",
                "patient_id": "p.id",
                "genetically_confirmed": "TRUE",
                "onset_age": "20 + p.id % 20",
                "onset_date": "make_date((1940 + (p.id * 7919 % 11000) / 366 + 21 + p.id % 20)::int, 1, 1)",
                "onset_date_precision": "'year'",
                "genetic_diagnosis_date": "make_date((1940 + (p.id * 7919 % 11000) / 366 + 26 + p.id % 20)::int, 6, 1)",
                "genetic_diagnosis_date_precision": "'month'",
                "first_symptom": "(ARRAY['foot_drop','distal_leg_weakness','gait_change','falls'])[1 + p.id % 4]",
                "rimmed_vacuoles": "(ARRAY['yes','no','unknown'])[1 + p.id % 3]",
            },
            bench,
        )
        _insert_select(
            cursor,
            Genotype,
            {
                "uuid": "gen_random_uuid()",
                "created_at": "now()",
                "updated_at": "now()",
                "patient_id": "p.id",
                "allele1_id": f"({first})[1 + p.id % 20]",
                "allele2_id": f"({second})[1 + p.id % 20]",
                "allele1_entered_as": "'bench'",
                "zygosity": f"CASE WHEN ({first})[1 + p.id % 20] = ({second})[1 + p.id % 20]"
                " THEN 'homozygous' ELSE 'compound_heterozygous' END",
            },
            bench,
        )
        log(f"Loading {patients * visits} assessments...")
        _insert_select(
            cursor,
            Assessment,
            {
                "uuid": "gen_random_uuid()",
                "created_at": "now()",
                "updated_at": "now()",
                "patient_id": "p.id",
                "assessment_date": "d.onset_date + 400 + v * 182",
                "source": "CASE WHEN v % 3 = 0 THEN 'patient' ELSE 'clinician' END",
                "falls_count": "(p.id + v) % 4",
                "devices": f"(ARRAY['[]','[\"afo\"]','[\"afo\",\"cane\"]','[\"walker\"]',"
                f'\'["walker","manual_wheelchair"]\',\'["power_wheelchair"]\'])[1 + {stage}]::jsonb',
                "ambulation_class": stage,
                "wheelchair_use": f"(ARRAY['none','none','none','none','part_time','full_time'])[1 + {stage}]",
                **{
                    f"ibmfrs_{item}": "GREATEST(0, 4 - v / 6)"
                    for item in (
                        "swallowing",
                        "handwriting",
                        "cutting_food",
                        "fine_motor",
                        "dressing",
                        "hygiene",
                        "turning_in_bed",
                        "sit_to_stand",
                        "climbing_stairs",
                    )
                },
                "ibmfrs_walking": walking,
                "ibmfrs_total": f"9 * GREATEST(0, 4 - v / 6) + {walking}",
                "six_minute_walk_status": f"CASE WHEN {stage} = 5 THEN 'unable' ELSE 'done' END",
                "six_minute_walk_m": f"CASE WHEN {stage} = 5 THEN NULL ELSE GREATEST(10, 520 - v * 25) END",
                "grip_left_kg": "round((20 + (p.id % 17) - v * 0.4)::numeric, 1)",
                "grip_right_kg": "round((22 + (p.id % 13) - v * 0.4)::numeric, 1)",
                "fvc_percent_predicted": "round((95 - v * 0.8 + p.id % 9)::numeric, 1)",
                "ck_u_per_l": "300 + (p.id * 31 + v * 7) % 900",
            },
            f"patients_diagnosis d JOIN patients_patient p ON p.id = d.patient_id"
            f" CROSS JOIN generate_series(0, {int(visits) - 1}) v WHERE p.site_id = {int(site.pk)}",
        )
    store_derived_milestones(site.pk)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return site.pk


def store_derived_milestones(site_id: int) -> None:
    """The derived milestones the services would have stored (`milestones_derived_build`): the
    assessments above were inserted in SQL, past `milestones_derive`, and the export reads them."""
    from django.db import connection, transaction

    from assessments.models import Assessment, Milestone, MilestoneSource
    from assessments.services import HISTORY_FIELDS, milestones_derived_build
    from patients.models import Patient

    log("Deriving milestones...")
    ids = list(Patient.objects.filter(site_id=site_id).order_by("id").values_list("id", flat=True))
    with transaction.atomic():
        Milestone.objects.filter(patient_id__in=ids, source=MilestoneSource.DERIVED).delete()
        for start in range(0, len(ids), 2000):
            chunk = ids[start : start + 2000]
            visits = Assessment.objects.filter(patient_id__in=chunk).only("patient_id", *HISTORY_FIELDS)
            Milestone.objects.bulk_create(milestones_derived_build(list(visits)), batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Milestone._meta.db_table}")


def ensure_cohort(patients: int, visits: int) -> list[int]:
    """The ids of the benchmark patients, loading them unless a cohort of that shape is there."""
    from django.core.management import call_command
    from django.db.models import Count

    from assessments.models import Milestone, MilestoneSource
    from patients.models import Patient

    call_command("migrate", interactive=False, verbosity=0)
    present = Patient.objects.filter(site__code=SITE_CODE)
    shape = present.annotate(n=Count("assessments")).values_list("n", flat=True)[:1]
    if present.count() < patients or list(shape) != [visits]:
        load_cohort(patients, visits)
    elif not Milestone.objects.filter(patient__site__code=SITE_CODE, source=MilestoneSource.DERIVED).exists():
        store_derived_milestones(present.values_list("site_id", flat=True)[0])  # a cohort loaded before they were
    return list(Patient.objects.filter(site__code=SITE_CODE).order_by("id").values_list("id", flat=True))


def time_copy(patient_ids: list[int], path: Path) -> float:
    """The floor: a plain COPY of the joined rows the export reads, into a file."""
    from django.db import connection

    sql = (
        "COPY (SELECT p.uuid, i.date_of_birth, a.* FROM patients_patient p"
        " JOIN patients_patientidentity i ON i.patient_id = p.id"
        " JOIN assessments_assessment a ON a.patient_id = p.id"
        f" WHERE p.id BETWEEN {int(patient_ids[0])} AND {int(patient_ids[-1])}"
        " ORDER BY p.id, a.assessment_date, a.id) TO STDOUT WITH CSV HEADER"
    )
    started = time.perf_counter()
    with connection.cursor() as cursor, path.open("w") as out:
        cursor.copy_expert(sql, out, 1 << 20)
    return time.perf_counter() - started


def child(first_id: int, last_id: int, workdir: str) -> None:
    """Run in a process of its own: one build, then its time and peak RSS as JSON on stdout."""
    setup_django()
    from django.conf import settings

    from patients.models import Patient
    from research.package import PackageRequest, build_package

    ids = list(Patient.objects.filter(id__range=(first_id, last_id)).order_by("id").values_list("id", flat=True))
    request = PackageRequest(
        export_id=1,
        patient_ids=ids,
        key=b"benchmark key",
        k=settings.REGISTRY_EXPORT_K,
        max_suppression=settings.REGISTRY_EXPORT_MAX_SUPPRESSION,
        small_cell=settings.REGISTRY_EXPORT_SMALL_CELL,
        include_ancestry=False,
        description=(("Cohort", "export benchmark"),),
    )

    def memory_kb(field: str) -> int:
        status = Path("/proc/self/status").read_text().splitlines()
        return next(int(line.split()[1]) for line in status if line.startswith(field))

    worker_peak_kb = together_peak_kb = 0

    def watch_workers() -> None:
        """The peak RSS of the builder's child process (the COPY worker), and of the two together,
        sampled from /proc every 20 ms (getrusage(RUSAGE_CHILDREN) would count the builder's own
        pages, shared at the fork)."""
        nonlocal worker_peak_kb, together_peak_kb
        while True:
            together_kb = memory_kb("VmRSS")
            for children in Path("/proc/self/task").glob("*/children"):
                for pid in children.read_text().split():
                    try:
                        # Until it runs the worker's script, a child started by fork shares this
                        # process's memory, and its RSS is this process's.
                        if b"copy_worker.py" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                            continue
                        status = Path(f"/proc/{pid}/status").read_text().splitlines()
                    except OSError:
                        continue
                    for line in status:
                        if line.startswith("VmHWM"):
                            worker_peak_kb = max(worker_peak_kb, int(line.split()[1]))
                        elif line.startswith("VmRSS"):
                            together_kb += int(line.split()[1])
            together_peak_kb = max(together_peak_kb, together_kb)
            time.sleep(0.02)

    threading.Thread(target=watch_workers, daemon=True).start()
    started = time.perf_counter()
    result = build_package(
        request,
        Path(workdir),
        lambda percent, step: log(
            f"  {time.perf_counter() - started:6.1f} s {percent:3d}% {step}"
            f" (RSS {memory_kb('VmRSS') // 1024} MB, peak {memory_kb('VmHWM') // 1024} MB)"
        ),
    )
    seconds = time.perf_counter() - started
    # The COPY of the assessments runs in a process of its own (research/package/copy_worker.py), a
    # child of this one: the peak is that of both together, or of the builder alone after the
    # worker is gone (VmHWM catches what sampling may miss).
    peak_kb = max(memory_kb("VmHWM"), together_peak_kb)
    worker_kb = worker_peak_kb
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_mb": peak_kb / 1024,
                "worker_peak_rss_mb": worker_kb / 1024,
                "zip_mb": result.size_bytes / 2**20,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=40000)
    parser.add_argument("--visits", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, reported as medians")
    parser.add_argument("--child", nargs=3, metavar=("FIRST_ID", "LAST_ID", "WORKDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), int(args.child[1]), args.child[2])
        return
    setup_django()
    ensure_database()
    ids = ensure_cohort(args.patients, args.visits)
    for size in sorted({args.patients // 2, args.patients}):
        chosen = ids[:size]
        copies, exports = [], []
        # Alternated, so that neither side always runs on a warmer cache; medians, as single runs on
        # this 2-core machine vary by a quarter.
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as workdir:
                copies.append(time_copy(chosen, Path(workdir) / "copy.csv"))
                command = [sys.executable, __file__, "--child", str(chosen[0]), str(chosen[-1]), workdir]
                output = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ.copy())
                log(output.stderr.rstrip())
                exports.append(json.loads(output.stdout))
        export_s = statistics.median(run["seconds"] for run in exports)
        copy_s = statistics.median(copies)
        print(
            f"patients={size} visits={args.visits} export_s={export_s:.1f} copy_s={copy_s:.1f} "
            f"ratio={export_s / copy_s:.2f} peak_rss_mb={max(run['peak_rss_mb'] for run in exports):.0f} "
            f"copy_worker_peak_rss_mb={max(run['worker_peak_rss_mb'] for run in exports):.0f} "
            f"zip_mb={exports[0]['zip_mb']:.0f} runs={args.repeat} "
            f"(export {min(run['seconds'] for run in exports):.1f}-{max(run['seconds'] for run in exports):.1f} s, "
            f"copy {min(copies):.1f}-{max(copies):.1f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
