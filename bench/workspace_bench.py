#!/usr/bin/env python
"""Staff workspace pages on the 5,000-patient demo cohort: time and SQL queries per request.

    .venv/bin/python bench/workspace_bench.py                 # BENCH_DATABASE=gne_workspace_bench
    BENCH_DATABASE=gne_registry_bench .venv/bin/python bench/workspace_bench.py --repeat 20

Run on demand, never in CI. The database is created, migrated and seeded with
`seed_demo --patients 5000` (the seed `make bench` uses) when it is empty, and kept for later runs;
`VACUUM ANALYZE` then gives the planner fresh statistics. Each page is requested in-process through
Django's test client by a foundation-wide staff member and by one limited to a site (the
`bench.workspace.*` users), `--repeat` times after one warm-up request; the figures are the median and
the slowest time in milliseconds (server side: the view, its queries and the template, no network),
the median time spent in SQL, the number of SQL queries, and the rows on the page. The database
connection is kept between requests, as production keeps it (CONN_MAX_AGE).

What is measured:
- the find page: the first page of everyone; a name search; a genotype filter (M712T, legacy
  numbering); the follow-up and review filters; a page deep in the results;
- patient pages: the patients with the most assessments, and a random sample;
- the follow-up list; the duplicate check of the enroll page (a POST that finds a candidate and
  writes nothing).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_DB = os.environ.get("BENCH_DATABASE", "gne_workspace_bench")
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
DEMO_SEED = 2026
PATIENTS = 5000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_database() -> None:
    import psycopg2

    connection = psycopg2.connect(dbname="postgres", user="postgres", host="127.0.0.1", port=5432)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB])
            if cursor.fetchone() is None:
                log(f"Creating database {BENCH_DB}...")
                cursor.execute(f'CREATE DATABASE "{BENCH_DB}"')
    finally:
        connection.close()


def setup_django() -> None:
    os.environ["DATABASE_URL"] = f"{PG_SERVER}/{BENCH_DB}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    settings.DEBUG = False
    # Kept between requests, as in production: no connection set-up inside the figures.
    connection.settings_dict["CONN_MAX_AGE"] = None


def prepare_database() -> dict:
    from django.core.management import call_command
    from django.db import connection

    from assessments.models import Assessment
    from patients.models import Patient

    log("Migrating...")
    call_command("migrate", interactive=False, verbosity=0)
    if not Patient.objects.exists():
        log(f"Seeding the demo cohort ({PATIENTS} patients; a minute or two, kept for later runs)...")
        call_command("seed_demo", patients=PATIENTS, seed=DEMO_SEED, stdout=sys.stderr)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"patients": Patient.objects.count(), "assessments": Assessment.objects.count()}


def bench_users():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db.models import Count

    from patients.models import Site, StaffSiteScope
    from registry import roles

    staff = Group.objects.get(name=roles.STAFF)
    wide, _ = get_user_model().objects.get_or_create(username="bench.workspace.wide")
    wide.groups.add(staff)
    limited, _ = get_user_model().objects.get_or_create(username="bench.workspace.site")
    limited.groups.add(staff)
    scope, _ = StaffSiteScope.objects.get_or_create(user=limited)
    busiest = Site.objects.annotate(size=Count("patients")).order_by("-size").first()
    scope.sites.set([busiest])
    # Who, and the site they enroll into (any for foundation-wide staff; their own for the other).
    return {"foundation-wide": (wide, None), f"site {busiest.code}": (limited, busiest.pk)}


def measure(client, method: str, url: str, data: dict | None, repeat: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    send = client.post if method == "POST" else client.get
    response = send(url, data or {})  # warm-up, and the check
    if response.status_code != 200:
        raise SystemExit(f"{method} {url} answered {response.status_code}")
    times, sql_times = [], []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = send(url, data or {})
            times.append((time.perf_counter() - started) * 1000)
        sql_times.append(sum(float(query["time"]) for query in captured.captured_queries) * 1000)
    rows = response.context.get("rows") if response.context else None
    return {
        "median_ms": statistics.median(times),
        "sql_ms": statistics.median(sql_times),
        "max_ms": max(times),
        "queries": len(captured),
        "rows": len(rows) if rows is not None else "",
    }


def scenarios(rng: random.Random) -> list[tuple[str, str, str, dict | None]]:
    from django.db.models import Count
    from django.urls import reverse

    from patients.models import Patient

    find = reverse("workspace:find")
    busiest = list(
        Patient.objects.annotate(visits=Count("assessments")).order_by("-visits").values_list("uuid", flat=True)[:3]
    )
    sample = rng.sample(list(Patient.objects.values_list("uuid", flat=True)), 5)
    someone = Patient.objects.select_related("identity").filter(identity__family_name__gt="").order_by("?").first()
    identity = someone.identity
    enroll_post = {
        "given_name": identity.given_name,
        "family_name": identity.family_name,
        "date_of_birth": identity.date_of_birth.isoformat() if identity.date_of_birth else "1980-01-01",
        "sex": "unknown",
        "country": "GB",
        "site": someone.site_id or "",
        "status": "candidate",
    }
    return [
        ("find: everyone, page 1", "GET", find, None),
        ("find: name search", "GET", find, {"q": identity.family_name[:4]}),
        ("find: genotype M712T", "GET", find, {"genotype": "M712T"}),
        ("find: follow-up due", "GET", find, {"follow_up_overdue": "on"}),
        ("find: review flags", "GET", find, {"review_flags": "on"}),
        ("find: page 40", "GET", find, {"page": "40"}),
        *[
            (f"patient page: most visits #{n + 1}", "GET", reverse("workspace:patient", kwargs={"patient": uuid}), None)
            for n, uuid in enumerate(busiest)
        ],
        *[
            (f"patient page: random #{n + 1}", "GET", reverse("workspace:patient", kwargs={"patient": uuid}), None)
            for n, uuid in enumerate(sample)
        ],
        ("follow-up list", "GET", reverse("workspace:follow-up"), None),
        ("enroll: duplicate check", "POST", reverse("workspace:enroll"), enroll_post),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="timed requests per page (after one warm-up)")
    parser.add_argument("--seed", type=int, default=1, help="which random patients are sampled")
    options = parser.parse_args(argv)

    ensure_database()
    setup_django()
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment(debug=False)  # the test client then keeps each response's context (its rows)
    counts = prepare_database()
    users = bench_users()
    plan = scenarios(random.Random(options.seed))
    print(
        f"database={BENCH_DB} patients={counts['patients']} assessments={counts['assessments']} repeat={options.repeat}"
    )
    print(f"{'who':<18} {'page':<34} {'median_ms':>9} {'max_ms':>8} {'sql_ms':>7} {'queries':>7} {'rows':>5}")
    for who, (user, site_id) in users.items():
        client = Client()
        client.force_login(user)
        for name, method, url, data in plan:
            if site_id is not None and name.startswith("patient page"):
                continue  # most belong to other sites: a 404 by design
            if site_id is not None and method == "POST":
                data = data | {"site": site_id}
            figures = measure(client, method, url, data, options.repeat)
            times = f"{figures['median_ms']:>9.1f} {figures['max_ms']:>8.1f} {figures['sql_ms']:>7.1f}"
            print(f"{who:<18} {name:<34} {times} {figures['queries']:>7} {figures['rows']:>5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
