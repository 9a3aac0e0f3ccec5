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
# Tests that need a real worker start one; everything else runs tasks in-process.
CELERY_TASK_ALWAYS_EAGER = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING["root"]["level"] = "WARNING"
