#!/usr/bin/env python
"""Assessment API throughput and latency against PostgreSQL with the 5,000-patient demo cohort.

Run with `make bench` (on demand, never in CI). See bench/README.md for what the figures mean.

What it does, in order:
1. makes sure the database `gne_registry_bench` (or the one named by BENCH_DATABASE) exists, is migrated
   and holds the demo cohort (seeded once and kept between runs; `--reseed` drops and recreates it);
2. creates a staff user with an API token, and builds valid create payloads from the cohort;
3. makes each request once in-process to check it succeeds and to count its SQL queries;
4. starts gunicorn (2 workers x 4 threads, gthread) on a free port of 127.0.0.1 serving both the
   real API and the minimal views of bench/minimal_views.py;
5. for each scenario, starts a separate load-generator process (bench/loadgen.py):
   N concurrent keep-alive HTTP clients, a warm-up, then a bounded measurement window;
6. stops gunicorn, deletes the assessments the benchmark created, and has bench/report.py print
   the table and ratios and write them to bench/results/api_bench-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import logging
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: `bench` (and the project) importable

from bench import loadgen, report  # noqa: E402
from bench.report import OPERATIONS, OTHER_LOAD_WARNING, SIDES  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"
# BENCH_DATABASE names another database, so that two checkouts on one server do not share (and reseed) one.
BENCH_DB = os.environ.get("BENCH_DATABASE", "gne_registry_bench")
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
BENCH_SETTINGS = "bench.settings"
BENCH_USERNAME = "bench.staff"
DEMO_SEED = 2026

API_PATH = "/api/v1/assessments/"
MINIMAL_PATH = "/bench/minimal/assessments/"


# --- Orchestration (Django, database, gunicorn) ------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_database(reseed: bool) -> None:
    import psycopg2

    connection = psycopg2.connect(dbname="postgres", user="postgres", host="127.0.0.1", port=5432)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            if reseed:
                log(f"Dropping database {BENCH_DB} (--reseed)...")
                cursor.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB])
            if cursor.fetchone() is None:
                log(f"Creating database {BENCH_DB}...")
                cursor.execute(f'CREATE DATABASE "{BENCH_DB}"')
    finally:
        connection.close()


def setup_django() -> None:
    os.environ["DATABASE_URL"] = f"{PG_SERVER}/{BENCH_DB}"
    inherited = os.environ.get("DJANGO_SETTINGS_MODULE")
    if inherited not in (None, "config.settings.test", BENCH_SETTINGS):
        log(f"Note: DJANGO_SETTINGS_MODULE={inherited} ignored; the benchmark uses {BENCH_SETTINGS}.")
    os.environ["DJANGO_SETTINGS_MODULE"] = BENCH_SETTINGS
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def prepare_database(patients: int) -> dict:
    from django.core.management import call_command

    from assessments.models import Assessment
    from patients.models import Patient

    log("Migrating...")
    call_command("migrate", interactive=False, verbosity=0)
    present = Patient.objects.count()
    if present < patients:
        if present:
            raise SystemExit(
                f"{BENCH_DB} holds {present} patients, fewer than {patients}; run with --reseed to recreate it."
            )
        log(f"Seeding the demo cohort ({patients} patients; takes a minute or two, kept for later runs)...")
        started = time.monotonic()
        call_command("seed_demo", patients=patients, seed=DEMO_SEED, stdout=sys.stderr)
        log(f"Seeded in {time.monotonic() - started:.0f} s.")
    return {"patients": Patient.objects.count(), "assessments": Assessment.objects.count()}


def bench_user():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from registry import roles
    from registry.tokens import token_create

    user, _ = get_user_model().objects.get_or_create(username=BENCH_USERNAME)
    user.groups.add(Group.objects.get(name=roles.STAFF))
    # A fresh token each run: tokens expire (REGISTRY_TOKEN_TTL_HOURS), and only their digest is stored.
    _, token = token_create(user=user)
    return user, token


def vacuum_analyze() -> None:
    """Fresh planner statistics and visibility map, as autovacuum would keep them (it may be off)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def delete_created(user) -> int:
    """Remove what earlier runs created (every assessment entered by the benchmark user)."""
    from assessments.models import Assessment

    deleted, _ = Assessment.objects.filter(entered_by=user).delete()
    return deleted


def build_requests(rng: random.Random, count: int) -> dict[str, dict[str, list]]:
    """The request lists each scenario cycles through, the same for the API and minimal sides."""
    from assessments.models import Assessment
    from demo.cohort import STAGE_PROFILES  # the demo's own mapping, so payloads match the stage
    from patients.models import EnrollmentStatus, Patient
    from registry.dates import today

    latest: dict[int, tuple] = {}
    rows = Assessment.objects.order_by("patient_id", "assessment_date", "id").values_list(
        "patient_id", "assessment_date", "ambulation_class"
    )
    for patient_id, when, ambulation_class in rows.iterator(chunk_size=5000):
        latest[patient_id] = (when, ambulation_class)
    enrolled = list(
        Patient.objects.filter(status=EnrollmentStatus.ENROLLED, identity__date_of_death__isnull=True)
        .order_by("id")
        .values_list("id", "uuid")
    )
    candidates = [(str(uuid), latest[pk]) for pk, uuid in enrolled if pk in latest and latest[pk][1] is not None]
    if not candidates:
        raise SystemExit("No enrolled patient with an assessment to add assessments to.")
    all_uuids = [str(uuid) for uuid in Patient.objects.order_by("id").values_list("uuid", flat=True)]
    day = today()

    bodies = []
    for _ in range(count):
        uuid, (last_date, ambulation_class) = rng.choice(candidates)
        profile = STAGE_PROFILES[ambulation_class]
        # A new visit between the last one and today, at the stage the patient has reached: valid
        # (after onset, before today, patient alive and enrolled) and never a "walking again".
        span = max(0, (day - last_date).days)
        body = {
            "patient": uuid,
            "assessment_date": (last_date + dt.timedelta(days=rng.randint(min(span, 1), span))).isoformat(),
            "source": "clinician",
            "ambulation_class": ambulation_class,
            "wheelchair_use": profile.wheelchair_use,
            "devices": list(profile.devices),
            "falls_count": rng.randint(0, 3),
            "ibmfrs_swallowing": 4,
            "ibmfrs_handwriting": rng.randint(2, 4),
            "ibmfrs_dressing": rng.randint(1, 4),
            "ibmfrs_walking": profile.ibmfrs_walking,
            "grip_left_kg": round(rng.uniform(8, 30), 1),
        }
        bodies.append(json.dumps(body))
    patients_for_filter = [rng.choice(all_uuids) for _ in range(count)]

    requests_ = {}
    for side, base in (("api", API_PATH), ("minimal", MINIMAL_PATH)):
        requests_[side] = {
            "list": [("GET", f"{base}?page_size=50", None)],
            "list_patient": [("GET", f"{base}?patient={uuid}", None) for uuid in patients_for_filter],
            "create": [("POST", base, body) for body in bodies],
        }
    return requests_


def preflight(token: str, requests_: dict, operations: list[str]) -> tuple[dict, dict[str, str]]:
    """Make each request in-process: count its queries, and find operations that cannot succeed.

    Returns the SQL queries per request (side -> operation -> count) and the operations to skip,
    with the reason (a benchmark of error responses would be worthless).
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Token {token}", raise_request_exception=False)
    request_logger = logging.getLogger("django.request")
    level, request_logger.level = request_logger.level, logging.CRITICAL  # failures are reported below
    queries: dict[str, dict[str, int]] = {side: {} for side in SIDES}
    skipped: dict[str, str] = {}
    listed: dict[str, list[str]] = {}
    for operation in operations:
        for side in SIDES:
            counts = []
            for index in (0, 1):  # the first call warms caches; the second is counted
                choices = requests_[side][operation]
                method, path, body = choices[(-1 - index) % len(choices)]
                with CaptureQueriesContext(connection) as captured:
                    if method == "GET":
                        response = client.get(path)
                    else:
                        response = client.post(path, data=body, content_type="application/json")
                if not 200 <= response.status_code < 300:
                    exc_info = getattr(response, "exc_info", None)
                    cause = (
                        f"{type(exc_info[1]).__name__}: {exc_info[1]}".strip() if exc_info else response.content[:300]
                    )
                    skipped.setdefault(operation, f"{side} {method} {path} answered {response.status_code} ({cause})")
                    break
                counts.append(len(captured))
            if counts:
                queries[side][operation] = counts[-1]
            if operation == "list" and 200 <= response.status_code < 300:
                listed[side] = [str(row.get("id") or row.get("uuid")) for row in response.json()["results"]]
    request_logger.setLevel(level)
    if len(listed) == len(SIDES) and listed["api"] != listed["minimal"]:
        raise SystemExit("The API and the minimal view list different assessments; the comparison would be unfair.")
    return queries, skipped


def machine_busy_cores(seconds: float = 1.0) -> float:
    (busy0, total0), _ = loadgen.machine_ticks(), time.sleep(seconds)
    busy1, total1 = loadgen.machine_ticks()
    return (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1) if total1 > total0 else 0.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, workers: int, threads: int, log_path: Path) -> tuple[subprocess.Popen, object]:
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": BENCH_SETTINGS,
        "DATABASE_URL": f"{PG_SERVER}/{BENCH_DB}",
        "PYTHONPATH": str(ROOT),
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--keep-alive",
        "5",
        "--graceful-timeout",
        "5",
        "--timeout",
        "60",
        "--log-level",
        "warning",
        "--chdir",
        str(ROOT),
    ]
    log_file = open(log_path, "w")  # noqa: SIM115 - closed by stop_gunicorn
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )  # Ctrl-C reaches us, and we stop it
    return process, log_file


def wait_until_up(process: subprocess.Popen, port: int, log_path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health/")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer /health/ within {timeout:.0f} s:\n{log_path.read_text()[-2000:]}")


def worker_pids(master: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                        pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return sorted(pids)


def stop_gunicorn(process: subprocess.Popen | None, log_file) -> None:
    if process is not None and process.poll() is None:
        process.terminate()  # SIGTERM to the master: it stops its workers
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: only gunicorn is in this group
            process.wait(timeout=5)
    if log_file is not None:
        log_file.close()


def run_scenario(spec: dict, timeout: float) -> dict:
    process = subprocess.Popen(
        [sys.executable, loadgen.__file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, text=True
    )
    try:
        out, _ = process.communicate(json.dumps(spec), timeout=timeout)
    except BaseException:
        process.kill()
        process.wait()
        raise
    if process.returncode != 0:
        raise SystemExit(f"The load generator failed (exit {process.returncode}).")
    return json.loads(out)


def machine_info() -> dict:
    import django
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgres": postgres,
    }


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM stops the run the way Ctrl-C does: gunicorn is stopped in `finally`


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reseed", action="store_true", help=f"Drop and recreate {BENCH_DB}, then seed it.")
    parser.add_argument("--patients", type=int, default=5000, help="Demo cohort size (default 5000).")
    parser.add_argument("--clients", type=int, default=20, help="Concurrent clients (default 20).")
    parser.add_argument("--warmup", type=float, default=2.0, help="Warm-up seconds per scenario (default 2).")
    parser.add_argument(
        "--duration", type=float, default=8.0, help="Measured seconds per scenario and round (default 8)."
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="Rounds per operation, API and minimal alternating; figures are medians (default 3).",
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=20000,
        help="Stop a scenario after this many measured requests (default 20000).",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2).")
    parser.add_argument("--threads", type=int, default=4, help="Threads per gunicorn worker (default 4).")
    parser.add_argument(
        "--only", choices=[op for op, _ in OPERATIONS], action="append", help="Run only this operation (repeatable)."
    )
    parser.add_argument(
        "--keep-created",
        action="store_true",
        help="Keep the assessments the run creates (deleted by default, so runs compare).",
    )
    parser.add_argument("--seed", type=int, default=1, help="Random seed for payloads and patients.")
    args = parser.parse_args(argv)
    operations = [op for op, _ in OPERATIONS if not args.only or op in args.only]

    signal.signal(signal.SIGTERM, _interrupt)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")

    ensure_database(args.reseed)
    setup_django()
    from django.db import connections

    db = prepare_database(args.patients)
    user, token = bench_user()
    leftover = delete_created(user)
    if leftover:
        log(f"Deleted {leftover} rows left by an earlier run.")
    vacuum_analyze()
    # Enough distinct payloads that no create repeats unless a scenario outruns them.
    payload_count = min(args.max_requests, 400 * int(args.duration + args.warmup)) + 2000
    requests_ = build_requests(random.Random(args.seed), payload_count)
    log(f"Database: {db['patients']:,} patients, {db['assessments']:,} assessments. Preflight...")
    queries, skipped = preflight(token, requests_, operations)
    for operation, reason in skipped.items():
        log(f"SKIPPING {operation}: {reason}")
    operations = [op for op in operations if op not in skipped]
    info = machine_info()
    connections.close_all()

    busy = machine_busy_cores()
    if busy > OTHER_LOAD_WARNING:
        log(f"Warning: the machine is already busy ({busy:.2f} of {os.cpu_count()} cores); expect low, noisy figures.")
    port = free_port()
    log_path = RESULTS_DIR / f"gunicorn-{stamp}.log"
    process, log_file = None, None
    results: dict[str, dict] = {side: {} for side in SIDES}
    try:
        process, log_file = start_gunicorn(port, args.workers, args.threads, log_path)
        wait_until_up(process, port, log_path)
        pids = worker_pids(process.pid)
        log(f"gunicorn on 127.0.0.1:{port}, {args.workers} workers x {args.threads} threads (pids {pids}).")
        for operation in operations:
            # API and minimal alternate within each round, so drift in the machine's speed hits both.
            for round_number in range(1, args.rounds + 1):
                for side in SIDES:
                    log(
                        f"  round {round_number}/{args.rounds} {side} {operation}: {args.warmup:g} s warm-up, "
                        f"then {args.duration:g} s or {args.max_requests:,} requests, {args.clients} clients..."
                    )
                    spec = {
                        "port": port,
                        "clients": args.clients,
                        "warmup": args.warmup,
                        "duration": args.duration,
                        "max_requests": args.max_requests,
                        "token": token,
                        "worker_pids": pids,
                        "db_dsn": f"{PG_SERVER}/{BENCH_DB}",
                        "requests": requests_[side][operation],
                    }
                    r = run_scenario(spec, timeout=args.warmup + args.duration + 90)
                    results[side].setdefault(operation, []).append(r)
                    log(
                        f"    {r['requests']:,} requests, {r['errors']} errors, {r['req_per_s']:.1f} req/s, "
                        f"p95 {r['p95_ms']:.1f} ms"
                    )
                    if process.poll() is not None:
                        raise SystemExit(f"gunicorn died:\n{log_path.read_text()[-2000:]}")
                    time.sleep(1)
    finally:
        stop_gunicorn(process, log_file)
        if not args.keep_created:
            deleted = delete_created(user)
            log(f"Deleted the {deleted} rows this run created.")
        connections.close_all()

    out = RESULTS_DIR / f"api_bench-{stamp}.json"
    run = {
        "timestamp": stamp,
        "machine": info,
        "database": db,
        "config": vars(args) | {"conn_max_age": os.environ.get("BENCH_CONN_MAX_AGE", "60")},
        "queries_per_request": queries,
        "skipped": skipped,
        "results": results,
    }
    report.publish(run, out, shown_as=out.relative_to(ROOT))
    if log_path.exists() and log_path.stat().st_size == 0:
        log_path.unlink()
    failed = skipped or any(r["errors"] for side in results.values() for rounds in side.values() for r in rounds)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("Interrupted; gunicorn stopped.")
        sys.exit(130)
