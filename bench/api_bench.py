#!/usr/bin/env python
"""Assessment API throughput and latency against PostgreSQL with the 5,000-patient demo cohort.

Run with `make bench` (on demand, never in CI). See bench/README.md for what the figures mean.

What it does, in order:
1. makes sure the database `gne_registry_bench` exists, is migrated and holds the demo cohort
   (seeded once and kept between runs; `--reseed` drops and recreates it);
2. creates a staff user with an API token, and builds valid create payloads from the cohort;
3. makes each request once in-process to check it succeeds and to count its SQL queries;
4. starts gunicorn (2 workers x 4 threads, gthread) on a free port of 127.0.0.1 serving both the
   real API and the minimal views of bench/minimal_views.py;
5. for each scenario, starts a separate load-generator process (this file with `--loadgen`):
   N concurrent keep-alive HTTP clients, a warm-up, then a bounded measurement window;
6. stops gunicorn, deletes the assessments the benchmark created, prints the table and ratios and
   writes them to bench/results/api_bench-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import itertools
import json
import logging
import math
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
BENCH_DB = "gne_registry_bench"
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
BENCH_SETTINGS = "bench.settings"
BENCH_USERNAME = "bench.staff"
DEMO_SEED = 2026
TARGET_RATIO = 0.5
OTHER_LOAD_WARNING = 0.15  # cores used by processes other than gunicorn, its PostgreSQL backends and the client

API_PATH = "/api/v1/assessments/"
MINIMAL_PATH = "/bench/minimal/assessments/"

# (operation, label) in the order they run; creates last, as they change the data the lists read.
OPERATIONS = [
    ("list", "list ?page_size=50"),
    ("list_patient", "list ?patient=<uuid>"),
    ("create", "create (POST)"),
]
SIDES = ("api", "minimal")

# Same mapping as the demo cohort, so payloads agree with the patient's current stage.
WHEELCHAIR_FOR_CLASS = {4: "part_time", 5: "full_time"}
DEVICES_FOR_CLASS = {
    0: [],
    1: ["afo"],
    2: ["afo", "cane"],
    3: ["afo", "walker"],
    4: ["walker", "manual_wheelchair"],
    5: ["power_wheelchair"],
}
IBMFRS_WALKING_FOR_CLASS = {0: 4, 1: 3, 2: 2, 3: 2, 4: 1, 5: 0}


# --- Load generator (a separate process; no Django) --------------------------------------------


def _cpu_ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine since boot."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


def _percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]


def run_load(spec: dict) -> dict:
    """Run one scenario: `clients` threads, each with its own keep-alive connection."""
    port, clients = spec["port"], spec["clients"]
    requests_ = [(method, path, body.encode() if body is not None else None) for method, path, body in spec["requests"]]
    headers = {"Authorization": f"Token {spec['token']}", "Accept": "application/json"}
    post_headers = headers | {"Content-Type": "application/json"}
    max_requests, worker_pids = spec["max_requests"], spec.get("worker_pids", [])
    clock_tick = os.sysconf("SC_CLK_TCK")

    counter = itertools.count()  # shared; next() on it is atomic under the GIL
    lock = threading.Lock()
    stop = threading.Event()
    measured = [0]
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    error_samples: list[str] = []
    last_end = [0.0]
    cpu: dict[str, dict] = {}

    start_time = time.perf_counter()
    measure_start = start_time + spec["warmup"]
    measure_end = measure_start + spec["duration"]

    def sample(name: str, db_ticks: float) -> None:
        client_times = os.times()
        cpu[name] = {
            "time": time.perf_counter(),
            "server": sum(_cpu_ticks(pid) for pid in worker_pids) / clock_tick,
            "db": db_ticks / clock_tick,
            "client": client_times.user + client_times.system,
            "machine": _machine_ticks(),
        }

    def sampler() -> None:
        """CPU use in the measured window; PostgreSQL backends are followed as they come and go.

        Django closes a connection older than CONN_MAX_AGE after a request and opens another, so
        the backends change during a run: a new one counts from zero (it started in the window),
        one that ends keeps the last CPU time read from it.
        """
        time.sleep(max(0.0, measure_start - time.perf_counter()))
        db = _DatabaseBackends(spec.get("db_dsn"))
        sample("start", db.poll(starting=True))
        while not stop.wait(min(0.5, max(0.0, measure_end - time.perf_counter()))):
            if time.perf_counter() >= measure_end:
                break
            db.poll()
        sample("end", db.poll())
        db.close()
        cpu["db_backends"] = db.seen

    def client() -> None:
        conn = None
        local_latencies, local_statuses, local_errors = [], {}, []
        local_last_end = 0.0
        while not stop.is_set():
            if time.perf_counter() >= measure_end:
                break
            method, path, body = requests_[next(counter) % len(requests_)]
            began = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request(method, path, body=body, headers=post_headers if body is not None else headers)
                response = conn.getresponse()
                payload = response.read()
                status = response.status
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as error:
                status, payload = 0, repr(error).encode()
                if conn is not None:
                    conn.close()
                conn = None
            ended = time.perf_counter()
            if began < measure_start:
                continue  # warm-up
            local_latencies.append(ended - began)
            key = str(status)
            local_statuses[key] = local_statuses.get(key, 0) + 1
            local_last_end = max(local_last_end, ended)
            if not 200 <= status < 300 and len(local_errors) < 3:
                local_errors.append(f"{method} {path} -> {status}: {payload[:300].decode(errors='replace')}")
            with lock:
                measured[0] += 1
                if measured[0] >= max_requests:
                    stop.set()
        if conn is not None:
            conn.close()
        with lock:
            latencies.extend(local_latencies)
            for key, count in local_statuses.items():
                statuses[key] = statuses.get(key, 0) + count
            error_samples.extend(local_errors[: max(0, 5 - len(error_samples))])
            last_end[0] = max(last_end[0], local_last_end)

    sampler_thread = threading.Thread(target=sampler, daemon=True)
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    sampler_thread.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=0.5)
    stop.set()
    sampler_thread.join(timeout=5)

    count = len(latencies)
    elapsed = (last_end[0] - measure_start) if count else 0.0
    ordered = sorted(latencies)
    errors = sum(n for code, n in statuses.items() if not code.startswith("2"))
    result = {
        "requests": count,
        "errors": errors,
        "statuses": statuses,
        "seconds": round(elapsed, 3),
        "req_per_s": count / elapsed if elapsed > 0 else 0.0,
        "p50_ms": (_percentile(ordered, 0.50) or 0) * 1000,
        "p95_ms": (_percentile(ordered, 0.95) or 0) * 1000,
        "p99_ms": (_percentile(ordered, 0.99) or 0) * 1000,
        "max_ms": (ordered[-1] if ordered else 0) * 1000,
        "error_samples": error_samples,
    }
    if "start" in cpu and "end" in cpu and count:
        start, end = cpu["start"], cpu["end"]
        window = end["time"] - start["time"]
        used = {name: end[name] - start[name] for name in ("server", "db", "client")}
        busy, total = (b - a for a, b in zip(start["machine"], end["machine"], strict=True))
        machine_cores = busy / total * (os.cpu_count() or 1) if total else None
        # CPU seconds per request of the gunicorn workers and of the PostgreSQL backends serving them,
        # and cores in use during the window: what else ran ("other") shows interference.
        result["server_cpu_ms_per_req"] = used["server"] * 1000 / count if worker_pids else None
        result["db_cpu_ms_per_req"] = used["db"] * 1000 / count if cpu.get("db_backends") else None
        result["cores"] = {name: round(value / window, 2) for name, value in used.items()} if window else {}
        if machine_cores is not None and window:
            result["cores"]["machine"] = round(machine_cores, 2)
            result["cores"]["other"] = round(machine_cores - sum(used.values()) / window, 2)
    return result


class _DatabaseBackends:
    """CPU time used by the PostgreSQL backends connected to the benchmark database, since a start."""

    def __init__(self, dsn: str | None):
        self.baseline: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.connection = None
        try:
            import psycopg2

            self.connection = psycopg2.connect(dsn) if dsn else None
        except Exception:  # CPU figures are extras; never fail the run over them
            self.connection = None

    @property
    def seen(self) -> int:
        return len(self.last)

    def poll(self, starting: bool = False) -> int:
        """Clock ticks used since the start by every backend seen so far."""
        if self.connection is None:
            return 0
        try:
            with self.connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                pids = [row[0] for row in cursor.fetchall()]
            self.connection.rollback()
        except Exception:
            pids = []
        for pid in set(pids) | set(self.last):
            ticks = _cpu_ticks(pid)
            if ticks:
                self.last[pid] = max(ticks, self.last.get(pid, 0))
            if starting:
                self.baseline[pid] = self.last.get(pid, 0)
        return sum(ticks - self.baseline.get(pid, 0) for pid, ticks in self.last.items())

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def loadgen_main() -> None:
    spec = json.load(sys.stdin)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    json.dump(run_load(spec), sys.stdout)


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
    from rest_framework.authtoken.models import Token

    from registry import roles

    user, _ = get_user_model().objects.get_or_create(username=BENCH_USERNAME)
    user.groups.add(Group.objects.get(name=roles.STAFF))
    token, _ = Token.objects.get_or_create(user=user)
    return user, token.key


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
        # A new visit between the last one and today, at the stage the patient has reached: valid
        # (after onset, before today, patient alive and enrolled) and never a "walking again".
        span = max(0, (day - last_date).days)
        body = {
            "patient": uuid,
            "assessment_date": (last_date + dt.timedelta(days=rng.randint(min(span, 1), span))).isoformat(),
            "source": "clinician",
            "ambulation_class": ambulation_class,
            "wheelchair_use": WHEELCHAIR_FOR_CLASS.get(ambulation_class, "none"),
            "devices": DEVICES_FOR_CLASS.get(ambulation_class, []),
            "falls_count": rng.randint(0, 3),
            "ibmfrs_swallowing": 4,
            "ibmfrs_handwriting": rng.randint(2, 4),
            "ibmfrs_dressing": rng.randint(1, 4),
            "ibmfrs_walking": IBMFRS_WALKING_FOR_CLASS[ambulation_class],
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
    (busy0, total0), _ = _machine_ticks(), time.sleep(seconds)
    busy1, total1 = _machine_ticks()
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
        [sys.executable, __file__, "--loadgen"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, text=True
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


def _fmt(value, digits=1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _median_of_rounds(rounds: list[dict]) -> dict:
    """One scenario's figures over its rounds: counts summed, rates and latencies as medians."""
    median = {}
    for key in ("req_per_s", "p50_ms", "p95_ms", "p99_ms", "server_cpu_ms_per_req", "db_cpu_ms_per_req"):
        values = [r[key] for r in rounds if r.get(key) is not None]
        median[key] = statistics.median(values) if values else None
    median["requests"] = sum(r["requests"] for r in rounds)
    median["errors"] = sum(r["errors"] for r in rounds)
    return median


def report(results: dict, queries: dict, skipped: dict[str, str]) -> tuple[str, dict]:
    rounds_of = results
    results = {side: {op: _median_of_rounds(rounds) for op, rounds in ops.items()} for side, ops in rounds_of.items()}
    lines = []
    header = (
        f"{'scenario':<32}{'requests':>9}{'errors':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'SQL/req':>9}{'app CPU ms':>12}{'DB CPU ms':>11}"
    )
    lines += [header, "-" * len(header)]
    for operation, label in OPERATIONS:
        for side in SIDES:
            r = results.get(side, {}).get(operation)
            if r is None:
                continue
            lines.append(
                f"{(side + ' ' + label):<32}{r['requests']:>9,}{r['errors']:>8,}{_fmt(r['req_per_s']):>9}"
                f"{_fmt(r['p50_ms']):>9}{_fmt(r['p95_ms']):>9}{_fmt(r['p99_ms']):>9}"
                f"{queries.get(side, {}).get(operation, '-'):>9}{_fmt(r.get('server_cpu_ms_per_req')):>12}"
                f"{_fmt(r.get('db_cpu_ms_per_req')):>11}"
            )
    lines.append("")
    ratios = {}
    header = f"{'API / minimal':<32}{'throughput':>11}{'p95 latency':>13}   target throughput >= {TARGET_RATIO}"
    lines += [header, "-" * len(header)]
    for operation, label in OPERATIONS:
        api, minimal = results.get("api", {}).get(operation), results.get("minimal", {}).get(operation)
        if not api or not minimal or not minimal["req_per_s"] or not minimal["p95_ms"]:
            continue
        # The median of paired rounds (each API run against the minimal run beside it).
        pairs = zip(rounds_of["api"][operation], rounds_of["minimal"][operation], strict=False)
        ratio = statistics.median(a["req_per_s"] / m["req_per_s"] for a, m in pairs if m["req_per_s"])
        latency = api["p95_ms"] / minimal["p95_ms"]
        met = ratio >= TARGET_RATIO
        ratios[operation] = {"throughput": round(ratio, 3), "p95": round(latency, 3), "target_met": met}
        lines.append(f"{label:<32}{ratio:>11.2f}{latency:>12.1f}x   {'met' if met else 'NOT met'}")
    errors = [(side, op, r) for side in rounds_of for op, rs in rounds_of[side].items() for r in rs if r["errors"]]
    if errors:
        lines.append("")
        lines.append("NON-2xx RESPONSES (figures for these scenarios are not trustworthy):")
        for side, operation, r in errors:
            lines.append(f"  {side} {operation}: {r['errors']} of {r['requests']} ({r['statuses']})")
            lines += [f"    {sample}" for sample in r["error_samples"]]
    busy_elsewhere = [
        (r["cores"]["other"], side, op)
        for side in rounds_of
        for op, rs in rounds_of[side].items()
        for r in rs
        if r.get("cores", {}).get("other") is not None
    ]
    if busy_elsewhere and max(busy_elsewhere)[0] > OTHER_LOAD_WARNING:
        cores, side, operation = max(busy_elsewhere)
        lines.append("")
        lines.append(
            f"WARNING: other processes used up to {cores:.2f} of {os.cpu_count()} cores during the measurements "
            f"({side} {operation}); the machine was not quiet and the figures are unreliable."
        )
    if skipped:
        lines.append("")
        lines.append("SKIPPED (the request fails before any load; no figures):")
        lines += [f"  {operation}: {reason}" for operation, reason in skipped.items()]
    return "\n".join(lines), ratios


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

    table, ratios = report(results, queries, skipped)
    print()
    print(
        f"GNE registry assessment API vs minimal Django view - {args.clients} clients, "
        f"gunicorn {args.workers}x{args.threads} gthread, PostgreSQL {info['postgres']}, "
        f"{db['patients']:,} patients / {db['assessments']:,} assessments, {info['cpus']} CPUs"
    )
    print()
    print(table)
    out = RESULTS_DIR / f"api_bench-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "timestamp": stamp,
                "machine": info,
                "database": db,
                "config": vars(args) | {"conn_max_age": os.environ.get("BENCH_CONN_MAX_AGE", "60")},
                "queries_per_request": queries,
                "skipped": skipped,
                "results": results,
                "ratios": ratios,
                "table": table,
            },
            indent=2,
            default=str,
        )
    )
    print()
    print(f"Written to {out.relative_to(ROOT)}")
    if log_path.exists() and log_path.stat().st_size == 0:
        log_path.unlink()
    failed = skipped or any(r["errors"] for side in results.values() for rounds in side.values() for r in rounds)
    return 1 if failed else 0


if __name__ == "__main__":
    if "--loadgen" in sys.argv[1:]:
        loadgen_main()
    else:
        try:
            sys.exit(main())
        except KeyboardInterrupt:
            log("Interrupted; gunicorn stopped.")
            sys.exit(130)
