"""Who may do what on every research endpoint, and who may use a download link."""

import pytest
from django.core import signing

from research import services
from research.models import ExportDownload, ResearchExport, ResearchProject
from tests.conftest import _client_for

pytestmark = pytest.mark.django_db

ROLES = ["staff", "patient", "member", "outsider", "anonymous"]


@pytest.fixture
def clients(persona_clients, export_other_researcher):
    return {
        "staff": persona_clients["staff"],
        "patient": persona_clients["patient"],
        "member": persona_clients["researcher"],
        "outsider": _client_for(export_other_researcher),
        "anonymous": persona_clients["anonymous"],
    }


@pytest.fixture
def done_export(export_project, researcher_user, export_make_patient, export_fake_builder, export_storage):
    for _ in range(4):
        export_make_patient()
    export = services.export_request(project=export_project, requested_by=researcher_user, cohort={})
    assert services.export_run(export_id=export.pk) == "done"
    export.refresh_from_db()
    return export


EXPECTED = {
    # (method, path): {role: status}
    ("get", "projects/"): {"staff": 200, "patient": 403, "member": 200, "outsider": 200, "anonymous": 401},
    ("get", "projects/{project}/"): {"staff": 200, "patient": 403, "member": 200, "outsider": 404, "anonymous": 401},
    ("post", "projects/"): {"staff": 400, "patient": 403, "member": 403, "outsider": 403, "anonymous": 401},
    ("patch", "projects/{project}/"): {"staff": 200, "patient": 403, "member": 403, "outsider": 403, "anonymous": 401},
    ("get", "exports/"): {"staff": 200, "patient": 403, "member": 200, "outsider": 200, "anonymous": 401},
    ("get", "exports/{export}/"): {"staff": 200, "patient": 403, "member": 200, "outsider": 404, "anonymous": 401},
    ("post", "exports/"): {"staff": 202, "patient": 403, "member": 202, "outsider": 403, "anonymous": 401},
    ("get", "exports/{export}/download/?token=x"): {
        "staff": 403,
        "patient": 403,
        "member": 403,
        "outsider": 403,
        "anonymous": 401,
    },
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), EXPECTED)
def test_every_research_endpoint_for_every_role(clients, done_export, method, path, role):
    url = "/api/v1/research/" + path.format(project=done_export.project_id, export=done_export.pk)
    body = {"project": done_export.project_id, "cohort": {}} if path == "exports/" else {}
    before = ResearchExport.objects.count()

    response = getattr(clients[role], method)(url, body, format="json") if method != "get" else clients[role].get(url)

    expected = EXPECTED[(method, path)][role]
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response.json()["error"]["status"] == expected
    assert ResearchExport.objects.count() == before + (1 if expected == 202 else 0)


def test_lists_show_only_the_projects_and_exports_a_researcher_belongs_to(
    clients, done_export, export_other_researcher
):
    assert clients["outsider"].get("/api/v1/research/projects/").json()["results"] == []
    assert clients["outsider"].get("/api/v1/research/exports/").json()["results"] == []
    member_rows = clients["member"].get("/api/v1/research/exports/").json()["results"]
    assert [row["id"] for row in member_rows] == [done_export.pk]


def test_the_requester_downloads_through_the_link_and_it_is_recorded(clients, done_export, export_storage):
    link = clients["member"].get(f"/api/v1/research/exports/{done_export.pk}/").json()["download_url"]

    response = clients["member"].get(link)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert f'filename="gne-registry-export-{done_export.pk}.zip"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == (export_storage / done_export.file_name).read_bytes()
    assert ExportDownload.objects.filter(export=done_export).count() == 1


def test_only_the_requester_gets_a_link(clients, done_export, researcher_user, export_other_researcher):
    done_export.project.members.add(export_other_researcher)

    for role in ("staff", "outsider"):  # staff see it, and the other member now does too: no link for them
        body = clients[role].get(f"/api/v1/research/exports/{done_export.pk}/").json()
        assert body["download_url"] is None


def test_another_researchers_link_is_refused(clients, done_export, export_other_researcher):
    done_export.project.members.add(export_other_researcher)
    link = clients["member"].get(f"/api/v1/research/exports/{done_export.pk}/").json()["download_url"]

    response = clients["outsider"].get(link)

    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This download link is not valid for your account."
    assert not ExportDownload.objects.exists()


def test_an_expired_link_is_refused(clients, done_export, researcher_user, settings, monkeypatch):
    link = clients["member"].get(f"/api/v1/research/exports/{done_export.pk}/").json()["download_url"]
    later = signing.time.time() + settings.REGISTRY_EXPORT_LINK_DAYS * 86400 + 60
    monkeypatch.setattr(signing.time, "time", lambda: later)

    response = clients["member"].get(link)

    assert response.status_code == 403
    assert "expired" in response.json()["error"]["message"]
    assert not ExportDownload.objects.exists()


def test_a_link_for_one_export_does_not_open_another(clients, done_export, export_fake_builder):
    other = services.export_request(project=done_export.project, requested_by=done_export.requested_by, cohort={})
    services.export_run(export_id=other.pk)
    link = clients["member"].get(f"/api/v1/research/exports/{done_export.pk}/").json()["download_url"]
    token = link.split("token=")[1]

    response = clients["member"].get(f"/api/v1/research/exports/{other.pk}/download/?token={token}")

    assert response.status_code == 403


def test_a_link_stops_working_when_membership_ends(clients, done_export, researcher_user):
    link = clients["member"].get(f"/api/v1/research/exports/{done_export.pk}/").json()["download_url"]
    done_export.project.members.remove(researcher_user)

    response = clients["member"].get(link)

    assert response.status_code == 403
    assert "not a member" in response.json()["error"]["message"]
    assert clients["member"].get(f"/api/v1/research/exports/{done_export.pk}/").status_code == 404


def test_a_tampered_or_missing_token_is_refused(clients, done_export):
    link = clients["member"].get(f"/api/v1/research/exports/{done_export.pk}/").json()["download_url"]

    assert clients["member"].get(link[:-2] + "xx").status_code == 403
    assert clients["member"].get(f"/api/v1/research/exports/{done_export.pk}/download/").status_code == 403


def test_no_link_before_the_export_is_done(clients, export_project, researcher_user):
    export = services.export_request(project=export_project, requested_by=researcher_user, cohort={})

    assert clients["member"].get(f"/api/v1/research/exports/{export.pk}/").json()["download_url"] is None


@pytest.fixture
def admin_browser(client, staff_user):
    staff_user.is_staff = True
    staff_user.save()
    client.force_login(staff_user)
    return client


def test_the_admin_never_shows_the_pseudonym_key(admin_browser, staff_user, done_export):
    project = done_export.project
    key = bytes(project.pseudonym_key)
    staff_user.is_superuser = True
    staff_user.save()

    for url in (
        "/admin/research/researchproject/",
        f"/admin/research/researchproject/{project.pk}/change/",
        f"/admin/research/researchexport/{done_export.pk}/change/",
    ):
        page = admin_browser.get(url)
        assert page.status_code == 200
        html = page.content
        assert b"pseudonym" not in html.lower() and key.hex().encode() not in html


def test_only_superusers_set_up_projects_in_the_admin_and_exports_are_read_only(
    admin_browser, staff_user, researcher_user, done_export
):
    assert admin_browser.get("/admin/research/researchproject/add/").status_code == 403
    page = admin_browser.get(f"/admin/research/researchexport/{done_export.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content

    staff_user.is_superuser = True
    staff_user.save()
    response = admin_browser.post(
        "/admin/research/researchproject/add/",
        {
            "title": "Set up in the admin",
            "approving_body": "Committee",
            "approval_reference": "A-1",
            "data_use_agreement_ends": "2099-01-01",
            "members": [researcher_user.pk],
            "k_anonymity": 2,
            "minimum_cohort": 1,
        },
    )
    assert response.status_code == 200  # the form again, with the services' message
    assert b"cannot be smaller than k" in response.content

    response = admin_browser.post(
        "/admin/research/researchproject/add/",
        {
            "title": "Set up in the admin",
            "approving_body": "Committee",
            "approval_reference": "A-1",
            "data_use_agreement_ends": "2099-01-01",
            "members": [researcher_user.pk],
            "k_anonymity": 3,
            "minimum_cohort": 11,
        },
    )
    assert response.status_code == 302
    project = ResearchProject.objects.get(title="Set up in the admin")
    assert list(project.members.all()) == [researcher_user]
    assert project.created_by == staff_user and len(bytes(project.pseudonym_key)) == 32
