"""Test suite: real PostgreSQL and Redis (see `make test`)."""

from django.core.exceptions import ImproperlyConfigured

from .base import *
from .base import env

SECRET_KEY = "test-only-key-never-used-outside-the-test-suite-0123456789abcdef"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
TEST_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/gne_registry"
DATABASES = {"default": env.db("DATABASE_URL", default=TEST_DATABASE_URL)}
# The suite relies on PostgreSQL (row locks, constraints, JSON); another engine would pass or fail
# for the wrong reasons, so refuse it instead of running on it.
if DATABASES["default"]["ENGINE"] not in ("django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis"):
    raise ImproperlyConfigured(
        f"The test suite runs on PostgreSQL only: set DATABASE_URL to a postgres:// URL, e.g. {TEST_DATABASE_URL} "
        f"(DATABASE_URL gives {DATABASES['default']['ENGINE']})."
    )
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/15")
# Tests that need a real worker start one (tests/research/test_export_worker.py), with
# REGISTRY_TEST_EAGER=0 in its environment; everything else runs tasks in-process.
CELERY_TASK_ALWAYS_EAGER = env.bool("REGISTRY_TEST_EAGER", default=True)
# How often a worker looks for unacknowledged messages older than the visibility timeout (those of
# a killed worker) and delivers them again: Redis transport defaults (about every 100 s), which the
# worker tests shorten to see a redelivery within seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,
    "unacked_restore_interval": env.int("CELERY_BROKER_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env.int("CELERY_BROKER_RESTORE_THROTTLE", default=10),
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING["root"]["level"] = "WARNING"


# --- Test-only: hold an export build mid-way, so that a test can kill the worker at a known point.
# REGISTRY_TEST_PAUSE_BUILD=<marker file>: in each worker process, the first progress report of a
# package build creates the marker file and then sleeps for REGISTRY_TEST_PAUSE_SECONDS. It lives
# here, not in the product code, and does nothing unless a test sets the variable for its worker.
REGISTRY_TEST_PAUSE_BUILD = env.str("REGISTRY_TEST_PAUSE_BUILD", default="")
REGISTRY_TEST_PAUSE_SECONDS = env.float("REGISTRY_TEST_PAUSE_SECONDS", default=120.0)


def _pause_package_builds(**_kwargs) -> None:
    import time
    from pathlib import Path

    from research import package

    build, marker = package.build_package, Path(REGISTRY_TEST_PAUSE_BUILD)

    def paused_build(request, workdir, progress):
        def progress_then_pause(percent, step):
            progress(percent, step)
            if not marker.exists():
                marker.write_text(f"export {request.export_id} paused at {percent}% ({step})")
                time.sleep(REGISTRY_TEST_PAUSE_SECONDS)

        return build(request, workdir, progress_then_pause)

    package.build_package = paused_build


if REGISTRY_TEST_PAUSE_BUILD:
    from celery.signals import worker_process_init

    worker_process_init.connect(_pause_package_builds, weak=False)
