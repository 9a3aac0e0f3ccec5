"""The server-rendered research pages: who may see them, the cohort form, the export list, and
query counts that do not grow with the number of rows."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from registry import roles
from research.models import ExportDownload, ExportStatus, ResearchExport, ResearchProject
from tests import factories

PROJECT_LIST = reverse("research:project-list")
EXPORT_LIST = reverse("research:export-list")


# --- Scene ------------------------------------------------------------------------------------


def make_project(*members, title="Grip strength decline", **fields) -> ResearchProject:
    fields = {
        "approving_body": "Hadassah ethics committee",
        "approval_reference": "HMO-0123-24",
        "data_use_agreement_ends": dt.date.today() + dt.timedelta(days=365),
        **fields,
    }
    project = ResearchProject.objects.create(title=title, **fields)
    project.members.add(*members)
    return project


def make_export(project, requested_by, **fields) -> ResearchExport:
    return ResearchExport.objects.create(project=project, requested_by=requested_by, **fields)


def make_done_export(project, requested_by) -> ResearchExport:
    return make_export(
        project,
        requested_by,
        status=ExportStatus.DONE,
        progress_percent=100,
        file_name="gne-registry-export.zip",
        size_bytes=123_456,
        sha256="ab" * 32,
    )


def login(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def project(researcher_user):
    return make_project(researcher_user)


@pytest.fixture
def outsider(db):
    """A researcher who is not a member of `project`."""
    user = factories.UserFactory(username="researcher.omar")
    user.groups.add(Group.objects.get_or_create(name=roles.RESEARCHER)[0])
    return user


@pytest.fixture
def users(staff_user, researcher_user, patient_user, own_patient, outsider):
    return {
        "anonymous": None,
        "staff": staff_user,
        "researcher": researcher_user,
        "outsider": outsider,
        "patient": patient_user,
    }


def project_url(project) -> str:
    return reverse("research:project-detail", args=[project.pk])


# --- Access -----------------------------------------------------------------------------------

# What each persona gets on each page: staff see everything, a researcher what their projects hold,
# a researcher outside the project 404 for its page, a patient 403 everywhere, anonymous the login.
ACCESS = {
    "project_list": {"staff": 200, "researcher": 200, "outsider": 200, "patient": 403},
    "project_detail": {"staff": 200, "researcher": 200, "outsider": 404, "patient": 403},
    "export_list": {"staff": 200, "researcher": 200, "outsider": 200, "patient": 403},
}


def page_url(page: str, project) -> str:
    return {"project_list": PROJECT_LIST, "project_detail": project_url(project), "export_list": EXPORT_LIST}[page]


@pytest.mark.parametrize("page", ACCESS)
@pytest.mark.parametrize("persona", ["staff", "researcher", "outsider", "patient"])
def test_page_access_by_role(page, persona, users, project):
    response = login(users[persona]).get(page_url(page, project))

    assert response.status_code == ACCESS[page][persona]


@pytest.mark.parametrize("page", ACCESS)
def test_anonymous_is_sent_to_login(page, project):
    url = page_url(page, project)

    response = Client().get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.parametrize(("persona", "status"), [("patient", 403), ("outsider", 404)])
def test_export_request_refused_to_non_members(persona, status, users, project):
    response = login(users[persona]).post(project_url(project), {"onset_age_min": "20"})

    assert response.status_code == status
    assert not ResearchExport.objects.exists()


def test_anonymous_cannot_request_export(project):
    response = Client().post(project_url(project), {"onset_age_min": "20"})

    assert response.status_code == 302
    assert not ResearchExport.objects.exists()


def test_researcher_sees_only_their_projects(researcher_user, project):
    make_project(title="Someone else's study")

    response = login(researcher_user).get(PROJECT_LIST)

    assert project.title in response.text
    assert "Someone else's study" not in response.text


def test_staff_see_every_project_with_member_count_and_agreement_end(staff_user, researcher_user, outsider):
    make_project(researcher_user, outsider, title="Two members", data_use_agreement_ends=dt.date(2031, 3, 4))
    make_project(title="No members")

    response = login(staff_user).get(PROJECT_LIST)

    projects = {project.title: project for project in response.context["projects"]}
    assert projects["Two members"].member_count == 2
    assert projects["No members"].member_count == 0
    assert "4 March 2031" in response.text


def test_export_list_shows_only_exports_of_the_researchers_projects(researcher_user, outsider, project):
    mine = make_export(project, researcher_user)
    theirs = make_export(make_project(outsider, title="Other study"), outsider)

    response = login(researcher_user).get(EXPORT_LIST)

    shown = [row["export"] for row in response.context["rows"]]
    assert shown == [mine]
    assert f"#{theirs.pk}<" not in response.text


# --- The cohort form --------------------------------------------------------------------------

TYPED = {
    "genotype_group": "homozygous",
    "variant": "M712T",
    "onset_age_min": "50",
    "onset_age_max": "20",
    "countries": ["IL", "JP"],
    "regions": ["Western Asia"],
    "baseline_ambulation": ["0", "2"],
    "assessed_from": "2020-01-01",
    "assessed_to": "2024-12-31",
    "statuses": ["enrolled"],
}


def test_cohort_form_keeps_what_was_typed_and_shows_the_service_error(researcher_user, project):
    response = login(researcher_user).post(project_url(project), TYPED)

    assert response.status_code == 200
    assert not ResearchExport.objects.exists()
    html = response.text
    # The summary at the top links to the field, and the message also sits next to the field.
    assert 'class="error-summary"' in html
    assert 'href="#id_onset_age_max"' in html
    assert 'id="id_onset_age_max_error"' in html
    assert 'aria-describedby="id_onset_age_max_error"' in html
    assert 'aria-invalid="true"' in html
    # Everything typed is still there.
    form = response.context["form"]
    assert form["onset_age_min"].value() == "50"
    assert form["variant"].value() == "M712T"
    assert '<option value="IL" selected>' in html
    assert '<option value="JP" selected>' in html
    assert 'value="Western Asia"' in html and form["regions"].value() == ["Western Asia"]
    assert 'value="2020-01-01"' in html
    assert form["baseline_ambulation"].value() == ["0", "2"]


def test_cohort_form_shows_type_errors_without_calling_the_service(researcher_user, project):
    response = login(researcher_user).post(project_url(project), {"onset_age_min": "twenty", "assessed_from": "x"})

    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"onset_age_min", "assessed_from"}
    assert 'value="twenty"' in response.text
    assert not ResearchExport.objects.exists()


def test_cohort_form_requests_an_export_with_the_cleaned_cohort(researcher_user, project):
    typed = {**TYPED, "onset_age_min": "20", "onset_age_max": "50", "countries": ["JP", "IL"]}

    response = login(researcher_user).post(project_url(project), typed, follow=True)

    export = ResearchExport.objects.get()
    assert response.redirect_chain == [(EXPORT_LIST, 302)]
    assert f"Export #{export.pk} was requested" in response.text
    assert export.project == project
    assert export.requested_by == researcher_user
    assert export.include_ancestry is False
    assert export.cohort == {
        "genotype_group": "homozygous",
        "domain_pair": "",
        "variant": "p.(Met743Thr)",  # M712T, the founder variant, stored by its current-numbering name
        "onset_age_min": 20,
        "onset_age_max": 50,
        "countries": ["IL", "JP"],
        "regions": ["Western Asia"],
        "baseline_ambulation": [0, 2],
        "assessed_from": "2020-01-01",
        "assessed_to": "2024-12-31",
        "statuses": ["enrolled"],
    }


def test_ended_agreement_is_shown_at_the_top_of_the_form(researcher_user):
    ended = make_project(researcher_user, data_use_agreement_ends=dt.date.today() - dt.timedelta(days=1))

    response = login(researcher_user).post(project_url(ended), {"onset_age_min": "20"})

    assert response.status_code == 200
    assert "The data-use agreement of this project ended on" in response.context["form"].non_field_errors()[0]
    assert 'class="error-summary"' in response.text
    assert not ResearchExport.objects.exists()


def test_ancestry_is_offered_only_when_the_project_allows_it(researcher_user, project):
    allowed = make_project(researcher_user, title="Ancestry study", ancestry_allowed=True)
    client = login(researcher_user)

    assert "include_ancestry" not in client.get(project_url(project)).text
    client.post(project_url(allowed), {"include_ancestry": "on"})

    assert ResearchExport.objects.get().include_ancestry is True


# --- The export list --------------------------------------------------------------------------


def test_export_list_shows_progress_and_step_while_running(researcher_user, project):
    make_export(project, researcher_user, status=ExportStatus.RUNNING, progress_percent=40, step="Pseudonymising")

    response = login(researcher_user).get(EXPORT_LIST)

    assert 'max="100" value="40"' in response.text
    assert "40% · Pseudonymising" in response.text
    assert 'class="badge badge--running"' in response.text
    assert "export-list.js" in response.text  # refreshes itself
    assert '<meta http-equiv="refresh" content="5">' in response.text  # inside <noscript>


def test_export_list_does_not_refresh_when_nothing_is_in_progress_or_when_turned_off(researcher_user, project):
    client = login(researcher_user)
    make_done_export(project, researcher_user)
    assert "refresh" not in client.get(EXPORT_LIST).text.split("</head>")[0]

    make_export(project, researcher_user, status=ExportStatus.QUEUED)
    head = client.get(EXPORT_LIST, {"refresh": "off"}).text.split("</head>")[0]

    assert "refresh" not in head
    assert "export-list.js" not in head


def test_export_list_shows_why_an_export_was_refused(researcher_user, project):
    make_export(
        project, researcher_user, status=ExportStatus.REFUSED, reason="cohort of 7 patients is below the minimum of 11"
    )

    response = login(researcher_user).get(EXPORT_LIST)

    assert 'class="badge badge--refused"' in response.text
    assert "cohort of 7 patients is below the minimum of 11" in response.text


def test_done_export_shows_size_and_checksum(researcher_user, project):
    make_done_export(project, researcher_user)

    response = login(researcher_user).get(EXPORT_LIST)

    assert "120.6\xa0KB" in response.text
    assert "ab" * 32 in response.text


def test_download_link_only_for_the_requester_of_a_done_export(researcher_user, outsider, staff_user, project):
    project.members.add(outsider)
    done = make_done_export(project, researcher_user)
    make_export(project, researcher_user, status=ExportStatus.RUNNING)
    link_text = f"Download export #{done.pk}"

    requester_page = login(researcher_user).get(EXPORT_LIST)

    links = [row["download_link"] for row in requester_page.context["rows"]]
    assert links[0] is None and links[1]  # newest (running) first: no link; the done one has its signed link
    assert link_text in requester_page.text
    assert f'href="{links[1]}"' in requester_page.text
    assert link_text not in login(outsider).get(EXPORT_LIST).text  # same project, not the requester
    assert link_text not in login(staff_user).get(EXPORT_LIST).text


def test_staff_see_who_downloaded_an_export_and_when(staff_user, researcher_user, project):
    export = make_done_export(project, researcher_user)
    download = ExportDownload.objects.create(export=export, user=researcher_user)

    staff_page = login(staff_user).get(EXPORT_LIST).text
    researcher_page = login(researcher_user).get(EXPORT_LIST).text

    assert "Downloaded by" in staff_page
    assert f"{researcher_user.username}, <time" in staff_page
    assert f"{download.downloaded_at:%Y-%m-%d %H:%M}" in staff_page
    assert "Downloaded by" not in researcher_page


def test_research_pages_show_no_patient_identity(researcher_user, staff_user, project):
    identity = factories.PatientIdentityFactory(given_name="Zerubavel", family_name="Nakashima-Levi")
    make_done_export(project, researcher_user)

    for user in (researcher_user, staff_user):
        client = login(user)
        for url in (PROJECT_LIST, project_url(project), EXPORT_LIST):
            text = client.get(url).text
            assert identity.given_name not in text
            assert identity.family_name not in text
            assert identity.national_id not in text


# --- Query counts -----------------------------------------------------------------------------

# Every page: the session, its user, and the user's roles (auth groups); then the page's own rows.
SESSION = ('FROM "django_session"', 'FROM "auth_user"', 'FROM "auth_group" INNER JOIN "auth_user_groups"')
# Exports with their project and requester joined.
EXPORTS = 'FROM "research_researchexport" INNER JOIN "research_researchproject"'
# Staff only: every download of those exports, with the downloader joined.
DOWNLOADS = 'FROM "research_exportdownload" INNER JOIN "auth_user"'
# Projects with their member count in the same query.
PROJECTS = 'COUNT(DISTINCT "research_researchproject_members"."user_id") AS "member_count"'


def assert_queries(captured, *fragments):
    """The queries run were these, in this order (each identified by a fragment of its SQL)."""
    sqls = [query["sql"] for query in captured.captured_queries]
    assert len(sqls) == len(fragments), sqls
    for sql, fragment in zip(sqls, fragments, strict=True):
        assert fragment in sql, (fragment, sql)


def add_exports(project, user, downloader, n):
    for _ in range(n):
        export = make_done_export(project, user)
        ExportDownload.objects.create(export=export, user=downloader)
        make_export(project, user, status=ExportStatus.REFUSED, reason="too small")


@pytest.mark.parametrize(
    ("persona", "queries"), [("staff", (*SESSION, EXPORTS, DOWNLOADS)), ("researcher", (*SESSION, EXPORTS))]
)
@pytest.mark.parametrize("batches", [1, 8])
def test_export_list_queries_do_not_grow_with_rows(
    persona, queries, batches, users, researcher_user, staff_user, project, django_assert_num_queries
):
    add_exports(project, researcher_user, staff_user, batches)
    client = login(users[persona])

    with django_assert_num_queries(len(queries)) as captured:
        response = client.get(EXPORT_LIST)

    assert len(response.context["rows"]) == 2 * batches
    assert_queries(captured, *queries)


@pytest.mark.parametrize("persona", ["staff", "researcher"])
@pytest.mark.parametrize("count", [1, 8])
def test_project_list_queries_do_not_grow_with_rows(
    persona, count, users, researcher_user, outsider, django_assert_num_queries
):
    for number in range(count):
        make_project(researcher_user, outsider, title=f"Study {number}")
    client = login(users[persona])

    with django_assert_num_queries(4) as captured:
        response = client.get(PROJECT_LIST)

    assert len(response.context["projects"]) == count
    assert_queries(captured, *SESSION, PROJECTS)


def test_project_page_queries(researcher_user, project, django_assert_num_queries):
    client = login(researcher_user)

    with django_assert_num_queries(4) as captured:
        client.get(project_url(project))

    # The project, found among the user's projects (a join on the members).
    assert_queries(captured, *SESSION, 'INNER JOIN "research_researchproject_members"')


# --- Login, logout and the base layout -------------------------------------------------------------------------


def test_login_page_shows_an_error_summary_for_wrong_credentials(researcher_user):
    response = Client().post(reverse("login"), {"username": researcher_user.username, "password": "wrong"})

    assert response.status_code == 200
    assert 'class="error-summary"' in response.text
    assert 'role="alert"' in response.text
    assert 'value="researcher.rita"' in response.text


def test_login_lands_on_the_research_projects(researcher_user):
    client = Client()
    response = client.post(reverse("login"), {"username": researcher_user.username, "password": "a-long-test-password"})

    assert response.status_code == 302 and response["Location"] == "/"  # registry.views.home, by role
    assert client.get("/")["Location"] == PROJECT_LIST


def test_logout_is_a_post_from_the_header(researcher_user):
    client = login(researcher_user)
    page = client.get(PROJECT_LIST).text
    assert f'action="{reverse("logout")}"' in page and "csrfmiddlewaretoken" in page

    response = client.post(reverse("logout"))

    assert response["Location"] == reverse("login")
    assert client.get(PROJECT_LIST).status_code == 302


def test_base_layout_landmarks(researcher_user):
    html = login(researcher_user).get(PROJECT_LIST).text

    assert '<html lang="en" dir="ltr">' in html
    assert '<a class="skip-link" href="#main">' in html
    assert '<main id="main"' in html
    assert '<div class="messages" role="status">' in html
    assert "<footer" in html
    assert "/static/registry/registry.css" in html
