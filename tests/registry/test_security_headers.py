"""Headers on what the application answers (docs/security.md): `no-store` on the API and the pages,
a Content-Security-Policy on the pages (relaxed for styles only on /api/docs/), Referrer-Policy;
no page template holds inline script or style that the policy would block; and in a browser, the
pages that run scripts (the export list, the API docs) work under it without a violation."""

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse
from playwright.sync_api import expect

from registry import roles
from registry.middleware import NoStoreMiddleware
from research.models import ExportStatus, ResearchExport, ResearchProject
from tests import factories
from tests.browser import new_page, policy_violations

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a-long-test-password"
PAGE_POLICY = {
    "default-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
}


def policy(response) -> dict[str, list[str]]:
    directives = (part.split() for part in response["Content-Security-Policy"].split(";") if part.strip())
    return {name: values for name, *values in directives}


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assert_not_stored(response):
    assert "no-store" in (directive.strip() for directive in response["Cache-Control"].split(","))
    assert response["Pragma"] == "no-cache"


# --- No-store ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/patients/",  # a list of patients
        "/api/v1/patients/00000000-0000-0000-0000-000000000000/",  # a 404 in the API's shape
        "/api/v1/no-such-thing/",  # an error answered by middleware, outside DRF
        "/api/schema/",
    ],
)
def test_api_responses_are_never_stored(staff_client, other_patient, path):
    assert_not_stored(staff_client.get(path))


@pytest.mark.django_db
def test_api_refusals_are_never_stored(anonymous_client):
    response = anonymous_client.get("/api/v1/patients/")

    assert response.status_code == 401
    assert_not_stored(response)


@pytest.mark.django_db
def test_pages_of_a_logged_in_user_are_never_stored(patient_user, own_patient, researcher_user, staff_user):
    staff_user.is_staff = True  # may open the admin
    staff_user.save()
    for user, path in [
        (patient_user, reverse("portal:me")),
        (researcher_user, reverse("research:project-list")),
        (staff_user, reverse("research:export-list")),
        (staff_user, reverse("admin:index")),  # no-store added to the admin's own never_cache
    ]:
        response = logged_in(user).get(path)
        assert response.status_code == 200, path
        assert_not_stored(response)


@pytest.mark.django_db
def test_pages_before_login_are_not_stored_either():
    """The login form carries a CSRF token, an invitation page a patient's email address."""
    assert_not_stored(Client().get(reverse("login")))


def test_static_files_keep_their_caching():
    long_lived = "max-age=315360000, public, immutable"

    def static_file(request):
        response = HttpResponse("body { }", content_type="text/css")
        response["Cache-Control"] = long_lived
        return response

    response = NoStoreMiddleware(static_file)(RequestFactory().get("/static/registry/registry.css"))

    assert response["Cache-Control"] == long_lived
    assert "Pragma" not in response


# --- Content-Security-Policy and other headers ------------------------------------------------


@pytest.mark.django_db
def test_pages_have_the_content_security_policy(researcher_user):
    for response in (Client().get(reverse("login")), logged_in(researcher_user).get(reverse("research:project-list"))):
        assert response.status_code == 200
        # No script-src or style-src: both fall back to default-src 'self', so nothing inline runs.
        assert policy(response) == PAGE_POLICY
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_api_docs_relax_styles_only_and_load_their_script_as_a_file():
    page = Client().get("/api/docs/")

    assert page.status_code == 200
    assert policy(page) == PAGE_POLICY | {"style-src": ["'self'", "'unsafe-inline'"]}
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", page.text), "an inline script the policy would block"
    script_url = re.search(r'<script src="([^"]*script=[^"]*)"', page.text).group(1)
    script = Client().get(script_url.replace("&amp;", "&"))
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.text


PAGE_TEMPLATES = sorted(
    path
    for path in ROOT.glob("*/templates/**/*.html")  # every app's, including apps added later
    # Emails are not pages: no policy applies to them, and mail programs need inline styles.
    if "email" not in path.name
)
BLOCKED_INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE),
    "style element": re.compile(r"<style\b", re.IGNORECASE),
    "style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "event handler attribute": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    "javascript: link": re.compile(r"javascript:", re.IGNORECASE),
}


def test_page_templates_hold_nothing_inline_that_the_policy_blocks():
    found = [
        f"{path.relative_to(ROOT)}: {what}"
        for path in PAGE_TEMPLATES
        for what, pattern in BLOCKED_INLINE.items()
        if pattern.search(path.read_text())
    ]

    assert len(PAGE_TEMPLATES) > 20
    assert found == []


# --- In a browser -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_export_list_updates_itself_under_the_policy(browser, live_server):
    researcher = factories.UserFactory(username="researcher.rita", password=PASSWORD)
    researcher.groups.add(Group.objects.get_or_create(name=roles.RESEARCHER)[0])
    project = ResearchProject.objects.create(
        title="Grip strength decline",
        approving_body="Ethics",
        approval_reference="E-1",
        data_use_agreement_ends="2099-01-01",
    )
    project.members.add(researcher)
    export = ResearchExport.objects.create(
        project=project, requested_by=researcher, status=ExportStatus.RUNNING, progress_percent=10, step="Selecting"
    )
    page = new_page(browser, live_server)
    violations = policy_violations(page)

    page.goto(reverse("research:export-list"))
    page.get_by_label("Username").fill(researcher.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("10% · Selecting")).to_be_visible()
    page.evaluate("window.notReloaded = true")
    ResearchExport.objects.filter(pk=export.pk).update(status=ExportStatus.REFUSED, reason="cohort of 3 patients")

    # export-list.js, loaded from a file, fetched the page again and swapped the table in.
    expect(page.get_by_text("cohort of 3 patients")).to_be_visible(timeout=15_000)
    assert page.evaluate("window.notReloaded") is True
    assert violations == []


@pytest.mark.django_db(transaction=True)
def test_the_api_docs_work_under_their_policy(browser, live_server):
    page = new_page(browser, live_server)
    violations = policy_violations(page)

    page.goto("/api/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("GNE myopathy natural-history registry API")
    expect(page.locator(".opblock").first).to_be_visible()
    assert violations == []
