"""The benchmark's report: the table, the API / minimal ratios, and the JSON file of a run.

No Django and no I/O beyond printing the report and writing its file, so it can be re-run on the
raw figures of a saved run.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

TARGET_RATIO = 0.5
OTHER_LOAD_WARNING = 0.15  # cores used by processes other than gunicorn, its PostgreSQL backends and the client

# (operation, label) in the order they run; creates last, as they change the data the lists read.
OPERATIONS = [
    ("list", "list ?page_size=50"),
    ("list_patient", "list ?patient=<uuid>"),
    ("create", "create (POST)"),
]
SIDES = ("api", "minimal")


def _fmt(value, digits=1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def median_of_rounds(rounds: list[dict]) -> dict:
    """One scenario's figures over its rounds: counts summed, rates and latencies as medians."""
    median = {}
    for key in ("req_per_s", "p50_ms", "p95_ms", "p99_ms", "server_cpu_ms_per_req", "db_cpu_ms_per_req"):
        values = [r[key] for r in rounds if r.get(key) is not None]
        median[key] = statistics.median(values) if values else None
    median["requests"] = sum(r["requests"] for r in rounds)
    median["errors"] = sum(r["errors"] for r in rounds)
    return median


def _scenario_lines(results: dict, queries: dict) -> list[str]:
    header = (
        f"{'scenario':<32}{'requests':>9}{'errors':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'SQL/req':>9}{'app CPU ms':>12}{'DB CPU ms':>11}"
    )
    lines = [header, "-" * len(header)]
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
    return lines


def _ratio_lines(rounds_of: dict, results: dict) -> tuple[list[str], dict]:
    header = f"{'API / minimal':<32}{'throughput':>11}{'p95 latency':>13}   target throughput >= {TARGET_RATIO}"
    lines, ratios = [header, "-" * len(header)], {}
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
    return lines, ratios


def _error_lines(rounds_of: dict) -> list[str]:
    errors = [(side, op, r) for side in rounds_of for op, rs in rounds_of[side].items() for r in rs if r["errors"]]
    if not errors:
        return []
    lines = ["", "NON-2xx RESPONSES (figures for these scenarios are not trustworthy):"]
    for side, operation, r in errors:
        lines.append(f"  {side} {operation}: {r['errors']} of {r['requests']} ({r['statuses']})")
        lines += [f"    {sample}" for sample in r["error_samples"]]
    return lines


def _interference_lines(rounds_of: dict) -> list[str]:
    busy_elsewhere = [
        (r["cores"]["other"], side, op)
        for side in rounds_of
        for op, rs in rounds_of[side].items()
        for r in rs
        if r.get("cores", {}).get("other") is not None
    ]
    if not busy_elsewhere or max(busy_elsewhere)[0] <= OTHER_LOAD_WARNING:
        return []
    cores, side, operation = max(busy_elsewhere)
    return [
        "",
        f"WARNING: other processes used up to {cores:.2f} of {os.cpu_count()} cores during the measurements "
        f"({side} {operation}); the machine was not quiet and the figures are unreliable.",
    ]


def _skipped_lines(skipped: dict[str, str]) -> list[str]:
    if not skipped:
        return []
    return [
        "",
        "SKIPPED (the request fails before any load; no figures):",
        *(f"  {operation}: {reason}" for operation, reason in skipped.items()),
    ]


def render(rounds_of: dict, queries: dict, skipped: dict[str, str]) -> tuple[str, dict]:
    """The table and ratios from every round's figures (side -> operation -> [round results])."""
    results = {side: {op: median_of_rounds(rounds) for op, rounds in ops.items()} for side, ops in rounds_of.items()}
    ratio_lines, ratios = _ratio_lines(rounds_of, results)
    lines = [
        *_scenario_lines(results, queries),
        "",
        *ratio_lines,
        *_error_lines(rounds_of),
        *_interference_lines(rounds_of),
        *_skipped_lines(skipped),
    ]
    return "\n".join(lines), ratios


def title(run: dict) -> str:
    config, info, db = run["config"], run["machine"], run["database"]
    return (
        f"GNE registry assessment API vs minimal Django view - {config['clients']} clients, "
        f"gunicorn {config['workers']}x{config['threads']} gthread, PostgreSQL {info['postgres']}, "
        f"{db['patients']:,} patients / {db['assessments']:,} assessments, {info['cpus']} CPUs"
    )


def publish(run: dict, path: Path, shown_as: Path) -> None:
    """Print the title and table of a run, and write them with its raw figures to `path` (JSON).

    `run` holds timestamp, machine, database, config, queries_per_request, skipped and results.
    """
    table, ratios = render(run["results"], run["queries_per_request"], run["skipped"])
    print()
    print(title(run))
    print()
    print(table)
    path.write_text(json.dumps(run | {"ratios": ratios, "table": table}, indent=2, default=str))
    print()
    print(f"Written to {shown_as}")
