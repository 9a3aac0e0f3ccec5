"""The import page `/staff/import/` (docs/import.md): check, then import the file that was checked."""

import io
import re

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings

from assessments.models import Assessment
from patients.models import Patient, PatientIdentity
from registry import roles
from tests import factories
from tests.assessments.test_query_counts import assert_queries
from tests.workspace.test_import import SAMPLE, csv_bytes, line, record_counts

URL = "/staff/import/"


@pytest.fixture
def sites(db):
    return {code: factories.SiteFactory(code=code, name=code) for code in ("london", "tel-aviv", "tokyo", "newcastle")}


def post_file(client, content: bytes, action: str):
    file = io.BytesIO(content)
    file.name = "legacy.csv"
    return client.post(URL, {"file": file, "action": action})


def problem_cells(html: str) -> list[tuple[str, str]]:
    """(line, column) of each row of the problems table."""
    body = html.split('id="problems-caption"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<th scope="row" class="number">(\d+)</th>\s*<td><code>([a-z0-9_]+)</code>', body)


def test_a_check_shows_every_problem_by_line_and_column_and_writes_nothing(client, staff_user, sites):
    client.force_login(staff_user)
    content = csv_bytes([line("A1"), line("B1", given="Bo", born="1980-02-30"), line("C1", given="Cy", site="x")])
    before = record_counts()

    response = post_file(client, content, "check")

    assert response.status_code == 200
    html = response.content.decode()
    assert "The file has 2 problems; nothing was imported" in html
    assert problem_cells(html) == [("3", "date_of_birth"), ("4", "site")]
    assert record_counts() == before


def test_a_clean_check_then_import_creates_the_records_audited_as_an_import(client, staff_user, sites):
    client.force_login(staff_user)

    response = post_file(client, SAMPLE.read_bytes(), "check")

    html = response.content.decode()
    assert "The file can be imported" in html and Patient.objects.count() == 0
    assert "<dt>Patients</dt><dd>3</dd>" in html and "<dt>Assessments</dt><dd>6</dd>" in html
    assert "<dt>Variants converted from legacy numbering</dt><dd>2</dd>" in html
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', html).group(1)

    response = client.post(URL, {"action": "import-checked", "digest": digest})

    assert response.status_code == 302 and response.url == URL
    assert Patient.objects.count() == 3 and Assessment.objects.count() == 6
    history = Assessment.history.all()
    assert set(history.values_list("via", "history_user_id")) == {("import", staff_user.pk)}
    page = client.get(URL).content.decode()
    assert "Imported 3 patients with 6 assessments." in page
    assert "Cohen-Nahum, Yael" in page and "O&#x27;Connor-Brontë, Siân" in page
    # The checked copy is gone: the same confirmation cannot import the file twice.
    response = client.post(URL, {"action": "import-checked", "digest": digest})
    assert response.status_code == 302 and Patient.objects.count() == 3


def test_import_of_a_checked_file_needs_the_digest_of_that_file(client, staff_user, sites):
    client.force_login(staff_user)
    post_file(client, SAMPLE.read_bytes(), "check")

    response = client.post(URL, {"action": "import-checked", "digest": "0" * 64}, follow=True)

    assert "no longer kept" in response.content.decode()
    assert Patient.objects.count() == 0


def test_import_without_a_check_refuses_a_file_with_problems(client, staff_user, sites):
    client.force_login(staff_user)
    content = csv_bytes([line("A1"), line("B1", given="Bo", six_minute_walk_m="5000"), line("C1", given="Cy")])
    before = record_counts()

    response = post_file(client, content, "import")

    assert response.status_code == 200
    assert problem_cells(response.content.decode()) == [("3", "six_minute_walk_m")]
    assert record_counts() == before


def test_site_limited_staff_see_other_sites_lines_refused(client, site_staff_user, sites):
    client.force_login(site_staff_user)

    response = post_file(client, csv_bytes([line("A1"), line("T1", given="Tal", site="tel-aviv")]), "import")

    assert problem_cells(response.content.decode()) == [("3", "site")]
    assert Patient.objects.count() == 0


@override_settings(REGISTRY_IMPORT_MAX_BYTES=100)
def test_a_file_over_the_limit_is_refused_with_the_form_kept(client, staff_user, sites):
    client.force_login(staff_user)

    response = post_file(client, SAMPLE.read_bytes(), "import")

    assert response.status_code == 200
    html = response.content.decode()
    assert "the import accepts files up to 100" in html and 'class="error-summary"' in html
    assert Patient.objects.count() == 0


@pytest.mark.parametrize("role", [roles.PATIENT, roles.RESEARCHER])
def test_patients_and_researchers_are_refused(client, role, sites):
    user = factories.UserFactory(username=f"someone-{role}")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    client.force_login(user)

    assert client.get(URL).status_code == 403
    assert post_file(client, SAMPLE.read_bytes(), "import").status_code == 403
    assert Patient.objects.count() == 0


def test_anonymous_visitors_are_sent_to_log_in(client, sites):
    response = post_file(client, SAMPLE.read_bytes(), "import")

    assert response.status_code == 302 and "/accounts/login/" in response.url
    assert Patient.objects.count() == 0


@pytest.mark.parametrize("patients", [1, 4])
def test_the_page_after_an_import_takes_the_same_queries_however_many_were_created(
    client, staff_user, sites, patients, django_assert_num_queries
):
    client.force_login(staff_user)
    lines = [line(f"P{n}", given=f"Given{n}") for n in range(patients)]
    assert post_file(client, csv_bytes(lines), "import").status_code == 302
    assert PatientIdentity.objects.count() == patients

    with django_assert_num_queries(7) as captured:
        response = client.get(URL)

    assert_queries(
        captured,
        'FROM "django_session"',  # the session
        'FROM "auth_user"',  # its user
        'FROM "auth_group"',  # their roles (staff_page)
        '"patients_patientidentity"."family_name" ASC',  # the patients created, with names and sites
        "SAVEPOINT",  # the session saved again: the import's summary is shown once
        'UPDATE "django_session"',
        "RELEASE SAVEPOINT",
    )
    assert response.content.decode().count('<th scope="row"><a href="/staff/patients/') == patients
