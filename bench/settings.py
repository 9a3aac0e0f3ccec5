"""Settings for `make bench`: the test settings, served by gunicorn like production.

Only what the benchmark needs differs from `config.settings.test`:
- ROOT_URLCONF adds the minimal comparison views (`bench/minimal_views.py`) beside the real API;
- persistent database connections, as `config.settings.production` has them (CONN_MAX_AGE=60 with
  health checks), so neither side pays a PostgreSQL connection per request. BENCH_CONN_MAX_AGE=0
  measures the test settings' connect-per-request behaviour instead.
"""

import os
import warnings

from config.settings.test import *  # noqa: F403
from config.settings.test import DATABASES

DEBUG = False
ROOT_URLCONF = "bench.minimal_views"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("BENCH_CONN_MAX_AGE", "60"))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# WhiteNoise warns when collectstatic has not run; the benchmark serves no static files.
warnings.filterwarnings("ignore", message="No directory at")
