"""Research projects and exports: creating them, running an export once, and handing it out.

An export goes queued -> running -> done | failed | refused. `export_request` records it and sends
it to the task queue after the transaction commits; `export_run` (called by the Celery task) does
the rest: take the build lock, claim the row, choose the cohort, refuse what the de-identification
rules forbid, build the package in a temporary directory, publish it atomically, and mark it done
with a conditional update. Every step is safe to repeat, because brokers redeliver and workers die.
"""

import datetime as dt
import functools
import logging
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connection, connections, transaction
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from registry.audit import EventKind, audit_log
from registry.errors import ValidationError
from registry.roles import RESEARCHER, user_roles
from research import package
from research.cohort import cohort_clean, cohort_patient_ids
from research.errors import ExportRefused
from research.locks import export_build_lock, export_build_lock_held
from research.models import (
    ExportDownload,
    ExportedPatient,
    ExportStatus,
    ResearchExport,
    ResearchProject,
)
from research.selectors import project_open_on, project_usable_by
from research.storage import file_sha256, package_delete, package_name, package_open, package_publish

logger = logging.getLogger(__name__)

# Worth retrying: the database or the file storage was briefly unavailable.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, OSError)
# The broker could not be reached or refused the message.
BROKER_ERRORS = (KombuError, RedisError, OSError)
CLAIMABLE = (ExportStatus.QUEUED, ExportStatus.RUNNING)
DOWNLOAD_SALT = "research.export-download"
# The stretch of the progress bar the package builder fills; choosing the cohort comes before it
# and publishing after.
BUILD_SHARE = (2, 95)

PROJECT_FIELDS = (
    "title",
    "approving_body",
    "approval_reference",
    "data_use_agreement_ends",
    "k_anonymity",
    "minimum_cohort",
    "ancestry_allowed",
)


class ExportFailed(Exception):
    """The export cannot be built for a reason the requester can act on (not a de-identification refusal)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _ClaimLost(Exception):
    """Another attempt took over the export; this one must stop without writing anything."""


def _patients(count: int) -> str:
    return f"{count} patient" if count == 1 else f"{count} patients"


# --- Projects ---------------------------------------------------------------------------------


def project_validate(*, data: dict, members, creating: bool) -> None:
    """The rules of a project's settings, for every entry path (API, admin): ValidationError per field."""
    errors = {}
    k, minimum = data.get("k_anonymity"), data.get("minimum_cohort")
    if k is not None and k < 2:
        errors["k_anonymity"] = "k must be at least 2: a group of one is a single, identifiable person."
    if k is not None and minimum is not None and minimum < k:
        errors["minimum_cohort"] = f"The minimum cohort ({minimum}) cannot be smaller than k ({k})."
    not_researchers = sorted(user.get_username() for user in members or () if RESEARCHER not in user_roles(user))
    if not_researchers:
        errors["members"] = f"Only researchers can be members; not researchers: {', '.join(not_researchers)}."
    ends = data.get("data_use_agreement_ends")
    if creating and ends is not None and ends < timezone.localdate():
        errors["data_use_agreement_ends"] = (
            "The data-use agreement has already ended; a new project needs a current one."
        )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def project_create(*, data: dict, members, created_by) -> ResearchProject:
    """A new project, with its own pseudonym key (made by the model, never returned or logged)."""
    data = {name: data[name] for name in PROJECT_FIELDS if name in data}
    data.setdefault("k_anonymity", settings.REGISTRY_EXPORT_K)
    data.setdefault("minimum_cohort", settings.REGISTRY_EXPORT_MIN_COHORT)
    members = list(members)
    project_validate(data=data, members=members, creating=True)
    project = ResearchProject(**data, created_by=created_by)
    project.full_clean(exclude=["pseudonym_key", "members", "created_by"])
    project.save()
    project.members.set(members)
    return project


@transaction.atomic
def project_update(*, project: ResearchProject, data: dict, members=None) -> ResearchProject:
    """Change a project's description, thresholds or members; the pseudonym key never changes.

    The end date may be moved into the past: that closes the project to new exports and downloads.
    """
    locked = ResearchProject.objects.select_for_update().get(pk=project.pk)
    for name in PROJECT_FIELDS:
        if name in data:
            setattr(locked, name, data[name])
    members = list(members) if members is not None else None
    project_validate(
        data={"k_anonymity": locked.k_anonymity, "minimum_cohort": locked.minimum_cohort},
        members=members,
        creating=False,
    )
    locked.full_clean(exclude=["pseudonym_key", "members", "created_by"])
    locked.save()
    if members is not None:
        locked.members.set(members)
    return locked


# --- Requesting an export ---------------------------------------------------------------------


def _check_may_use(project: ResearchProject, user) -> None:
    if not project_usable_by(project, user):
        raise PermissionDenied(f"You are not a member of research project {project.pk}.")


def _agreement_ended_message(project: ResearchProject) -> str:
    return (
        f"The data-use agreement of this project ended on {project.data_use_agreement_ends:%Y-%m-%d}; "
        "ask the registry team to record a renewed agreement before requesting exports."
    )


@transaction.atomic
def export_request(
    *, project: ResearchProject, requested_by, cohort: dict, include_ancestry: bool = False
) -> ResearchExport:
    """Record an export request and send it to the task queue once the transaction has committed.

    Raises PermissionDenied for a user who may not use the project, ValidationError for an ended
    agreement, ancestry the project may not ask for, or a bad cohort definition.
    """
    _check_may_use(project, requested_by)
    if not project_open_on(project, timezone.localdate()):
        raise ValidationError({"project": _agreement_ended_message(project)})
    if include_ancestry and not project.ancestry_allowed:
        raise ValidationError({"include_ancestry": "This project's approval does not cover ancestry."})
    export = ResearchExport.objects.create(
        project=project, requested_by=requested_by, cohort=cohort_clean(cohort), include_ancestry=include_ancestry
    )
    audit_log(EventKind.EXPORT_REQUESTED, user=requested_by, target=export, detail={"project": project.pk})
    # After commit, or the worker could look for a row it cannot see yet. Robust: a broker
    # failure is already handled inside, and nothing may turn a recorded request into a 500.
    transaction.on_commit(functools.partial(export_enqueue, export_id=export.pk), robust=True)
    return export


def _task_queue_connection():
    from research.tasks import run_export  # the task module imports this one

    return run_export.app.connection_for_write(connect_timeout=settings.REGISTRY_EXPORT_ENQUEUE_TIMEOUT)


def task_queue_reachable() -> bool:
    """Whether the broker answers now (quickly: a request must not hang on a dead broker)."""
    from research.tasks import run_export

    if run_export.app.conf.task_always_eager:
        return True
    try:
        with _task_queue_connection() as connection:
            connection.ensure_connection(max_retries=0, timeout=settings.REGISTRY_EXPORT_ENQUEUE_TIMEOUT)
    except BROKER_ERRORS:
        return False
    return True


def export_enqueue(*, export_id: int) -> bool:
    """Send the export to the task queue; False if the broker is unreachable (the sweeper retries later).

    One connection attempt with a short timeout and no publish retries, so that a dead broker
    costs a request a moment, not the minutes of Celery's default retry policy.
    """
    from research.tasks import run_export

    ResearchExport.objects.filter(pk=export_id).update(enqueued_at=timezone.now())
    if run_export.app.conf.task_always_eager:
        run_export.apply_async(args=[export_id])  # runs here and now (`make run` without a broker)
        return True
    try:
        with _task_queue_connection() as connection:
            connection.ensure_connection(max_retries=0, timeout=settings.REGISTRY_EXPORT_ENQUEUE_TIMEOUT)
            run_export.apply_async(args=[export_id], connection=connection, retry=False)
    except BROKER_ERRORS as error:
        # Not sent: forget the timestamp, so the sweeper sends it as soon as the broker is back.
        ResearchExport.objects.filter(pk=export_id).update(enqueued_at=None)
        logger.warning("Export #%s is recorded but the task queue is unreachable (%s)", export_id, type(error).__name__)
        return False
    return True


def export_accepted_message(export: ResearchExport, *, queue_reachable: bool) -> str:
    if queue_reachable:
        return f"Export #{export.pk} is queued. Follow its status and progress at this export's URL."
    return (
        f"Export #{export.pk} is recorded, but the task queue is unavailable right now. It will be picked up "
        "automatically when the queue is back; there is no need to send the request again."
    )


def exports_requeue_stale(*, now: dt.datetime | None = None) -> list[int]:
    """Send again exports that waited too long: queued ones, and running ones whose worker is gone.

    A running export whose build lock nobody holds lost its worker (killed, or its connection
    dropped). Sending one twice is harmless: the claim and the lock let only one delivery build.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(minutes=settings.REGISTRY_EXPORT_REQUEUE_MINUTES)
    stale = (
        ResearchExport.objects.filter(status__in=CLAIMABLE)
        .annotate(last_sent=Coalesce("enqueued_at", "created_at"))
        .filter(last_sent__lt=cutoff)
        .order_by("created_at", "id")
        .values_list("pk", "status")
    )
    sent = []
    for export_id, status in stale:
        if status == ExportStatus.RUNNING and export_build_lock_held(export_id):
            continue  # a live worker is building it
        if not export_enqueue(export_id=export_id):
            break  # the broker is down: the next sweep tries again
        sent.append(export_id)
    return sent


# --- Running an export ------------------------------------------------------------------------


def export_run(*, export_id: int) -> str:
    """Build and publish one export, at most once; returns what happened, for the task's result.

    Transient database and storage errors propagate, for the task to retry with backoff.
    """
    with export_build_lock(export_id) as locked:
        if not locked:
            return "busy"  # another delivery of the same export is building it right now
        attempt = _export_claim(export_id)
        if attempt is None:
            return "already finished"
        try:
            return _export_build(export_id, attempt)
        except _ClaimLost:
            return "superseded"


@transaction.atomic
def _export_claim(export_id: int) -> int | None:
    """Mark the export running and return this attempt's number, or None if it needs no work."""
    export = ResearchExport.objects.select_for_update().filter(pk=export_id).first()
    if export is None or export.status not in CLAIMABLE:
        return None
    if export.attempts >= settings.REGISTRY_EXPORT_MAX_ATTEMPTS:
        # Each attempt died without finishing (killed by the hard time limit or out of memory,
        # say): building it again would only die again.
        export.status = ExportStatus.FAILED
        export.reason = (
            f"The export was started {export.attempts} times and never finished. Narrow the cohort and request "
            "it again, or contact the registry team."
        )
        export.step = ""
        export.finished_at = timezone.now()
        export.save(update_fields=["status", "reason", "step", "finished_at"])
        return None
    export.status = ExportStatus.RUNNING
    export.attempts += 1
    export.started_at = timezone.now()
    export.progress_percent = 0
    export.step = "Starting"
    export.reason = ""
    export.save(update_fields=["status", "attempts", "started_at", "progress_percent", "step", "reason"])
    return export.attempts


def _progress_recorder(export_id: int, attempt: int) -> package.Progress:
    """A progress callback that writes only while this attempt still owns the export.

    The builder reads the database inside one long transaction, and progress written on that
    connection would stay invisible until it ends. So on PostgreSQL, when the run is not already
    inside a caller's transaction (a worker's never is), each step is written on a short connection
    of its own and is seen at once. A side connection cannot see uncommitted rows, hence the
    exception for callers inside a transaction.
    """
    last: list = [None]
    side_connection = connection.vendor == "postgresql" and not connection.in_atomic_block

    def record(percent: int, step: str) -> None:
        value = (max(0, min(100, int(percent))), str(step)[:80])
        if value == last[0]:
            return
        last[0] = value
        write = _progress_write_aside if side_connection else _progress_write
        if not write(export_id, attempt, *value):
            raise _ClaimLost()

    return record


def _progress_write(export_id: int, attempt: int, percent: int, step: str) -> bool:
    return bool(
        ResearchExport.objects.filter(pk=export_id, status=ExportStatus.RUNNING, attempts=attempt).update(
            progress_percent=percent, step=step
        )
    )


def _progress_write_aside(export_id: int, attempt: int, percent: int, step: str) -> bool:
    """`_progress_write` on a connection of its own, committed at once."""
    side = connections.create_connection(DEFAULT_DB_ALIAS)
    table = side.ops.quote_name(ResearchExport._meta.db_table)
    try:
        with side.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET progress_percent = %s, step = %s WHERE id = %s AND status = %s AND attempts = %s",
                [percent, step, export_id, ExportStatus.RUNNING.value, attempt],
            )
            return cursor.rowcount > 0
    finally:
        side.close()


def _scaled(progress: package.Progress, share: tuple[int, int]) -> package.Progress:
    """The builder counts 0-100 for its own work, which is one stretch of the whole export's."""
    low, high = share
    return lambda percent, step: progress(low + round((high - low) * max(0, min(100, percent)) / 100), step)


def _export_build(export_id: int, attempt: int) -> str:
    export = ResearchExport.objects.select_related("project").get(pk=export_id)
    project = export.project
    progress = _progress_recorder(export_id, attempt)
    try:
        today = timezone.localdate()
        if not project_open_on(project, today):
            raise ExportFailed(_agreement_ended_message(project))
        progress(1, "Selecting the cohort")
        patient_ids = cohort_patient_ids(export.cohort, on=today)
        _check_cohort_size(project, patient_ids)
        refusal = _difference_refusal(project, export_id, patient_ids)
        if refusal:
            raise ExportRefused(refusal)
        name = package_name(export_id)
        with tempfile.TemporaryDirectory(prefix=f"gne-export-{export_id}-") as workdir:
            result = package.build_package(
                _package_request(export, patient_ids), Path(workdir), _scaled(progress, BUILD_SHARE)
            )
            progress(96, "Publishing the package")
            size, sha256 = result.path.stat().st_size, file_sha256(result.path)
            package_publish(result.path, name)
        return _export_finish_done(export, attempt, name, size, sha256, result, patient_ids)
    except ExportRefused as refusal:
        return _export_finish(export_id, attempt, ExportStatus.REFUSED, refusal.reason)
    except ExportFailed as failure:
        return _export_finish(export_id, attempt, ExportStatus.FAILED, failure.reason)
    except (_ClaimLost, *TRANSIENT_ERRORS):
        raise
    except SoftTimeLimitExceeded:
        minutes = settings.REGISTRY_EXPORT_SOFT_TIME_LIMIT // 60
        reason = (
            f"The export took longer than {minutes} minutes and was stopped. Narrow the cohort (fewer patients or a "
            "shorter assessment period) and request it again, or ask the registry team to raise the limit."
        )
        return _export_finish(export_id, attempt, ExportStatus.FAILED, reason)
    except Exception:
        # Details go to the log only: an error message could quote data a researcher must not see.
        logger.exception("Export #%s failed unexpectedly", export_id)
        reason = (
            f"The export could not be built because of an error in the registry (reference: export #{export_id}). "
            "The registry team has the details; request it again later or contact them."
        )
        return _export_finish(export_id, attempt, ExportStatus.FAILED, reason)


def _check_cohort_size(project: ResearchProject, patient_ids: list[int]) -> None:
    if len(patient_ids) < project.minimum_cohort:
        raise ExportRefused(f"cohort of {_patients(len(patient_ids))} is below the minimum of {project.minimum_cohort}")


def _difference_refusal(project: ResearchProject, export_id: int, patient_ids: list[int]) -> str:
    """Refuse a cohort that differs from an earlier published export of the project by 1 to k-1 patients.

    Otherwise the two packages, compared, would single out those few patients (a difference attack).
    """
    cohort = set(patient_ids)
    earlier: dict[int, set[int]] = {}
    rows = ExportedPatient.objects.filter(export__project=project, export__status=ExportStatus.DONE).exclude(
        export_id=export_id
    )
    for earlier_id, patient_id in rows.values_list("export_id", "patient_id").order_by("export_id"):
        earlier.setdefault(earlier_id, set()).add(patient_id)
    for earlier_id, exported in earlier.items():
        difference = len(cohort ^ exported)
        if 0 < difference < project.k_anonymity:
            return f"differs from export #{earlier_id} by {_patients(difference)}"
    return ""


def _package_request(export: ResearchExport, patient_ids: list[int]) -> package.PackageRequest:
    project, cohort = export.project, export.cohort
    return package.PackageRequest(
        export_id=export.pk,
        patient_ids=tuple(patient_ids),
        key=bytes(project.pseudonym_key),
        k=project.k_anonymity,
        max_suppression=settings.REGISTRY_EXPORT_MAX_SUPPRESSION,
        small_cell=settings.REGISTRY_EXPORT_SMALL_CELL,
        include_ancestry=export.include_ancestry,
        assessed_from=dt.date.fromisoformat(cohort["assessed_from"]) if cohort.get("assessed_from") else None,
        assessed_to=dt.date.fromisoformat(cohort["assessed_to"]) if cohort.get("assessed_to") else None,
        description=_package_description(export),
    )


def _package_description(export: ResearchExport) -> tuple[tuple[str, str], ...]:
    """README lines: the project and the cohort definition, nothing about any one person.

    No calendar date, not even the agreement's end or the requested assessment period: a package
    holds none at all (docs/research-exports.md, "Ages"), which makes that easy to check.
    """
    project = export.project
    lines = [
        ("Export", f"#{export.pk}"),
        ("Research project", project.title),
        ("Approved by", f"{project.approving_body}, reference {project.approval_reference}"),
    ]
    for name, value in export.cohort.items():
        if name in ("assessed_from", "assessed_to") and value:
            lines.append((f"Cohort filter: {name}", "as in the request (dates are not written into packages)"))
        elif value not in (None, "", []):
            shown = ", ".join(str(item) for item in value) if isinstance(value, list) else str(value)
            lines.append((f"Cohort filter: {name}", shown))
    return tuple(lines)


def _export_finish(export_id: int, attempt: int, status: str, reason: str) -> str:
    """Record a refusal or failure, if this attempt still owns the export."""
    updated = ResearchExport.objects.filter(pk=export_id, status=ExportStatus.RUNNING, attempts=attempt).update(
        status=status, reason=reason, step="", finished_at=timezone.now()
    )
    return status if updated else "superseded"


def _export_finish_done(export, attempt, name, size, sha256, result, patient_ids) -> str:
    """Mark the export done and record who is in it, unless an export published meanwhile forbids it."""
    export_id = export.pk
    with transaction.atomic():
        # One project's exports finish one at a time, so two built side by side cannot both pass
        # the difference check against each other.
        project = ResearchProject.objects.select_for_update().get(pk=export.project_id)
        refusal = _difference_refusal(project, export_id, patient_ids)
        updated = ResearchExport.objects.filter(pk=export_id, status=ExportStatus.RUNNING, attempts=attempt)
        if refusal:
            done = updated.update(status=ExportStatus.REFUSED, reason=refusal, step="", finished_at=timezone.now())
        else:
            done = updated.update(
                status=ExportStatus.DONE,
                progress_percent=100,
                step="Done",
                file_name=name,
                size_bytes=size,
                sha256=sha256,
                patient_count=result.patient_count,
                achieved_k=result.achieved_k,
                finished_at=timezone.now(),
            )
            if done:
                ExportedPatient.objects.filter(export_id=export_id).delete()
                ExportedPatient.objects.bulk_create(
                    ExportedPatient(export_id=export_id, patient_id=patient_id) for patient_id in patient_ids
                )
    if refusal and done:
        package_delete(name)
        return ExportStatus.REFUSED
    return ExportStatus.DONE if done else "superseded"


def export_fail(*, export_id: int, reason: str) -> bool:
    """Give up on an export that is not finished (the task ran out of retries)."""
    return bool(
        ResearchExport.objects.filter(pk=export_id, status__in=CLAIMABLE).update(
            status=ExportStatus.FAILED, reason=reason, step="", finished_at=timezone.now()
        )
    )


# --- Downloading ------------------------------------------------------------------------------


def _download_signer(user) -> signing.TimestampSigner:
    # The user is part of the salt, so a link signed for one account is invalid for every other.
    return signing.TimestampSigner(salt=f"{DOWNLOAD_SALT}:{user.pk}")


def export_download_link(*, export: ResearchExport, user) -> str | None:
    """A signed link to the package, for the user who requested it, once it is done."""
    if export.status != ExportStatus.DONE or export.requested_by_id != user.pk:
        return None
    token = _download_signer(user).sign(str(export.pk))
    return f"{reverse('research-export-download', args=[export.pk])}?{urlencode({'token': token})}"


def export_download_open(*, export_id: int, user, token: str):
    """Check a download link and record the download; returns (export, open binary file).

    Raises PermissionDenied with the reason (expired, someone else's link, no longer a member,
    agreement ended) and ResearchExport.DoesNotExist when there is no published package.
    """
    max_age = dt.timedelta(days=settings.REGISTRY_EXPORT_LINK_DAYS)
    try:
        signed_id = _download_signer(user).unsign(token or "", max_age=max_age)
    except signing.SignatureExpired:
        raise PermissionDenied(
            f"This download link has expired (links last {settings.REGISTRY_EXPORT_LINK_DAYS} days); "
            "open the export again to get a new one."
        ) from None
    except signing.BadSignature:
        raise PermissionDenied("This download link is not valid for your account.") from None
    if signed_id != str(export_id):
        raise PermissionDenied("This download link is not valid for your account.")
    export = ResearchExport.objects.select_related("project").get(pk=export_id, status=ExportStatus.DONE)
    if export.requested_by_id != user.pk:
        raise PermissionDenied("This download link is not valid for your account.")
    _check_may_use(export.project, user)
    if not project_open_on(export.project, timezone.localdate()):
        raise PermissionDenied(_agreement_ended_message(export.project))
    handle = package_open(export.file_name)
    ExportDownload.objects.create(export=export, user=user)
    audit_log(EventKind.EXPORT_DOWNLOADED, user=user, target=export, detail={"project": export.project_id})
    return export, handle
