"""research.services: requesting, running (claim, lock, refusals, publish, retry) and sweeping exports."""

import datetime as dt
import hashlib
import re
import zipfile

import psycopg2
import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.storage import InMemoryStorage
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections, transaction
from django.utils import timezone

from registry.errors import ValidationError
from research import package, services
from research.errors import ExportRefused
from research.locks import LOCK_NAMESPACE, export_build_lock_held
from research.models import ExportedPatient, ResearchExport
from research.storage import package_name, package_publish
from research.tasks import GAVE_UP_REASON, retry_delay, run_export

pytestmark = pytest.mark.django_db


@pytest.fixture
def cohort(export_make_patient):
    """Five consenting patients, and one who withdrew consent."""
    patients = [export_make_patient() for _ in range(5)]
    export_make_patient(consent_until=dt.date(2021, 1, 1))
    return patients


def _request(project, user, **cohort) -> ResearchExport:
    return services.export_request(project=project, requested_by=user, cohort=cohort)


def _exported_ids(export) -> set[int]:
    return set(ExportedPatient.objects.filter(export=export).values_list("patient_id", flat=True))


# --- Requesting -------------------------------------------------------------------------------


def test_a_member_request_is_recorded_queued_and_sent_after_commit(
    export_project, researcher_user, cohort, export_fake_builder, export_storage, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        export = _request(export_project, researcher_user, variant="M712T")

    export.refresh_from_db()
    assert (export.status, export.cohort["variant"], export.requested_by) == (
        "queued",
        "p.(Met743Thr)",
        researcher_user,
    )
    assert export_fake_builder == []  # nothing runs before the transaction commits
    assert len(callbacks) == 1

    callbacks[0]()  # the commit: in-process (eager) Celery runs it here, as on `make run`

    export.refresh_from_db()
    assert export.status == "done"
    assert export.enqueued_at is not None


def test_non_members_may_not_request(export_project, export_other_researcher, patient_user):
    for user in (export_other_researcher, patient_user):
        with pytest.raises(PermissionDenied):
            _request(export_project, user)
    assert not ResearchExport.objects.exists()


def test_staff_may_request_for_any_project(export_project, staff_user):
    assert _request(export_project, staff_user).status == "queued"


def test_no_request_after_the_data_use_agreement_ended(export_project, researcher_user):
    export_project.data_use_agreement_ends = timezone.localdate() - dt.timedelta(days=1)
    export_project.save()

    with pytest.raises(ValidationError) as raised:
        _request(export_project, researcher_user)

    assert "ended on" in raised.value.message_dict["project"][0]
    assert not ResearchExport.objects.exists()


def test_ancestry_only_when_the_project_allows_it(export_project, researcher_user):
    with pytest.raises(ValidationError) as raised:
        services.export_request(project=export_project, requested_by=researcher_user, cohort={}, include_ancestry=True)
    assert "ancestry" in raised.value.message_dict["include_ancestry"][0]


def test_a_bad_cohort_is_refused_before_anything_is_stored(export_project, researcher_user):
    with pytest.raises(ValidationError) as raised:
        _request(export_project, researcher_user, onset_age_min=50, onset_age_max=20, countries=["ZZ"])
    assert set(raised.value.message_dict) == {"cohort.countries"}  # cross-field checks wait for valid fields
    assert not ResearchExport.objects.exists()


# --- Running ----------------------------------------------------------------------------------


def test_a_run_publishes_one_package_and_records_it(
    export_project, researcher_user, cohort, export_fake_builder, export_storage
):
    export = _request(export_project, researcher_user)
    progress_seen = []
    export_fake_builder.during_build = lambda request: progress_seen.append(
        ResearchExport.objects.values_list("status", "progress_percent", "step").get(pk=export.pk)
    )

    assert services.export_run(export_id=export.pk) == "done"

    export.refresh_from_db()
    published = export_storage / package_name(export.pk)
    data = published.read_bytes()
    assert export.status == "done"
    assert (export.file_name, export.size_bytes, export.sha256) == (
        package_name(export.pk),
        len(data),
        hashlib.sha256(data).hexdigest(),
    )
    assert (export.patient_count, export.attempts, export.progress_percent) == (5, 1, 100)
    assert export.started_at <= export.finished_at
    # The builder's 50% is the middle of its stretch of the bar, and its step is shown.
    assert progress_seen == [("running", 48, "writing the tables")]
    # Only consenting patients, sorted, with the project's key and thresholds.
    request = export_fake_builder[0]
    assert list(request.patient_ids) == sorted(patient.pk for patient in cohort)
    assert (request.key, request.k) == (bytes(export_project.pseudonym_key), 3)
    assert _exported_ids(export) == {patient.pk for patient in cohort}
    assert [path.name for path in export_storage.iterdir()] == [package_name(export.pk)]  # no temporary files


def test_a_finished_export_is_never_built_again(export_project, researcher_user, cohort, export_fake_builder):
    export = _request(export_project, researcher_user)
    for status in ("done", "failed", "refused"):
        ResearchExport.objects.filter(pk=export.pk).update(status=status)
        assert services.export_run(export_id=export.pk) == "already finished"
    assert export_fake_builder == []


def _other_session_holding_the_lock(export_id):
    """A second PostgreSQL session (another worker) that holds the export's build lock."""
    settings = connection.settings_dict
    other = psycopg2.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], port=settings["PORT"] or None
    )
    other.autocommit = True
    other.cursor().execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_NAMESPACE, export_id])
    return other


def test_a_second_delivery_backs_off_while_another_worker_builds(
    export_project, researcher_user, cohort, export_fake_builder
):
    export = _request(export_project, researcher_user)
    other = _other_session_holding_the_lock(export.pk)
    try:
        assert export_build_lock_held(export.pk)
        assert services.export_run(export_id=export.pk) == "busy"
    finally:
        other.close()  # the worker's connection ends: PostgreSQL drops its lock

    assert export_fake_builder == []
    export.refresh_from_db()
    assert (export.status, export.attempts) == ("queued", 0)
    assert not export_build_lock_held(export.pk)


def test_a_build_interrupted_after_publishing_is_redone_into_the_same_single_file(
    export_project, researcher_user, cohort, export_fake_builder, export_storage
):
    export = _request(export_project, researcher_user)
    # A worker claimed it, published a package, and died before recording it.
    ResearchExport.objects.filter(pk=export.pk).update(status="running", attempts=1, step="publishing")
    export_storage.mkdir(parents=True)
    (export_storage / package_name(export.pk)).write_bytes(b"left by the dead worker")

    assert services.export_run(export_id=export.pk) == "done"

    export.refresh_from_db()
    assert export.attempts == 2
    assert [path.name for path in export_storage.iterdir()] == [package_name(export.pk)]
    with zipfile.ZipFile(export_storage / package_name(export.pk)) as archive:
        assert archive.namelist() == ["data/patients.txt"]


def test_a_small_cohort_is_refused_with_its_size(export_project, researcher_user, export_make_patient, export_storage):
    for _ in range(3):
        export_make_patient()
    export = _request(export_project, researcher_user)

    assert services.export_run(export_id=export.pk) == "refused"

    export.refresh_from_db()
    assert (export.status, export.reason) == ("refused", "cohort of 3 patients is below the minimum of 4")
    assert not _exported_ids(export)
    assert not export_storage.exists() or not any(export_storage.iterdir())


def test_a_cohort_close_to_an_earlier_export_is_refused(
    export_project, researcher_user, cohort, export_make_patient, export_fake_builder
):
    first = _request(export_project, researcher_user)
    services.export_run(export_id=first.pk)
    # The same five patients again: nothing new is revealed.
    same = _request(export_project, researcher_user)
    assert services.export_run(export_id=same.pk) == "done"

    # One patient more (k is 3): comparing the two packages would single the newcomer out.
    newcomer = export_make_patient(country="JP")
    close = _request(export_project, researcher_user)
    assert services.export_run(export_id=close.pk) == "refused"
    close.refresh_from_db()
    assert close.reason == f"differs from export #{first.pk} by 1 patient"
    assert newcomer.pk not in _exported_ids(close)

    # Without the newcomer: identical to the first two, allowed.
    far = _request(export_project, researcher_user, countries=["IL"])
    assert services.export_run(export_id=far.pk) == "done"
    # With k or more newcomers the difference no longer singles anyone out.
    for _ in range(2):
        export_make_patient(country="JP")
    assert services.export_run(export_id=_request(export_project, researcher_user).pk) == "done"


def test_two_exports_built_side_by_side_cannot_both_be_published(
    export_project, researcher_user, cohort, export_make_patient, export_fake_builder, export_storage
):
    first = _request(export_project, researcher_user, countries=["IL"])
    export_make_patient(country="JP")
    second = _request(export_project, researcher_user)

    def finish_the_other_meanwhile(request):
        if request.export_id == second.pk:
            assert services.export_run(export_id=first.pk) == "done"

    export_fake_builder.during_build = finish_the_other_meanwhile

    # Both passed the early check (no export was published when they started); the second is
    # caught at the last one, and its package is withdrawn from storage.
    assert services.export_run(export_id=second.pk) == "refused"

    second.refresh_from_db()
    assert second.reason == f"differs from export #{first.pk} by 1 patient"
    assert [path.name for path in export_storage.iterdir()] == [package_name(first.pk)]


def test_a_de_identification_refusal_from_the_builder_is_recorded(
    export_project, researcher_user, cohort, export_fake_builder
):
    export_fake_builder.fail_with = ExportRefused("k-anonymity cannot be reached: 2 patients would be suppressed")
    export = _request(export_project, researcher_user)

    assert services.export_run(export_id=export.pk) == "refused"

    export.refresh_from_db()
    assert export.reason == "k-anonymity cannot be reached: 2 patients would be suppressed"


def test_an_unexpected_error_fails_without_showing_its_details(
    export_project, researcher_user, cohort, export_fake_builder, caplog
):
    export_fake_builder.fail_with = ValueError("could not read the date of birth of Zebulon Quarrington")
    export = _request(export_project, researcher_user)

    assert services.export_run(export_id=export.pk) == "failed"

    export.refresh_from_db()
    assert "Zebulon" not in export.reason
    assert f"export #{export.pk}" in export.reason
    assert "Zebulon" in caplog.text  # for the registry team, in the log


def test_an_agreement_that_ended_before_the_build_fails_it(
    export_project, researcher_user, cohort, export_fake_builder
):
    export = _request(export_project, researcher_user)
    export_project.data_use_agreement_ends = timezone.localdate() - dt.timedelta(days=1)
    export_project.save()

    assert services.export_run(export_id=export.pk) == "failed"

    export.refresh_from_db()
    assert "data-use agreement" in export.reason
    assert export_fake_builder == []


def test_an_export_whose_attempts_all_died_is_failed(export_project, researcher_user, settings, export_fake_builder):
    export = _request(export_project, researcher_user)
    ResearchExport.objects.filter(pk=export.pk).update(status="running", attempts=settings.REGISTRY_EXPORT_MAX_ATTEMPTS)

    assert services.export_run(export_id=export.pk) == "already finished"

    export.refresh_from_db()
    assert export.status == "failed"
    assert "never finished" in export.reason
    assert export_fake_builder == []


def test_a_transient_error_in_process_gives_up_at_once(export_project, researcher_user, cohort, export_fake_builder):
    # Without a worker (eager Celery, `make run`) there is nothing to retry later: fail with the reason.
    export_fake_builder.fail_with = OperationalError("the database went away")
    export = _request(export_project, researcher_user)

    assert run_export.apply(args=[export.pk]).get() == "failed"

    export.refresh_from_db()
    assert len(export_fake_builder) == 1
    assert (export.status, export.reason) == ("failed", GAVE_UP_REASON)


def test_retries_back_off_exponentially_up_to_a_cap(settings):
    settings.REGISTRY_EXPORT_RETRY_DELAY, settings.REGISTRY_EXPORT_RETRY_MAX_DELAY = 10, 100
    delays = [retry_delay(retries) for retries in range(6)]

    for retries, delay in enumerate(delays):
        expected = min(100, 10 * 2**retries)
        assert expected / 2 <= delay <= expected  # jitter keeps interrupted exports from returning together


def test_a_retry_after_a_transient_error_can_succeed(
    export_project, researcher_user, cohort, export_fake_builder, export_storage
):
    export = _request(export_project, researcher_user)
    export_fake_builder.fail_with = OSError("storage unavailable")

    with pytest.raises(OSError):
        services.export_run(export_id=export.pk)
    export_fake_builder.fail_with = None

    assert services.export_run(export_id=export.pk) == "done"
    export.refresh_from_db()
    assert export.attempts == 2


# --- Publishing -------------------------------------------------------------------------------


def test_publishing_to_an_object_store_replaces_the_earlier_object(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "exports": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    from django.core.files.storage import storages

    first, second = tmp_path / "first.zip", tmp_path / "second.zip"
    first.write_bytes(b"first build")
    second.write_bytes(b"second build")

    package_publish(first, "gne-registry-export-7.zip")
    package_publish(second, "gne-registry-export-7.zip")

    storage = storages["exports"]
    assert isinstance(storage, InMemoryStorage)
    assert storage.listdir("")[1] == ["gne-registry-export-7.zip"]
    with storage.open("gne-registry-export-7.zip") as handle:
        assert handle.read() == b"second build"


# --- Sweeping ---------------------------------------------------------------------------------


def test_the_sweeper_resends_what_waited_too_long_and_what_lost_its_worker(
    export_project, researcher_user, monkeypatch, settings
):
    sent = []
    monkeypatch.setattr(services, "export_enqueue", lambda export_id: sent.append(export_id) or True)
    old = timezone.now() - dt.timedelta(minutes=settings.REGISTRY_EXPORT_REQUEUE_MINUTES + 1)
    exports = {name: _request(export_project, researcher_user) for name in ("fresh", "never_sent", "sent_long_ago")}
    exports |= {name: _request(export_project, researcher_user) for name in ("orphaned", "building", "done")}
    ResearchExport.objects.filter(pk=exports["never_sent"].pk).update(created_at=old, enqueued_at=None)
    ResearchExport.objects.filter(pk=exports["sent_long_ago"].pk).update(created_at=old, enqueued_at=old)
    for name, status in (("orphaned", "running"), ("building", "running"), ("done", "done")):
        ResearchExport.objects.filter(pk=exports[name].pk).update(status=status, created_at=old, enqueued_at=old)
    holder = _other_session_holding_the_lock(exports["building"].pk)
    try:
        requeued = services.exports_requeue_stale()
    finally:
        holder.close()

    expected = [exports[name].pk for name in ("never_sent", "sent_long_ago", "orphaned")]
    assert sorted(requeued) == sorted(expected) == sorted(sent)


def test_enqueue_with_the_broker_down_keeps_the_export_for_the_sweeper(
    export_project, researcher_user, monkeypatch, settings
):
    monkeypatch.setitem(run_export.app.conf, "task_always_eager", False)
    monkeypatch.setenv("CELERY_BROKER_WRITE_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    export = _request(export_project, researcher_user)
    started = timezone.now()

    assert services.export_enqueue(export_id=export.pk) is False
    assert services.task_queue_reachable() is False

    assert (timezone.now() - started).total_seconds() < 2 * settings.REGISTRY_EXPORT_ENQUEUE_TIMEOUT
    export.refresh_from_db()
    assert (export.status, export.enqueued_at) == ("queued", None)


def test_the_readme_description_names_the_cohort_but_no_calendar_date(
    export_project, researcher_user, cohort, export_fake_builder, export_storage
):
    export = _request(
        export_project, researcher_user, assessed_from="2019-03-01", assessed_to="2030-01-31", countries=["IL"]
    )
    services.export_run(export_id=export.pk)

    lines = dict(export_fake_builder[0].description)
    assert lines["Research project"] == export_project.title
    assert lines["Cohort filter: countries"] == "IL"
    assert "as in the request" in lines["Cohort filter: assessed_from"]
    text = " ".join(f"{label} {value}" for label, value in export_fake_builder[0].description)
    assert not re.search(r"\d{4}-\d{2}-\d{2}|2019|2030", text)


@pytest.mark.django_db(transaction=True)
def test_progress_is_seen_at_once_while_the_builder_reads_in_its_own_transaction(
    export_project, researcher_user, cohort, export_storage, monkeypatch
):
    seen = []

    def build(request, workdir, progress):
        with transaction.atomic():  # as the real builder reads: one long transaction
            progress(50, "writing the tables")
            observer = connections.create_connection(DEFAULT_DB_ALIAS)
            try:
                with observer.cursor() as cursor:
                    cursor.execute(
                        "SELECT status, progress_percent, step FROM research_researchexport WHERE id = %s",
                        [request.export_id],
                    )
                    seen.append(cursor.fetchone())
            finally:
                observer.close()
        raise ExportRefused("stopped by the test")

    monkeypatch.setattr(package, "build_package", build)
    export = _request(export_project, researcher_user)  # runs in-process once committed

    assert seen == [("running", 48, "writing the tables")]
    export.refresh_from_db()
    assert (export.status, export.reason) == ("refused", "stopped by the test")
