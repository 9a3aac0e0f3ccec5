#!/usr/bin/env python
"""The benchmark's load generator: one scenario, run as a process of its own (no Django).

`bench/api_bench.py` starts `python bench/loadgen.py` once per scenario, writes the spec to its
stdin as JSON and reads the result from its stdout as JSON. The spec:

    port, clients, warmup, duration (seconds), max_requests, token,
    requests: [[method, path, body or null], ...]  (cycled through by all clients in turn),
    worker_pids: gunicorn worker pids (for their CPU time; optional),
    db_dsn: the benchmark database (for the CPU time of its backends; optional)

Each client is a thread with its own keep-alive `http.client` connection to 127.0.0.1. Requests
that start in the warm-up are not counted; the run ends after the measured window or
`max_requests` measured requests, whichever comes first.
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

ERROR_SAMPLES_PER_CLIENT = 3
ERROR_SAMPLES = 5


# --- CPU time from /proc -----------------------------------------------------------------------


def cpu_ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine since boot."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


class DatabaseBackends:
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
            ticks = cpu_ticks(pid)
            if ticks:
                self.last[pid] = max(ticks, self.last.get(pid, 0))
            if starting:
                self.baseline[pid] = self.last.get(pid, 0)
        return sum(ticks - self.baseline.get(pid, 0) for pid, ticks in self.last.items())

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


# --- Figures ------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]


@dataclass
class Tally:
    """What one client (or, merged, all of them) saw in the measured window."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    last_end: float = 0.0

    def record(self, request: tuple, status: int, payload: bytes, began: float, ended: float) -> None:
        self.latencies.append(ended - began)
        key = str(status)
        self.statuses[key] = self.statuses.get(key, 0) + 1
        self.last_end = max(self.last_end, ended)
        if not 200 <= status < 300 and len(self.error_samples) < ERROR_SAMPLES_PER_CLIENT:
            method, path, _ = request
            self.error_samples.append(f"{method} {path} -> {status}: {payload[:300].decode(errors='replace')}")

    def merge(self, other: Tally) -> None:
        self.latencies.extend(other.latencies)
        for key, count in other.statuses.items():
            self.statuses[key] = self.statuses.get(key, 0) + count
        self.error_samples.extend(other.error_samples[: max(0, ERROR_SAMPLES - len(self.error_samples))])
        self.last_end = max(self.last_end, other.last_end)


def cpu_figures(start: dict, end: dict, count: int, worker_pids: list[int], db_backends: int) -> dict:
    """CPU per request of the gunicorn workers and of the PostgreSQL backends serving them, and the
    cores in use during the window: what else ran ("other") shows interference."""
    window = end["time"] - start["time"]
    used = {name: end[name] - start[name] for name in ("server", "db", "client")}
    busy, total = (b - a for a, b in zip(start["machine"], end["machine"], strict=True))
    machine_cores = busy / total * (os.cpu_count() or 1) if total else None
    figures = {
        "server_cpu_ms_per_req": used["server"] * 1000 / count if worker_pids else None,
        "db_cpu_ms_per_req": used["db"] * 1000 / count if db_backends else None,
        "cores": {name: round(value / window, 2) for name, value in used.items()} if window else {},
    }
    if machine_cores is not None and window:
        figures["cores"]["machine"] = round(machine_cores, 2)
        figures["cores"]["other"] = round(machine_cores - sum(used.values()) / window, 2)
    return figures


# --- One scenario -------------------------------------------------------------------------------


def exchange(
    conn: http.client.HTTPConnection | None, port: int, request: tuple, headers: dict
) -> tuple[int, bytes, http.client.HTTPConnection | None]:
    """Make one request on a keep-alive connection (opened if needed); returns (status, body, connection).

    A failed request gives status 0 with the error as its body, and the connection is dropped.
    """
    method, path, body = request
    try:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        if response.will_close:
            conn.close()
            conn = None
        return response.status, payload, conn
    except (OSError, http.client.HTTPException) as error:
        if conn is not None:
            conn.close()
        return 0, repr(error).encode(), None


class LoadRun:
    """One scenario: `clients` threads, each with its own keep-alive connection, and a CPU sampler."""

    def __init__(self, spec: dict):
        self.port, self.clients = spec["port"], spec["clients"]
        self.requests = [
            (method, path, body.encode() if body is not None else None) for method, path, body in spec["requests"]
        ]
        self.headers = {"Authorization": f"Token {spec['token']}", "Accept": "application/json"}
        self.post_headers = self.headers | {"Content-Type": "application/json"}
        self.max_requests = spec["max_requests"]
        self.worker_pids = spec.get("worker_pids", [])
        self.db_dsn = spec.get("db_dsn")
        self.clock_tick = os.sysconf("SC_CLK_TCK")

        self.counter = itertools.count()  # shared; next() on it is atomic under the GIL
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.measured = 0
        self.tally = Tally()
        self.cpu: dict[str, dict] = {}
        self.db_backends = 0

        start_time = time.perf_counter()
        self.measure_start = start_time + spec["warmup"]
        self.measure_end = self.measure_start + spec["duration"]

    def run(self) -> dict:
        sampler = threading.Thread(target=self.sample_cpu, daemon=True)
        threads = [threading.Thread(target=self.client, daemon=True) for _ in range(self.clients)]
        sampler.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.5)
        self.stop.set()
        sampler.join(timeout=5)
        return self.result()

    # --- threads --------------------------------------------------------------------------------

    def client(self) -> None:
        conn, tally = None, Tally()
        while not self.stop.is_set() and time.perf_counter() < self.measure_end:
            request = self.requests[next(self.counter) % len(self.requests)]
            headers = self.post_headers if request[2] is not None else self.headers
            began = time.perf_counter()
            status, payload, conn = exchange(conn, self.port, request, headers)
            ended = time.perf_counter()
            if began < self.measure_start:
                continue  # warm-up
            tally.record(request, status, payload, began, ended)
            self.count_measured()
        if conn is not None:
            conn.close()
        with self.lock:
            self.tally.merge(tally)

    def count_measured(self) -> None:
        with self.lock:
            self.measured += 1
            if self.measured >= self.max_requests:
                self.stop.set()

    def sample_cpu(self) -> None:
        """CPU use in the measured window; PostgreSQL backends are followed as they come and go.

        Django closes a connection older than CONN_MAX_AGE after a request and opens another, so
        the backends change during a run: a new one counts from zero (it started in the window),
        one that ends keeps the last CPU time read from it.
        """
        time.sleep(max(0.0, self.measure_start - time.perf_counter()))
        db = DatabaseBackends(self.db_dsn)
        self.take_sample("start", db.poll(starting=True))
        while not self.stop.wait(min(0.5, max(0.0, self.measure_end - time.perf_counter()))):
            if time.perf_counter() >= self.measure_end:
                break
            db.poll()
        self.take_sample("end", db.poll())
        db.close()
        self.db_backends = db.seen

    def take_sample(self, name: str, db_ticks: float) -> None:
        client_times = os.times()
        self.cpu[name] = {
            "time": time.perf_counter(),
            "server": sum(cpu_ticks(pid) for pid in self.worker_pids) / self.clock_tick,
            "db": db_ticks / self.clock_tick,
            "client": client_times.user + client_times.system,
            "machine": machine_ticks(),
        }

    # --- result ---------------------------------------------------------------------------------

    def result(self) -> dict:
        tally = self.tally
        count = len(tally.latencies)
        elapsed = (tally.last_end - self.measure_start) if count else 0.0
        ordered = sorted(tally.latencies)
        errors = sum(n for code, n in tally.statuses.items() if not code.startswith("2"))
        result = {
            "requests": count,
            "errors": errors,
            "statuses": tally.statuses,
            "seconds": round(elapsed, 3),
            "req_per_s": count / elapsed if elapsed > 0 else 0.0,
            "p50_ms": (percentile(ordered, 0.50) or 0) * 1000,
            "p95_ms": (percentile(ordered, 0.95) or 0) * 1000,
            "p99_ms": (percentile(ordered, 0.99) or 0) * 1000,
            "max_ms": (ordered[-1] if ordered else 0) * 1000,
            "error_samples": tally.error_samples,
        }
        if "start" in self.cpu and "end" in self.cpu and count:
            result |= cpu_figures(self.cpu["start"], self.cpu["end"], count, self.worker_pids, self.db_backends)
        return result


def run_load(spec: dict) -> dict:
    """Run one scenario and return its figures."""
    return LoadRun(spec).run()


def main() -> None:
    spec = json.load(sys.stdin)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    json.dump(run_load(spec), sys.stdout)


if __name__ == "__main__":
    main()
