"""The research API: payloads, validation errors, idempotent requests, the broker-down answer, query counts."""

import datetime as dt

import pytest

from research import services
from research.models import ExportDownload, ResearchExport, ResearchProject
from research.tasks import run_export

pytestmark = pytest.mark.django_db

PROJECT = {
    "title": "Falls in GNE myopathy",
    "approving_body": "Example data-access committee",
    "approval_reference": "DAC-42",
    "data_use_agreement_ends": (dt.date.today() + dt.timedelta(days=100)).isoformat(),
    "members": ["researcher.rita"],
    "k_anonymity": 5,
    "minimum_cohort": 11,
}


def test_staff_create_a_project_with_its_own_key_that_is_never_shown(staff_client, researcher_user):
    response = staff_client.post("/api/v1/research/projects/", PROJECT, format="json")

    assert response.status_code == 201
    body = response.json()
    project = ResearchProject.objects.get(pk=body["id"])
    assert body == {
        "id": project.pk,
        "title": "Falls in GNE myopathy",
        "approving_body": "Example data-access committee",
        "approval_reference": "DAC-42",
        "data_use_agreement_ends": PROJECT["data_use_agreement_ends"],
        "members": ["researcher.rita"],
        "k_anonymity": 5,
        "minimum_cohort": 11,
        "ancestry_allowed": False,
        "created_by": "staff.sam",
        "created_at": body["created_at"],
    }
    key = bytes(project.pseudonym_key)
    assert len(key) == 32
    other = staff_client.post("/api/v1/research/projects/", PROJECT | {"title": "Another"}, format="json").json()
    assert bytes(ResearchProject.objects.get(pk=other["id"]).pseudonym_key) != key
    for text in (response.content, staff_client.get(f"/api/v1/research/projects/{project.pk}/").content):
        assert b"pseudonym" not in text and key.hex().encode() not in text


def test_project_rules_answer_with_field_messages(staff_client, patient_user):
    response = staff_client.post(
        "/api/v1/research/projects/",
        PROJECT
        | {"members": ["patient.pat"], "k_anonymity": 11, "minimum_cohort": 5, "data_use_agreement_ends": "2001-01-01"},
        format="json",
    )

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"members", "minimum_cohort", "data_use_agreement_ends"}
    assert "patient.pat" in fields["members"][0]
    assert not ResearchProject.objects.exists()


def test_staff_change_a_project_and_its_members(staff_client, export_project, export_other_researcher):
    response = staff_client.patch(
        f"/api/v1/research/projects/{export_project.pk}/",
        {"members": ["researcher.otto"], "title": "Renamed"},
        format="json",
    )

    assert response.status_code == 200
    assert (response.json()["title"], response.json()["members"]) == ("Renamed", ["researcher.otto"])
    export_project.refresh_from_db()
    assert list(export_project.members.all()) == [export_other_researcher]


def _request(client, project, *, cohort=None, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    body = {"project": project.pk, "cohort": cohort or {}}
    return client.post("/api/v1/research/exports/", body, format="json", **headers)


def test_a_request_is_accepted_with_its_status_and_what_happens_next(researcher_client, export_project):
    response = _request(researcher_client, export_project, cohort={"variant": "M712T", "countries": ["il"]})

    assert response.status_code == 202
    body = response.json()
    export = ResearchExport.objects.get()
    assert body["message"] == f"Export #{export.pk} is queued. Follow its status and progress at this export's URL."
    assert body["cohort"]["variant"] == "p.(Met743Thr)" and body["cohort"]["countries"] == ["IL"]
    assert {key: body[key] for key in ("id", "project", "status", "progress_percent", "requested_by")} == {
        "id": export.pk,
        "project": export_project.pk,
        "status": "queued",
        "progress_percent": 0,
        "requested_by": "researcher.rita",
    }
    assert (body["download_url"], body["downloads"]) == (None, None)


def test_with_the_broker_down_the_request_is_kept_and_the_answer_says_so(
    researcher_client, export_project, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setitem(run_export.app.conf, "task_always_eager", False)
    monkeypatch.setenv("CELERY_BROKER_WRITE_URL", "redis://127.0.0.1:1/0")  # nothing listens there

    with django_capture_on_commit_callbacks(execute=True):
        response = _request(researcher_client, export_project)

    assert response.status_code == 202
    assert "task queue is unavailable" in response.json()["message"]
    assert "picked up automatically" in response.json()["message"]
    export = ResearchExport.objects.get()
    assert (export.status, export.enqueued_at) == ("queued", None)  # the sweeper sends it later


@pytest.mark.parametrize(
    ("cohort", "field"),
    [
        ({"variant": "Q999Z"}, "cohort.variant"),
        ({"onset_age_min": 40, "onset_age_max": 30}, "cohort.onset_age_max"),
        ({"countries": ["XY"]}, "cohort.countries"),
        ({"statuses": ["withdrawn"]}, "cohort.statuses"),
    ],
)
def test_bad_cohorts_get_400_with_the_field(researcher_client, export_project, cohort, field):
    response = _request(researcher_client, export_project, cohort=cohort)

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]
    assert not ResearchExport.objects.exists()


def test_an_ended_agreement_gets_400_saying_so(researcher_client, export_project):
    export_project.data_use_agreement_ends = dt.date.today() - dt.timedelta(days=2)
    export_project.save()

    response = _request(researcher_client, export_project)

    assert response.status_code == 400
    assert "data-use agreement of this project ended" in response.json()["error"]["fields"]["project"][0]


def test_a_non_member_gets_403_with_the_reason(export_project, export_other_researcher):
    from tests.conftest import _client_for

    response = _request(_client_for(export_other_researcher), export_project)

    assert response.status_code == 403
    assert response.json()["error"]["message"] == f"You are not a member of research project {export_project.pk}."


def test_a_retried_request_with_the_same_idempotency_key_makes_one_export(researcher_client, export_project):
    first = _request(researcher_client, export_project, key="k-1")
    again = _request(researcher_client, export_project, key="k-1")
    other_body = _request(researcher_client, export_project, cohort={"countries": ["JP"]}, key="k-1")

    assert (first.status_code, again.status_code, other_body.status_code) == (202, 202, 422)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert ResearchExport.objects.count() == 1


@pytest.fixture
def finished(export_project, researcher_user, export_make_patient, export_fake_builder, export_storage):
    for _ in range(4):
        export_make_patient()
    export = services.export_request(project=export_project, requested_by=researcher_user, cohort={})
    services.export_run(export_id=export.pk)
    export.refresh_from_db()
    return export


def test_a_done_export_shows_its_package_and_staff_see_its_downloads(
    researcher_client, staff_client, finished, researcher_user
):
    body = researcher_client.get(f"/api/v1/research/exports/{finished.pk}/").json()

    assert {key: body[key] for key in ("status", "progress_percent", "size_bytes", "sha256", "patient_count")} == {
        "status": "done",
        "progress_percent": 100,
        "size_bytes": finished.size_bytes,
        "sha256": finished.sha256,
        "patient_count": 4,
    }
    assert body["download_url"].startswith(f"http://testserver/api/v1/research/exports/{finished.pk}/download/?token=")
    assert body["downloads"] is None  # researchers do not see who downloaded

    researcher_client.get(body["download_url"])
    staff_view = staff_client.get(f"/api/v1/research/exports/{finished.pk}/").json()
    download = ExportDownload.objects.get()
    assert staff_view["downloads"] == [
        {"user": "researcher.rita", "downloaded_at": download.downloaded_at.isoformat().replace("+00:00", "Z")}
    ]
    assert staff_view["download_url"] is None  # the link is the requester's only


def test_a_refused_export_gives_its_reason(researcher_client, export_project, researcher_user, export_make_patient):
    export_make_patient()
    export = services.export_request(project=export_project, requested_by=researcher_user, cohort={})
    services.export_run(export_id=export.pk)

    body = researcher_client.get(f"/api/v1/research/exports/{export.pk}/").json()

    assert (body["status"], body["reason"], body["download_url"]) == (
        "refused",
        "cohort of 1 patient is below the minimum of 4",
        None,
    )


def test_exports_filter_by_project_and_status(staff_client, finished, export_project, researcher_user):
    services.export_request(project=export_project, requested_by=researcher_user, cohort={})

    done = staff_client.get(f"/api/v1/research/exports/?project={export_project.pk}&status=done").json()["results"]
    queued = staff_client.get("/api/v1/research/exports/?status=queued").json()["results"]

    assert [row["id"] for row in done] == [finished.pk]
    assert len(queued) == 1 and queued[0]["status"] == "queued"


# --- Pinned query counts (docs/architecture.md, "Pinned query counts") ---------------------------


def _many_exports(project, user, count):
    ResearchExport.objects.bulk_create(ResearchExport(project=project, requested_by=user) for _ in range(count))


@pytest.mark.parametrize("page_size", [2, 20])
def test_export_list_queries_do_not_grow_with_the_page(
    staff_client, researcher_client, export_project, researcher_user, page_size, django_assert_num_queries
):
    _many_exports(export_project, researcher_user, 25)
    url = f"/api/v1/research/exports/?page_size={page_size}"
    # 1. the token with its user and roles; 2. the page of exports joined to their requester.
    with django_assert_num_queries(2):
        assert len(researcher_client.get(url).json()["results"]) == page_size
    # Staff: 3. who downloaded each export on the page, with their usernames, in one query.
    with django_assert_num_queries(3) as captured:
        assert len(staff_client.get(url).json()["results"]) == page_size
    assert "research_exportdownload" in captured.captured_queries[2]["sql"]


def test_export_detail_queries(researcher_client, finished, django_assert_num_queries):
    # 1. the token with its user and roles; 2. the export joined to its requester.
    with django_assert_num_queries(2):
        assert researcher_client.get(f"/api/v1/research/exports/{finished.pk}/").status_code == 200


@pytest.mark.parametrize("count", [2, 12])
def test_project_list_queries_do_not_grow_with_the_page(staff_client, staff_user, count, django_assert_num_queries):
    for number in range(count):
        services.project_create(
            data=PROJECT | {"title": f"Project {number}", "data_use_agreement_ends": dt.date.today()},
            members=[],
            created_by=staff_user,
        )
    # 1. the token with its user and roles; 2. the projects joined to their creator; 3. their members.
    with django_assert_num_queries(3):
        assert len(staff_client.get("/api/v1/research/projects/").json()["results"]) == count
