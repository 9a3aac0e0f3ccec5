"""Test suite: real PostgreSQL and Redis (see `make test`)."""

from .base import *
from .base import env

SECRET_KEY = "test-only-key-never-used-outside-the-test-suite-0123456789abcdef"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/gne_registry")}
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/15")
# Tests that need a real worker start one; everything else runs tasks in-process.
CELERY_TASK_ALWAYS_EAGER = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING["root"]["level"] = "WARNING"
