"""Production settings refuse to start without their secrets, and pass Django's deploy checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "x" * 20 + "a-long-random-looking-production-key-0123456789-abcdefgh",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "ALLOWED_HOSTS": "registry.example.org",
}


def _manage(*args, env):
    clean = {key: value for key, value in os.environ.items() if key not in PRODUCTION_ENV}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean | env, capture_output=True, text=True, timeout=60
    )


def test_production_deploy_check_is_clean():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without(missing):
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != missing}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert f"{missing} must be set in production" in result.stderr


def test_secret_can_come_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text(PRODUCTION_ENV["DJANGO_SECRET_KEY"] + "\n")
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != "DJANGO_SECRET_KEY"}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env | {"DJANGO_SECRET_KEY_FILE": str(secret)})
    assert result.returncode == 0, result.stderr


def test_production_requires_two_factor_and_secure_cookies():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.REGISTRY_REQUIRE_2FA, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_REFERRER_POLICY, "
        "'django_otp.middleware.OTPMiddleware' in s.MIDDLEWARE, 'csp.middleware.CSPMiddleware' in s.MIDDLEWARE)"
    )
    clean = {key: value for key, value in os.environ.items() if key not in PRODUCTION_ENV}
    # Not read from the environment: a variable saying otherwise changes nothing.
    env = clean | PRODUCTION_ENV | {"REGISTRY_REQUIRE_2FA": "false"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True", "same-origin", "True", "True"]


def test_two_factor_is_optional_outside_production():
    from config.settings import base, local, test

    assert base.REGISTRY_REQUIRE_2FA is False and local.REGISTRY_REQUIRE_2FA is False
    assert test.REGISTRY_REQUIRE_2FA is False


def test_debug_is_off_outside_local_settings():
    from config.settings import base, test

    assert base.DEBUG is False and test.DEBUG is False


def _load_test_settings(database_url):
    clean = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env = clean | {"DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'])"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("database_url", ["sqlite:///x.sqlite3", "mysql://root@127.0.0.1:3306/gne"])
def test_test_settings_refuse_a_database_other_than_postgresql(database_url):
    result = _load_test_settings(database_url)

    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured: The test suite runs on PostgreSQL only" in result.stderr, result.stderr
    assert "postgres://postgres@127.0.0.1:5432/gne_registry" in result.stderr
    assert not (ROOT / "x.sqlite3").exists()


def test_test_settings_accept_postgresql():
    result = _load_test_settings("postgres://postgres@127.0.0.1:5432/gne_registry")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.postgresql"
