"""The pages follow the chosen language, and right-to-left languages lay out right to left.

Only English is shipped; a test-only Hebrew catalogue (tests/portal/locale/he) stands in for a
deployment's translation, so the machinery (chooser, catalogue lookup, `dir`) is what is tested.
"""

from pathlib import Path

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db

TEST_LOCALE = Path(__file__).parent / "locale"
TWO_LANGUAGES = override_settings(LANGUAGES=[("en", "English"), ("he", "Hebrew")], LOCALE_PATHS=[TEST_LOCALE])


def test_with_one_language_there_is_no_chooser(client):
    page = client.get("/accounts/login/").content.decode()

    assert 'name="language"' not in page
    assert '<html lang="en" dir="ltr">' in page


@TWO_LANGUAGES
def test_the_chooser_switches_the_page_to_a_translated_right_to_left_language(client):
    english = client.get("/accounts/login/").content.decode()
    assert 'name="language"' in english and 'value="he"' in english
    assert "כניסה" not in english

    switched = client.post("/i18n/setlang/", {"language": "he", "next": "/accounts/login/"})
    assert switched.status_code == 302 and switched["Location"] == "/accounts/login/"

    hebrew = client.get("/accounts/login/").content.decode()
    assert '<html lang="he" dir="rtl">' in hebrew
    assert "<h1>כניסה</h1>" in hebrew  # the registry's own string, from the catalogue
    assert "מרשם מיופתיית GNE" in hebrew


@TWO_LANGUAGES
def test_a_language_not_offered_is_ignored(client):
    client.post("/i18n/setlang/", {"language": "xx", "next": "/accounts/login/"})

    assert '<html lang="en" dir="ltr">' in client.get("/accounts/login/").content.decode()
