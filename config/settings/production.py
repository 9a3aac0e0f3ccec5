"""Production: every secret comes from the environment, and start-up stops if one is missing."""

from django.core.exceptions import ImproperlyConfigured

from .base import *
from .base import env, env_secret


def _required(name: str, value):
    if not value:
        raise ImproperlyConfigured(f"{name} must be set in production (or {name}_FILE for a secret file).")
    return value


SECRET_KEY = _required("DJANGO_SECRET_KEY", env_secret("DJANGO_SECRET_KEY", default=""))
ALLOWED_HOSTS = _required("ALLOWED_HOSTS", env.list("ALLOWED_HOSTS", default=[]))
DATABASES = {"default": env.db_url_config(_required("DATABASE_URL", env_secret("DATABASE_URL", default="")))}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

CELERY_BROKER_URL = env_secret("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = False

# Safe only because gunicorn is reachable through the proxy alone (docker-compose.yml publishes no
# port of its own; deploy/Caddyfile replaces any X-Forwarded-Proto a client sends). A deployment
# that exposes gunicorn directly must set DJANGO_TRUST_FORWARDED_PROTO=false.
if env.bool("DJANGO_TRUST_FORWARDED_PROTO", default=True):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
# Staff and researchers see identifiable data: a password alone does not open their accounts here
# (docs/security.md). Not read from the environment, so that no deployment turns it off by mistake.
REGISTRY_REQUIRE_2FA = True
# Shared by every web process, so the token endpoint's rate limit counts across all of them.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_secret("CACHE_URL", default="") or CELERY_BROKER_URL or "redis://127.0.0.1:6379/1",
    }
}
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
