"""Settings shared by every environment; the environment supplies the rest.

Each environment module (local, test, production) imports this one and changes only what differs.
"""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()


def env_secret(name: str, default=environ.Env.NOTSET):
    """Read a secret from NAME, or from the file named by NAME_FILE (Docker/Kubernetes secrets)."""
    path = env.str(f"{name}_FILE", default="")
    if path:
        return Path(path).read_text().strip()
    return env.str(name, default=default)


DEBUG = False
SECRET_KEY = env_secret("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])

INSTALLED_APPS = [
    # Before django.contrib.admin, so that the registry's own registration/ templates (login,
    # password reset) are the ones found, not the admin's.
    "registry",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",  # API tokens, stored hashed, expiring (registry/tokens.py)
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    # Two-factor authentication (registry/twofactor/, docs/security.md).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "registry.twofactor",
    "csp",  # Content-Security-Policy (django-csp); see CONTENT_SECURITY_POLICY
    "simple_history",  # the audit trail's record history (registry/audit.py)
    "patients",
    "assessments",
    "research",
    "portal",
    "workspace",
    "demo",
]

MIDDLEWARE = [
    # Outermost, so that every answer of the application gets it, the JSON error pages too.
    "registry.middleware.NoStoreMiddleware",
    "registry.api.middleware.ApiJsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "registry.api.middleware.RegistryCommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): passed the second factor
    "registry.twofactor.middleware.TwoFactorRequiredMiddleware",
    "registry.audit.AuditContextMiddleware",  # who and which path, for the audit trail
    "portal.middleware.PatientTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into registry.lockout's answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The embedded default (SQLite) lets `make run` work with no services; every real deployment and
# the test suite set DATABASE_URL to PostgreSQL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Argon2 for new passwords. The others still check hashes made before it, and Django rehashes each
# with Argon2 at that user's next login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# django-axes first: a locked-out account is refused before its password is even hashed.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "/accounts/login/"
# Researchers and staff land on their projects; the patient portal will bring a home page by role.
LOGIN_REDIRECT_URL = "/"  # registry.views.home sends each role to its own pages
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en"
# Languages offered by the chooser on every page. Only English is shipped; a deployment adds one by
# translating its catalogue (docs/i18n.md) and listing it here, e.g. REGISTRY_LANGUAGES=en,es,he.
_LANGUAGE_NAMES = {
    "en": "English",
    "es": "Español",
    "fr": "Français",
    "de": "Deutsch",
    "he": "עברית",
    "ar": "العربية",
    "fa": "فارسی",
    "ja": "日本語",
    "ko": "한국어",
    "zh-hans": "简体中文",
    "hi": "हिन्दी",
}
LANGUAGES = [(code, _LANGUAGE_NAMES.get(code, code)) for code in env.list("REGISTRY_LANGUAGES", default=["en"])]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "registry.api.authentication.RoleAwareTokenAuthentication",
        # Session authentication that refuses a session still owing its second factor.
        "registry.twofactor.authentication.TwoFactorSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "registry.api.filters.RegistryFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "registry.api.pagination.RegistryPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "registry.api.schema.RegistryAutoSchema",
    # Password guessing against the token endpoint (per client address; see NUM_PROXIES).
    "DEFAULT_THROTTLE_RATES": {"token": env.str("REGISTRY_TOKEN_RATE", default="10/minute")},
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "EXCEPTION_HANDLER": "registry.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["registry.api.parsers.RegistryJSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "COERCE_DECIMAL_TO_STRING": False,
}

# API tokens (docs/accounts.md, "API tokens"): a token works for REGISTRY_TOKEN_TTL_HOURS after it is
# issued, however much it is used (no sliding refresh), so a leaked token is useful for a bounded time.
REGISTRY_TOKEN_TTL_HOURS = env.int("REGISTRY_TOKEN_TTL_HOURS", default=12)
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=REGISTRY_TOKEN_TTL_HOURS),
    "AUTO_REFRESH": False,
    "AUTH_HEADER_PREFIX": "Token",  # `Authorization: Token <token>`, as clients sent before knox
}

SPECTACULAR_SETTINGS = {
    "TITLE": "GNE myopathy natural-history registry API",
    "DESCRIPTION": (
        "Data entry for the GNE myopathy (HIBM, DMRV, Nonaka myopathy) patient registry: patients, "
        "diagnoses, GNE genotypes, repeated functional assessments, milestones and treatments. "
        "Updates need an If-Match header carrying the ETag of the version being changed; creates accept an "
        "Idempotency-Key header so that a retried request never makes a second record. Every error, "
        "under every path of /api/, has the same JSON shape."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from this site, not a CDN: no third party sees who reads the docs.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "YesNoUnknownEnum": "registry.models.YesNoUnknown.choices",
        "AbilityEnum": "assessments.models.Ability.choices",
        "AssessmentSourceEnum": "assessments.models.Source.choices",
        "MilestoneSourceEnum": "assessments.models.MilestoneSource.choices",
        "MilestoneKindEnum": "assessments.models.MilestoneKind.choices",
        "TimedTestStatusEnum": "assessments.models.TimedTestStatus.choices",
        "TreatmentKindEnum": "patients.models.TreatmentKind.choices",
        "AcmgClassEnum": "patients.models.AcmgClass.choices",
        "VariantNumberingEnum": "patients.api.serializers.NUMBERING_CHOICES",
        "AmbulationClassEnum": "assessments.models.AmbulationClass.choices",
        "StatusEnum": "patients.models.EnrollmentStatus.choices",
        "ExportStatusEnum": "research.models.ExportStatus.choices",
        "ExportableEnrollmentStatusEnum": "research.cohort.EXPORTABLE_STATUSES",
        "GenotypeGroupEnum": "research.cohort.GENOTYPE_GROUPS",
        "ConsentPurposeEnum": "patients.models.ConsentPurpose.choices",
    },
}

# --- Celery -----------------------------------------------------------------------------------
# Without a broker URL, tasks run in-process (the embedded default for `make run`).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# The Redis transport redelivers a message not acknowledged within this many seconds. Tasks that
# acknowledge late (research exports) must finish well within it, and a second delivery while the
# first still runs is refused by the export's build lock.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_BROKER_VISIBILITY_TIMEOUT", default=3600)}
CELERY_BEAT_SCHEDULE = {
    "purge-idempotency-keys": {"task": "registry.purge_idempotency_keys", "schedule": 24 * 60 * 60},
    # Exports recorded while the broker was down, and exports whose worker died.
    "requeue-stale-exports": {"task": "research.requeue_stale_exports", "schedule": 60},
    "send-follow-up-reminders": {"task": "portal.send_follow_up_reminders", "schedule": 60 * 60},
}

# --- Registry ---------------------------------------------------------------------------------
# Optional override of the shipped GNE reference data (transcripts, domains, founder variants).
GNE_REFERENCE_PATH = env.str("GNE_REFERENCE_PATH", default="")
# Onset outside this window is accepted but flagged for review (docs/clinical-rules.md, rule 1).
REGISTRY_ONSET_REVIEW_MIN_AGE = env.int("REGISTRY_ONSET_REVIEW_MIN_AGE", default=10)
REGISTRY_ONSET_REVIEW_MAX_AGE = env.int("REGISTRY_ONSET_REVIEW_MAX_AGE", default=60)
# Muscle groups (both sides) summed into the hand-held dynamometry composites. The published
# composites (Lochmüller 2021) do not list their muscles in the sources we have, so a site can
# set its own (docs/clinical-rules.md, "Unverified facts"). A composite is stored only when every
# listed group was measured on both sides.
REGISTRY_HHD_COMPOSITES = {
    "upper": ["shoulder_abduction", "elbow_flexion", "elbow_extension"],
    "lower": ["hip_flexion", "hip_abduction", "knee_flexion", "knee_extension", "ankle_dorsiflexion"],
}
# Movements whose MRC grades make up the summed manual muscle testing score (`mmt_sum_score`): limb
# movements on both sides, neck ones once. The NCNP study's 17 muscles are not listed in the sources
# we have; the default is the six movements of the MRC sum score (docs/clinical-rules.md,
# "Unverified facts"). The sum is stored only when every listed movement was graded.
REGISTRY_MMT_SUM_MUSCLES = [
    "shoulder_abduction",
    "elbow_flexion",
    "wrist_extension",
    "hip_flexion",
    "knee_extension",
    "ankle_dorsiflexion",
]

# --- Research exports (docs/research-exports.md) ----------------------------------------------
# Defaults for new projects; every export records the values it used in deid_report.json.
REGISTRY_EXPORT_K = env.int("REGISTRY_EXPORT_K", default=5)
REGISTRY_EXPORT_MIN_COHORT = env.int("REGISTRY_EXPORT_MIN_COHORT", default=11)
REGISTRY_EXPORT_MAX_SUPPRESSION = env.float("REGISTRY_EXPORT_MAX_SUPPRESSION", default=0.05)
REGISTRY_EXPORT_SMALL_CELL = env.int("REGISTRY_EXPORT_SMALL_CELL", default=10)
# Signed download links expire after this many days.
REGISTRY_EXPORT_LINK_DAYS = env.int("REGISTRY_EXPORT_LINK_DAYS", default=7)
# A queued export older than this is sent to the broker again by the beat task.
REGISTRY_EXPORT_REQUEUE_MINUTES = env.int("REGISTRY_EXPORT_REQUEUE_MINUTES", default=10)
# Seconds a request waits for the broker before saying the export will start once it is back.
REGISTRY_EXPORT_ENQUEUE_TIMEOUT = env.float("REGISTRY_EXPORT_ENQUEUE_TIMEOUT", default=2.0)
# Building one export: time limits (soft: it fails with a reason; hard: the worker process is killed),
# retries after transient database or storage errors (exponential backoff from RETRY_DELAY seconds,
# capped at RETRY_MAX_DELAY), and how many claims in all before it is failed for good.
REGISTRY_EXPORT_SOFT_TIME_LIMIT = env.int("REGISTRY_EXPORT_SOFT_TIME_LIMIT", default=20 * 60)
REGISTRY_EXPORT_TIME_LIMIT = env.int("REGISTRY_EXPORT_TIME_LIMIT", default=22 * 60)
REGISTRY_EXPORT_MAX_RETRIES = env.int("REGISTRY_EXPORT_MAX_RETRIES", default=5)
REGISTRY_EXPORT_RETRY_DELAY = env.int("REGISTRY_EXPORT_RETRY_DELAY", default=15)
REGISTRY_EXPORT_RETRY_MAX_DELAY = env.int("REGISTRY_EXPORT_RETRY_MAX_DELAY", default=600)
REGISTRY_EXPORT_MAX_ATTEMPTS = env.int("REGISTRY_EXPORT_MAX_ATTEMPTS", default=8)
EXPORTS_ROOT = env.str("EXPORTS_ROOT", default=str(BASE_DIR / "var" / "exports"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    # Published export packages. A deployment with several worker machines points this at shared
    # object storage (e.g. django-storages' S3 backend) without code changes.
    "exports": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": EXPORTS_ROOT}},
}

# --- Sites as data-access groups (docs/sites.md) ---
# Who counts as foundation-wide staff (every site's patients: other users' tokens, the admin). The
# patients app owns sites; the registry app, which may not import it, reads the check from here.
REGISTRY_FOUNDATION_WIDE_CHECK = "patients.access.is_foundation_wide"

# --- Patient portal (docs/patient-portal.md) ---
# Email: printed to the console unless EMAIL_URL names a server, e.g. smtp+tls://user:pass@host:587.
_EMAIL = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _EMAIL["EMAIL_BACKEND"]
EMAIL_HOST, EMAIL_PORT = _EMAIL.get("EMAIL_HOST", ""), _EMAIL.get("EMAIL_PORT") or 25
EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _EMAIL.get("EMAIL_HOST_USER", ""), _EMAIL.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS, EMAIL_USE_SSL = _EMAIL.get("EMAIL_USE_TLS", False), _EMAIL.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="GNE registry <registry@localhost>")
# Links in emails sent by background tasks (reminders), which have no request to take the host from.
REGISTRY_PUBLIC_URL = env.str("REGISTRY_PUBLIC_URL", default="http://127.0.0.1:8000")
REGISTRY_INVITATION_DAYS = env.int("REGISTRY_INVITATION_DAYS", default=14)
REGISTRY_SELF_REGISTRATION = env.bool("REGISTRY_SELF_REGISTRATION", default=False)
REGISTRY_REPORT_CORRECTION_DAYS = env.int("REGISTRY_REPORT_CORRECTION_DAYS", default=7)
REGISTRY_FOLLOW_UP_MONTHS = env.int("REGISTRY_FOLLOW_UP_MONTHS", default=6)
# The consent document patients accept in the portal: its latest version in effect.
REGISTRY_CONSENT_DOCUMENT = env.str("REGISTRY_CONSENT_DOCUMENT", default="registry-consent")
# Erasure on request (docs/consent.md): "deidentify" removes identity and free text and keeps the
# de-identified clinical data (never exported again); "erase" deletes the patient and all their data.
REGISTRY_ERASURE_POLICY = env.str("REGISTRY_ERASURE_POLICY", default="deidentify")
if REGISTRY_ERASURE_POLICY not in ("deidentify", "erase"):
    raise environ.ImproperlyConfigured(f"REGISTRY_ERASURE_POLICY is deidentify or erase: {REGISTRY_ERASURE_POLICY!r}.")

# --- Bulk import of a legacy spreadsheet (docs/import.md) ---
# The largest CSV file accepted (bytes; kept under DATA_UPLOAD_MAX_MEMORY_SIZE, the API's body limit)
# and the most lines of data in one file. An import runs in one transaction within one request, at
# about 40 lines a second on a busy machine (docs/import.md): 1000 stay within gunicorn's 30 s timeout.
REGISTRY_IMPORT_MAX_BYTES = env.int("REGISTRY_IMPORT_MAX_BYTES", default=2_000_000)
REGISTRY_IMPORT_MAX_ROWS = env.int("REGISTRY_IMPORT_MAX_ROWS", default=1000)
# Failed logins allowed per account and address before a cool-off (pages, admin and API token).
REGISTRY_LOGIN_FAILURE_LIMIT = env.int("REGISTRY_LOGIN_FAILURE_LIMIT", default=5)
REGISTRY_LOGIN_COOLOFF_MINUTES = env.int("REGISTRY_LOGIN_COOLOFF_MINUTES", default=15)
AXES_FAILURE_LIMIT = REGISTRY_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = REGISTRY_LOGIN_COOLOFF_MINUTES / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "registry.lockout.lockout_response"
AXES_USERNAME_CALLABLE = "registry.lockout.username_of_attempt"
AXES_IPWARE_PROXY_COUNT = env.int("NUM_PROXIES", default=0) or None

# --- Account security (docs/security.md) ------------------------------------------------------
# Two-factor authentication: required for staff and researchers when on (production.py turns it
# on), optional for everyone otherwise.
REGISTRY_REQUIRE_2FA = env.bool("REGISTRY_REQUIRE_2FA", default=False)
OTP_TOTP_ISSUER = env.str("REGISTRY_TWO_FACTOR_ISSUER", default="GNE registry")  # the name apps show
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin lists devices, never their keys or recovery codes
# Scripts and styles from this site's own files only (no inline ones, so injected markup cannot run),
# images also as data: URLs, no framing by other sites, forms posted only here. The API docs page
# relaxes styles only (config/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
    }
}
SECURE_REFERRER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
