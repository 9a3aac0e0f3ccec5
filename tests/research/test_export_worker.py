"""Exports through a real Celery worker on Redis, with the real package builder.

Each test starts `celery -A config.celery_app worker --pool=prefork --concurrency=1` as a
subprocess against this test run's database (transactional_db, so the worker sees committed rows)
and the suite's Redis broker, with in-process (eager) tasks off on both sides.
"""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import bagit
import frictionless
import pytest
import redis
from django.conf import settings
from django.db import connection

from research import services
from research.models import ExportDownload, ExportedPatient, ResearchExport
from research.tasks import run_export
from tests.conftest import _client_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]
FINISHED = ("done", "failed", "refused")
# Unacknowledged messages come back after this many seconds (the kill test waits on it).
VISIBILITY_TIMEOUT = 4


class Worker:
    """One Celery worker process (and its pool child), in a process group of its own."""

    def __init__(self, env: dict, log: Path):
        self.env, self.log = env, log
        self.process = None

    def start(self, **extra_env) -> "Worker":
        command = [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "config.celery_app",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--loglevel=INFO",
            f"--hostname=export-test-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                env={**self.env, **extra_env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # killpg reaches the pool child too
            )
        return self

    def kill(self) -> None:
        """SIGKILL, the whole group: no shutdown, no acknowledgement, connections just drop."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def broker():
    """The suite's Redis broker, with no messages left over from an earlier (killed) run."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete("celery", "unacked", "unacked_index", "unacked_mutex")
    yield client
    client.delete("celery", "unacked", "unacked_index", "unacked_mutex")
    client.close()


@pytest.fixture
def worker_env(transactional_db, export_storage, broker, monkeypatch, tmp_path):
    """Environment for worker processes, and the test process switched to the real broker."""
    monkeypatch.setitem(run_export.app.conf, "task_always_eager", False)
    db = connection.settings_dict
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{host}/{db['NAME']}",  # this run's test database
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "CELERY_BROKER_RESTORE_INTERVAL": "1",
        "CELERY_BROKER_RESTORE_THROTTLE": "1",
        "REGISTRY_TEST_EAGER": "0",
        "EXPORTS_ROOT": str(export_storage),
        "PYTHONPATH": str(REPO),
    }


@pytest.fixture
def workers(worker_env, tmp_path):
    """Start workers with `workers.start()`; all are stopped at the end. The log is in `workers.log`."""
    started = []

    class Workers:
        log = tmp_path / "worker.log"

        def start(self, **extra_env) -> Worker:
            worker = Worker(worker_env, self.log).start(**extra_env)
            started.append(worker)
            return worker

    yield Workers()
    for worker in started:
        worker.stop()


@pytest.fixture
def cohort(export_make_patient):
    """Six patients alike in every quasi-identifier, so that the package meets k = 3 unchanged."""
    return [export_make_patient(birth=dt.date(1980, 6, 15) + dt.timedelta(days=n)) for n in range(6)]


def _poll(client, export_id: int, *, timeout: float, log: Path, until=FINISHED) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/v1/research/exports/{export_id}/").json()
        if body["status"] in until:
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"export #{export_id} still {body['status']} after {timeout}s; worker log:\n{log.read_text()}")
        time.sleep(0.3)


def _request_export(client, project) -> dict:
    response = client.post("/api/v1/research/exports/", {"project": project.pk, "cohort": {}}, format="json")
    assert response.status_code == 202, response.content
    return response.json()


def _check_package(data: bytes, tmp_path: Path) -> None:
    """The zip is a valid BagIt bag holding a valid Frictionless data package."""
    path = tmp_path / "downloaded.zip"
    path.write_bytes(data)
    bag_dir = tmp_path / "bag"
    with zipfile.ZipFile(path) as archive:
        archive.extractall(bag_dir)
    bag = bagit.Bag(str(bag_dir))
    bag.validate()  # raises on any missing or altered file
    report = frictionless.validate(str(bag_dir / "data" / "datapackage.json"))
    assert report.valid, report.flatten(["type", "note"])


def test_an_export_runs_on_a_real_worker_and_downloads_through_its_signed_link(
    workers, export_project, researcher_user, staff_user, cohort, export_storage, tmp_path
):
    workers.start()
    researcher = _client_for(researcher_user)

    accepted = _request_export(researcher, export_project)
    assert accepted["status"] == "queued"
    assert "is queued" in accepted["message"]

    done = _poll(researcher, accepted["id"], timeout=90, log=workers.log)
    assert done["status"] == "done", done["reason"]
    assert (done["patient_count"], done["progress_percent"]) == (6, 100)
    assert done["download_url"]

    response = researcher.get(done["download_url"])
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    assert len(data) == done["size_bytes"]
    _check_package(data, tmp_path)

    # Exactly one package, as recorded, and the download in the staff view.
    assert [path.name for path in export_storage.iterdir()] == [f"gne-registry-export-{done['id']}.zip"]
    assert ExportedPatient.objects.filter(export_id=done["id"]).count() == 6
    seen_by_staff = _client_for(staff_user).get(f"/api/v1/research/exports/{done['id']}/").json()
    assert [row["user"] for row in seen_by_staff["downloads"]] == [researcher_user.username]
    assert ExportDownload.objects.get().user == researcher_user


def test_a_worker_killed_mid_build_leaves_the_job_to_the_next_one_with_one_package(
    workers, export_project, researcher_user, cohort, export_storage, tmp_path
):
    marker = tmp_path / "paused"
    # This worker stops at the builder's first progress report (config/settings/test.py).
    first = workers.start(REGISTRY_TEST_PAUSE_BUILD=str(marker), REGISTRY_TEST_PAUSE_SECONDS="300")
    researcher = _client_for(researcher_user)
    export_id = _request_export(researcher, export_project)["id"]

    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline, workers.log.read_text()
        time.sleep(0.2)
    running = researcher.get(f"/api/v1/research/exports/{export_id}/").json()
    assert running["status"] == "running"
    assert 0 < running["progress_percent"] < 100

    first.kill()
    workers.start()  # a new worker; the broker gives it the unacknowledged message

    done = _poll(researcher, export_id, timeout=120, log=workers.log)
    assert done["status"] == "done", done["reason"]
    export = ResearchExport.objects.get(pk=export_id)
    assert export.attempts == 2
    assert [path.name for path in export_storage.iterdir()] == [f"gne-registry-export-{export_id}.zip"]
    assert ExportedPatient.objects.filter(export_id=export_id).count() == 6
    response = researcher.get(done["download_url"])
    _check_package(b"".join(response.streaming_content), tmp_path)


def test_a_request_made_while_redis_is_down_is_kept_and_done_once_it_is_back(
    workers, export_project, researcher_user, cohort, monkeypatch, settings
):
    researcher = _client_for(researcher_user)
    monkeypatch.setenv("CELERY_BROKER_WRITE_URL", "redis://127.0.0.1:1/0")  # a closed port

    accepted = _request_export(researcher, export_project)

    assert "unavailable" in accepted["message"]
    export = ResearchExport.objects.get(pk=accepted["id"])
    assert (export.status, export.enqueued_at) == ("queued", None)

    # The broker is back, a worker runs, and the periodic sweep sends what was kept.
    monkeypatch.delenv("CELERY_BROKER_WRITE_URL")
    workers.start()
    settings.REGISTRY_EXPORT_REQUEUE_MINUTES = 0
    assert services.exports_requeue_stale() == [export.pk]

    done = _poll(researcher, export.pk, timeout=90, log=workers.log)
    assert done["status"] == "done", done["reason"]
