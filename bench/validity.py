#!/usr/bin/env python
"""Does the registry recover the time from onset to each mobility milestone? A check against known truth.

Run with `make bench-validity` (on demand; never part of the test suite's pass/fail). See
bench/README.md, "Validity of the time-to-event figures".

What it does, in order:
1. picks the database: DATABASE_URL when set (PostgreSQL), else `gne_registry_validity` on
   127.0.0.1:5432, created if missing; migrates it and empties it of patients (a database other than
   the dedicated one is emptied only with --empty);
2. seeds the demo cohort (`seed_demo_cohort`, 5,000 patients by default) and keeps each patient's
   true dates (`PatientTruth`). The registry derives the milestones from the visits while seeding,
   through the same services as every other entry path;
3. reads every patient's milestone intervals with the registry's own selector
   (`assessments.selectors.milestone_intervals`);
4. for cane, walker, part-time and full-time wheelchair, estimates the median years from onset:
   Kaplan-Meier on the interval's upper bound (the first day the milestone is known to be reached;
   right-censored at the last visit below it), and the interval-censored NPMLE (Turnbull, lifelines'
   `KaplanMeierFitter.fit_interval_censoring`);
5. prints each beside the truth: the median of the true times of every patient, and Kaplan-Meier on
   the true times censored at the same end of follow-up (the last visit), which is what the registry
   could see at best; and beside the published figure (a mean). Target: within ±1 year of the truth.

Needs lifelines (requirements-dev.txt). The exit status is 0 whatever the figures (--strict: 1 when a
target is missed); 2 when the run could not be made.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: the project importable

RESULTS_DIR = ROOT / "bench" / "results"
VALIDITY_DB = "gne_registry_validity"
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
SETTINGS = "config.settings.test"  # PostgreSQL only, eager Celery, quiet logging
DEMO_SEED = 2026
TARGET_YEARS = 1.0
# Interval bounds are rounded outwards to this many years (about 4 days) before the NPMLE: fewer
# distinct bounds keep it to seconds, and every interval still contains the one it came from.
NPMLE_GRID_YEARS = 0.01
# Published figures are means (docs/clinical-rules.md, "Published figures"); medians are not published.
PUBLISHED = {
    "cane": "12.4 (Remudy-GNE, Mori-Yoshimura 2014; cane and/or braces)",
    "walker": "none published",
    "wheelchair_part_time": "15.2 (Remudy-GNE); 11.9 (GNEM-DMP, Pogoryelova 2018)",
    "wheelchair_full_time": "21.1 (Remudy-GNE; loss of ambulation)",
}
KINDS = tuple(PUBLISHED)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- Database --------------------------------------------------------------------------------------


def choose_database(empty: bool) -> tuple[str, bool]:
    """The database URL to use, and whether it may be emptied without asking."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        url = f"{PG_SERVER}/{VALIDITY_DB}"
    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit(f"bench/validity.py needs PostgreSQL; DATABASE_URL is {parsed.scheme}://...")
    name = parsed.path.lstrip("/")
    return url, empty or name == VALIDITY_DB


def ensure_database(url: str) -> None:
    """Create the database if it is missing (connecting to the server's `postgres` database)."""
    import psycopg2

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    connection = psycopg2.connect(
        dbname="postgres",
        user=parsed.username or "postgres",
        password=parsed.password,
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
    )
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                log(f"Creating database {name}...")
                cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    inherited = os.environ.get("DJANGO_SETTINGS_MODULE")
    if inherited not in (None, SETTINGS):
        log(f"Note: DJANGO_SETTINGS_MODULE={inherited} ignored; the validity check uses {SETTINGS}.")
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    import django

    django.setup()


def prepare_database(may_empty: bool) -> None:
    from django.core.management import call_command

    from patients.models import Patient

    log("Migrating...")
    call_command("migrate", interactive=False, verbosity=0)
    present = Patient.objects.count()
    if present:
        if not may_empty:
            raise SystemExit(
                f"The database named by DATABASE_URL holds {present} patients. This check empties it first: "
                "run with --empty if that is what you want, or unset DATABASE_URL to use "
                f"the dedicated database {VALIDITY_DB}."
            )
        log(f"Emptying: deleting {present} patients and their records...")
        Patient.objects.all().delete()


# --- Cohort and intervals -------------------------------------------------------------------------


def seed(patients: int, seed_value: int) -> tuple[dict, float]:
    from demo.cohort import seed_demo_cohort

    truth: dict = {}
    started = time.monotonic()
    log(f"Seeding {patients} synthetic patients (seed {seed_value}) with their true dates kept...")
    seed_demo_cohort(patients=patients, seed=seed_value, truth=truth)
    return truth, time.monotonic() - started


def registry_intervals() -> tuple[dict, float]:
    """The selector's intervals, as {kind: {patient uuid: MilestoneInterval}}."""
    from assessments.selectors import milestone_intervals
    from patients.models import Patient

    started = time.monotonic()
    uuids = dict(Patient.objects.values_list("id", "uuid"))
    by_kind: dict = {kind: {} for kind in KINDS}
    for interval in milestone_intervals():
        if interval.kind in by_kind:
            by_kind[interval.kind][uuids[interval.patient_id]] = interval
    return by_kind, time.monotonic() - started


# --- Estimates ------------------------------------------------------------------------------------


def km_median(durations: list[float], events: list[bool]) -> float:
    from lifelines import KaplanMeierFitter

    return float(KaplanMeierFitter().fit(durations, event_observed=events).median_survival_time_)


def upper_bound_data(intervals) -> tuple[list[float], list[bool]]:
    """Event at the interval's upper bound (exact, interval, left); censored at the lower bound (right)."""
    durations, events = [], []
    for interval in intervals:
        if interval.censoring == "right":
            durations.append(interval.lower_years)
            events.append(False)
        else:
            durations.append(interval.upper_years)
            events.append(True)
    return durations, events


def npmle_median(intervals) -> tuple[float, float]:
    """Median of the interval-censored NPMLE (Turnbull); lifelines gives the bounds of the
    estimate where it is not unique, so this is a (low, high) pair, usually equal."""
    from lifelines import KaplanMeierFitter

    grid = NPMLE_GRID_YEARS
    lower, upper = [], []
    for interval in intervals:
        low = 0.0 if interval.censoring == "left" else interval.lower_years
        high = math.inf if interval.censoring == "right" else interval.upper_years
        lower.append(math.floor(low / grid) * grid)
        upper.append(high if math.isinf(high) else math.ceil(high / grid) * grid)
    fitter = KaplanMeierFitter().fit_interval_censoring(lower, upper)
    medians = fitter.median_survival_time_
    values = sorted(float(medians[column].iloc[0]) for column in medians.columns)
    return values[0], values[-1]


def truth_data(truth: dict, uuids, kind: str) -> tuple[list[float], list[bool], list[float]]:
    """True years to `kind`, censored at the end of follow-up (last visit), and uncensored."""
    durations, events, every = [], [], []
    for uuid in uuids:
        person = truth[uuid]
        reached = person.reached_on(kind)
        years = person.years_to(kind)
        every.append(years)
        seen = reached <= person.follow_up_end
        durations.append(years if seen else (person.follow_up_end - person.onset).days / 365.25)
        events.append(seen)
    return durations, events, every


def estimate(truth: dict, by_kind: dict) -> list[dict]:
    rows = []
    for kind in KINDS:
        intervals = by_kind[kind]
        uuids = list(intervals)
        censoring = {
            name: sum(1 for interval in intervals.values() if interval.censoring == name)
            for name in ("exact", "interval", "left", "right")
        }
        started = time.monotonic()
        upper_median = km_median(*upper_bound_data(intervals.values()))
        npmle_low, npmle_high = npmle_median(list(intervals.values()))
        durations, events, every = truth_data(truth, uuids, kind)
        truth_km = km_median(durations, events)
        row = {
            "kind": kind,
            "patients": len(uuids),
            "missing": len(truth) - len(uuids),
            "censoring": censoring,
            "reported": sum(1 for interval in intervals.values() if interval.source == "reported"),
            "km_upper_bound": upper_median,
            "npmle": (npmle_low + npmle_high) / 2,
            "npmle_range": [npmle_low, npmle_high],
            "truth_km": truth_km,
            "truth_median": statistics.median(every),
            "truth_mean": statistics.mean(every),
            "published_mean": PUBLISHED[kind],
            "seconds": round(time.monotonic() - started, 1),
        }
        row["km_upper_bound_error"] = row["km_upper_bound"] - truth_km
        row["npmle_error"] = row["npmle"] - truth_km
        rows.append(row)
    return rows


# --- Report ---------------------------------------------------------------------------------------


def _years(value: float) -> str:
    return "   n/a" if value is None or math.isinf(value) or math.isnan(value) else f"{value:6.2f}"


def report(rows: list[dict], context: dict) -> bool:
    print()
    print(
        f"Validity of time to milestones: {context['patients']:,} synthetic patients (seed {context['seed']}), "
        f"{context['database']}"
    )
    print(f"Median years from symptom onset. Target: registry estimate within ±{TARGET_YEARS:g} year of the truth.")
    print()
    header = (
        f"{'milestone':<22}{'n':>6}{'rep.':>6}{'left':>6}{'intvl':>6}{'exact':>6}{'right':>6}"
        f"{'KM upper':>10}{'Turnbull':>10}{'truth KM':>10}{'truth all':>10}{'true mean':>10}   published mean"
    )
    print(header)
    print("-" * len(header))
    met = True
    for row in rows:
        censoring = row["censoring"]
        print(
            f"{row['kind']:<22}{row['patients']:>6}{row['reported']:>6}{censoring['left']:>6}{censoring['interval']:>6}"
            f"{censoring['exact']:>6}{censoring['right']:>6}{_years(row['km_upper_bound']):>10}{_years(row['npmle']):>10}"
            f"{_years(row['truth_km']):>10}{_years(row['truth_median']):>10}{_years(row['truth_mean']):>10}"
            f"   {row['published_mean']}"
        )
    print()
    print(f"{'milestone':<22}{'KM upper - truth':>18}{'Turnbull - truth':>18}   within ±1 year (KM upper / Turnbull)")
    for row in rows:
        upper_ok = abs(row["km_upper_bound_error"]) <= TARGET_YEARS
        npmle_ok = abs(row["npmle_error"]) <= TARGET_YEARS
        met = met and upper_ok and npmle_ok
        print(
            f"{row['kind']:<22}{row['km_upper_bound_error']:>+18.2f}{row['npmle_error']:>+18.2f}"
            f"   {'yes' if upper_ok else 'NO'} / {'yes' if npmle_ok else 'NO'}"
        )
    print()
    print(
        "n: patients the selector gives an interval for (of "
        f"{context['patients']:,}); rep.: of them, from a reported milestone; left/intvl/exact/right: their "
        "censoring. 'truth KM' is Kaplan-Meier on the "
        "true times censored at the last visit; 'truth all' the median of every patient's true time (also "
        "after follow-up ended); the published figures are means."
    )
    print(
        f"Seeding {context['seed_seconds']:.0f} s, selector {context['selector_seconds']:.1f} s, "
        f"estimates {sum(row['seconds'] for row in rows):.0f} s."
    )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    parser.add_argument("--empty", action="store_true", help="Empty a database other than the dedicated one.")
    parser.add_argument("--strict", action="store_true", help="Exit 1 when an estimate misses the target.")
    args = parser.parse_args()
    try:
        import lifelines  # noqa: F401
    except ImportError:
        log("lifelines is not installed: pip install -r requirements-dev.txt")
        return 2

    url, may_empty = choose_database(args.empty)
    ensure_database(url)
    setup_django(url)
    prepare_database(may_empty)
    truth, seed_seconds = seed(args.patients, args.seed)
    log("Reading the milestone intervals (assessments.selectors.milestone_intervals)...")
    by_kind, selector_seconds = registry_intervals()
    log("Estimating...")
    rows = estimate(truth, by_kind)
    context = {
        "patients": args.patients,
        "seed": args.seed,
        "database": urlparse(url).path.lstrip("/"),
        "seed_seconds": seed_seconds,
        "selector_seconds": selector_seconds,
    }
    met = report(rows, context)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"validity-{stamp}.json"
    path.write_text(json.dumps({"context": context, "rows": rows, "target_met": met}, indent=2, default=str))
    print(f"Written to {path.relative_to(ROOT)}")
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
