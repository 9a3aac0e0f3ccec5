"""The audit trail: who changed which record, when, through which path, and the events beside it.

Two parts (docs/audit.md):

- **Record history.** Each audited model declares `history = audited_history()`; django-simple-history
  then writes a full copy of the row to its historical table on every save and delete, with the user
  and the path (`via`) taken from the current audit context.
- **Events** (`AuditEvent`, written by `audit_log`): logins, failed logins, logouts, exports requested
  and downloaded, imports, erasures.

The audit context says who is acting and through which path. `AuditContextMiddleware` sets it for
each request (api, admin or page, from the URL); a Celery task runs in "task"; code that is neither
(an import command, a script) wraps its writes in `audit_context(via=..., user=...)`. Outside all of
these, changes are recorded with the path "shell" and no user.

Nothing in the application updates or deletes audit rows; PostgreSQL triggers (installed by
`append_only`) refuse it unless `audit_purge_allowed()` is in force.
"""

import contextlib
import contextvars
import functools
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, migrations, models, transaction
from simple_history.manager import HistoryManager
from simple_history.models import HistoricalRecords

from registry.models import AuditEvent


class Via(models.TextChoices):
    """The path through which a change or event came."""

    API = "api", "API"
    PAGE = "page", "Page"
    ADMIN = "admin", "Admin"
    IMPORT = "import", "Import"
    TASK = "task", "Background task"
    SHELL = "shell", "Shell or script"


# Mirrors the mounts in config/urls.py; a path is judged by its prefix only.
API_PREFIX = "/api/"
ADMIN_PREFIX = "/admin/"


@dataclass(frozen=True)
class AuditContext:
    via: str
    user: Any = None
    # The request being served, read for its user only when a change is recorded: DRF authenticates
    # a token after the middleware has run, and sets the user on this same request.
    request: Any = None

    def acting_user(self):
        user = self.user
        if user is None and self.request is not None:
            user = getattr(self.request, "user", None)
        return user if user is not None and getattr(user, "is_authenticated", False) else None


# A context variable rather than a thread-local, so that it is right under ASGI as well.
_context: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar("registry_audit_context", default=None)


def current_via() -> str:
    context = _context.get()
    return context.via if context else Via.SHELL


def current_user():
    """The authenticated user acting now, or None (a task, a script, an anonymous request)."""
    context = _context.get()
    return context.acting_user() if context else None


def current_username() -> str:
    user = current_user()
    return user.get_username()[:150] if user is not None else ""


@contextmanager
def audit_context(*, via: str, user=None):
    """Record the changes and events made inside as done by `user` through `via` (e.g. an import)."""
    token = _context.set(AuditContext(via=Via(via), user=user))
    try:
        yield
    finally:
        _context.reset(token)


class AuditContextMiddleware:
    """Sets the audit context of each request; after AuthenticationMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _context.set(AuditContext(via=via_for_path(request.path), request=request))
        try:
            return self.get_response(request)
        finally:
            _context.reset(token)


def via_for_path(path: str) -> str:
    if path.startswith(API_PREFIX):
        return Via.API
    if path.startswith(ADMIN_PREFIX):
        return Via.ADMIN
    return Via.PAGE


# --- Record history ------------------------------------------------------------------------------


class AuditTrailRow(models.Model):
    """What every historical table adds to django-simple-history's columns.

    Both are filled from the audit context when the row is made (field defaults, so that simple-history's
    own bulk helpers fill them too). The username is kept beside `history_user_id` so the trail still
    says who acted after their account is gone.
    """

    via = models.CharField(max_length=10, choices=Via.choices, default=current_via)
    history_username = models.CharField(max_length=150, blank=True, default=current_username)

    class Meta:
        abstract = True


def _history_user(request=None, instance=None, **kwargs):
    return current_user()


class _HistoryManager(HistoryManager):
    """simple-history's manager, built once per queryset class.

    simple-history reads `instance.history` on every write, and each read builds a new manager class
    (`from_queryset`, which inspects every QuerySet method): about a quarter of the cost of a history row.
    """

    @classmethod
    @functools.cache
    def from_queryset(cls, queryset_class, class_name=None):
        return super().from_queryset(queryset_class, class_name)


def audited_history(**options) -> HistoricalRecords:
    """`history = audited_history()` on a model records every create, update and delete of it.

    The user is kept as a plain id, not a foreign key: deleting an account must not update (or be
    refused by) the append-only trail.
    """
    return HistoricalRecords(
        bases=[AuditTrailRow],
        get_user=_history_user,
        history_user_id_field=models.IntegerField(null=True, blank=True, db_index=True),
        history_manager=_HistoryManager,
        **options,
    )


# --- Events --------------------------------------------------------------------------------------


class EventKind(models.TextChoices):
    LOGIN = "login", "Logged in"
    LOGIN_FAILED = "login_failed", "Failed login"
    LOGOUT = "logout", "Logged out"
    EXPORT_REQUESTED = "export_requested", "Export requested"
    EXPORT_DOWNLOADED = "export_downloaded", "Export downloaded"
    IMPORT = "import", "Import"
    ERASURE = "erasure", "Erasure"
    DUPLICATE_OVERRIDE = "duplicate_override", "Enrolled despite a possible duplicate"
    TOKENS_REVOKED = "tokens_revoked", "API tokens revoked"


def audit_log(
    kind: str, *, user=None, username: str = "", via: str = "", target=None, detail: dict | None = None
) -> AuditEvent:
    """Record one event. `target` is a record with a public `uuid` (or None); `detail` must hold no
    identifying data, since the trail outlives an erasure. `via` defaults to the current path."""
    target_type = target_id = ""
    if target is not None:
        target_type = target._meta.label_lower
        target_id = str(getattr(target, "uuid", None) or target.pk)
    if user is not None and getattr(user, "is_authenticated", False):
        username = username or user.get_username()
    else:
        user = None
    return AuditEvent.objects.create(
        kind=kind,
        user=user,
        username=username[:150],
        via=via or current_via(),
        target_type=target_type,
        target_id=target_id,
        detail=detail or {},
    )


def _on_login(sender, request, user, **kwargs):
    audit_log(EventKind.LOGIN, user=user)


def _on_logout(sender, request, user, **kwargs):
    if user is not None and user.is_authenticated:  # None when the session had already expired
        audit_log(EventKind.LOGOUT, user=user)


def _on_login_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in `credentials`; only the name as typed is kept.
    typed = credentials.get("username") or credentials.get("email") or ""
    # The only password checked under /api/ is the one asking for a token.
    detail = {"method": TOKEN_METHOD} if current_via() == Via.API else None
    audit_log(EventKind.LOGIN_FAILED, username=str(typed), detail=detail)


# Django signals a login and a logout of a session only. An API token is issued and revoked by the
# token view, which records them here, marked so that they read apart from page logins.
TOKEN_METHOD = "token"


def audit_token_login(*, user) -> AuditEvent:
    """A token issued for a username and password (and second factor): a login through the API."""
    return audit_log(EventKind.LOGIN, user=user, via=Via.API, detail={"method": TOKEN_METHOD})


def audit_token_logout(*, user) -> AuditEvent:
    """The token a request was sent with, revoked by its holder: a logout from the API."""
    return audit_log(EventKind.LOGOUT, user=user, via=Via.API, detail={"method": TOKEN_METHOD})


def audit_tokens_revoked(*, user, account, count: int) -> AuditEvent:
    """`user` revoked `count` API tokens of `account` (their own, or another's as foundation staff).

    The account is named by its internal id, not its username: the trail outlives an erasure."""
    return audit_log(
        EventKind.TOKENS_REVOKED,
        user=user,
        via=Via.API,
        target=account,
        detail={"method": TOKEN_METHOD, "count": count, "own": account.pk == user.pk},
    )


def audit_token_login_refused(*, user) -> AuditEvent:
    """A token refused after the right password (the second factor was missing or wrong). Django
    signals no failure here, since the password check succeeded; the account is known, so it is named."""
    return audit_log(
        EventKind.LOGIN_FAILED, user=user, via=Via.API, detail={"method": TOKEN_METHOD, "reason": "second_factor"}
    )


# Tokens of the task contexts in force, by task id: a worker runs one task at a time per thread,
# but an eager task (no broker) runs inside the request that sent it and must hand the context back.
_task_tokens: dict[str, contextvars.Token] = {}


def _on_task_start(sender=None, task_id=None, **kwargs):
    # An eager task run inside a request keeps that request's user; in a worker there is none.
    _task_tokens[task_id] = _context.set(AuditContext(via=Via.TASK, user=current_user()))


def _on_task_end(sender=None, task_id=None, **kwargs):
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        # ValueError: set in another context (should not happen); the worker then stays in "task".
        with contextlib.suppress(ValueError):
            _context.reset(token)


def connect_signals() -> None:
    """Connected once, from `RegistryConfig.ready`."""
    from celery.signals import task_postrun, task_prerun
    from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

    user_logged_in.connect(_on_login, dispatch_uid="registry.audit.login")
    user_logged_out.connect(_on_logout, dispatch_uid="registry.audit.logout")
    user_login_failed.connect(_on_login_failed, dispatch_uid="registry.audit.login_failed")
    task_prerun.connect(_on_task_start, dispatch_uid="registry.audit.task_start", weak=False)
    task_postrun.connect(_on_task_end, dispatch_uid="registry.audit.task_end", weak=False)


# --- Append-only, in the database ------------------------------------------------------------------

PURGE_SETTING = "registry.audit_purge"

APPEND_ONLY_FUNCTION = f"""
CREATE OR REPLACE FUNCTION registry_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('{PURGE_SETTING}', true) = 'on' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    -- A column named as the trigger's argument may be set to NULL and nothing else changed: the
    -- user foreign key of an event, cleared by ON DELETE SET NULL when an account is deleted (the
    -- username stays in the row).
    IF TG_OP = 'UPDATE' AND TG_NARGS > 0 AND to_jsonb(NEW) ->> TG_ARGV[0] IS NULL
            AND (to_jsonb(NEW) - TG_ARGV[0]) = (to_jsonb(OLD) - TG_ARGV[0]) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'The audit trail is append-only: % on % refused.', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Erasure purges history inside registry.audit.audit_purge_allowed().';
END
$$;
"""


def append_only(*tables: str, nullable_column: str = "") -> migrations.RunPython:
    """A migration operation installing the trigger that refuses UPDATE and DELETE on `tables`.

    PostgreSQL only: the SQLite database of `make run` holds synthetic data and is not protected.
    """
    argument = f"'{nullable_column}'" if nullable_column else ""

    def install(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(APPEND_ONLY_FUNCTION, params=None)  # its % are PL/pgSQL's, not parameters
        for table in tables:
            schema_editor.execute(
                f'CREATE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{table}" '
                f"FOR EACH ROW EXECUTE FUNCTION registry_audit_append_only({argument})"
            )

    def remove(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in tables:
            schema_editor.execute(f'DROP TRIGGER IF EXISTS "{table}_append_only" ON "{table}"')

    return migrations.RunPython(install, remove)


@contextmanager
def audit_purge_allowed(using: str = DEFAULT_DB_ALIAS):
    """Allow audit rows to be deleted or changed inside this block (an erasure purging history).

    `SET LOCAL` lasts until the transaction ends, so the block is its own atomic block and turns the
    setting off again when it ends normally; after an error its savepoint rollback undoes it.
    """
    connection = connections[using]
    with transaction.atomic(using=using):
        _set_purge(connection, "on")
        yield
        _set_purge(connection, "off")


def _set_purge(connection, value: str) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [PURGE_SETTING, value])
