"""Bulk import of a legacy spreadsheet through the API (docs/import.md): every problem reported by
line and column, all or nothing, legacy numbering converted, audited, limited to the member's sites."""

import csv
import datetime as dt
import io
import threading
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings

from assessments.models import Assessment, Source
from patients.models import Diagnosis, EnrollmentEvent, Genotype, Patient, PatientIdentity
from registry.models import AuditEvent
from tests import factories
from workspace.imports import spreadsheet_import

URL = "/api/v1/imports/"
SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "samples" / "legacy-import.csv"
HEADER = [
    "legacy_id",
    "site",
    "given_name",
    "family_name",
    "date_of_birth",
    "country",
    "onset_date",
    "allele1",
    "allele1_numbering",
    "allele2",
    "allele2_numbering",
    "assessment_date",
    "ambulation_class",
    "six_minute_walk_m",
]


def line(legacy_id="A1", site="london", given="Ada", family="Lovelace", born="1980-02-03", **extra):
    values = {
        "legacy_id": legacy_id,
        "site": site,
        "given_name": given,
        "family_name": family,
        "date_of_birth": born,
        "country": "GB",
        "onset_date": "2005",
        "allele1": "M712T",
        "allele1_numbering": "legacy",
        "allele2": "M712T",
        "allele2_numbering": "legacy",
        "assessment_date": "2015-06-01",
        "ambulation_class": "1",
        "six_minute_walk_m": "420",
    }
    return values | extra


def csv_bytes(lines, header=HEADER, delimiter=",", bom=False) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, delimiter=delimiter, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(lines)
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode()


def upload(client, content: bytes, *, dry_run: bool, name="legacy.csv"):
    file = io.BytesIO(content)
    file.name = name
    return client.post(URL, {"file": file, "dry_run": "true" if dry_run else "false"}, format="multipart")


def record_counts() -> dict:
    models = (Patient, PatientIdentity, EnrollmentEvent, Diagnosis, Genotype, Assessment, AuditEvent)
    counts = {model.__name__: model.objects.count() for model in models}
    counts |= {f"history of {model.__name__}": model.history.count() for model in models[:-1]}
    return counts


@pytest.fixture
def sites(db):
    return {code: factories.SiteFactory(code=code, name=code) for code in ("london", "tel-aviv", "tokyo", "newcastle")}


def test_dry_run_lists_every_bad_line_with_its_column_and_writes_nothing(staff_client, sites):
    content = csv_bytes(
        [
            line("A1"),
            line("A1", assessment_date="2016-13-01"),  # line 3: no such month
            line("B2", given="Bob", born="19/04/1975"),  # line 4: not ISO
            line("C3", given="Cy", site="paris"),  # line 5: unknown site
            line("D4", given="Di", ambulation_class="9", allele1="Q99999X", allele1_numbering=""),  # line 6: two
            line("E5", given="Ed", assessment_date="1970-01-01"),  # line 7: before birth (a service rule)
        ]
    )
    before = record_counts()

    response = upload(staff_client, content, dry_run=True)

    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is True and body["valid"] is False
    where = [(problem["line"], problem["column"]) for problem in body["problems"]]
    assert where == [
        (3, "assessment_date"),
        (4, "date_of_birth"),
        (5, "site"),
        (6, "ambulation_class"),
        (6, "allele1"),
        (7, "assessment_date"),
    ]
    messages = {(problem["line"], problem["column"]): problem["message"] for problem in body["problems"]}
    assert "YYYY-MM-DD" in messages[(4, "date_of_birth")]
    assert "paris" in messages[(5, "site")]
    assert "date of birth" in messages[(7, "assessment_date")]
    assert record_counts() == before


def test_a_clean_dry_run_says_what_would_be_created_and_writes_nothing(staff_client, sites):
    before = record_counts()

    response = upload(staff_client, SAMPLE.read_bytes(), dry_run=True)

    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is True and body["problems"] == [] and body["created"] == []
    assert body["counts"] == {
        "rows": 6,
        "patients": 3,
        "enrollments": 3,
        "diagnoses": 3,
        "genotypes": 3,
        "assessments": 6,
        "legacy_variants": 2,
    }
    assert record_counts() == before


def test_a_bad_line_in_the_middle_changes_nothing(staff_client, sites):
    lines = [line(f"P{n}", given=f"Given{n}", assessment_date=f"201{n}-03-01") for n in range(5)]
    lines[2]["six_minute_walk_m"] = "2000"  # line 4: beyond the plausible range (a service rule)
    before = record_counts()

    response = upload(staff_client, csv_bytes(lines), dry_run=False)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_file"
    assert [(p["line"], p["column"]) for p in error["problems"]] == [(4, "six_minute_walk_m")]
    assert record_counts() == before


def test_the_sample_file_imports_with_every_record_audited_as_an_import(staff_client, staff_user, sites):
    response = upload(staff_client, SAMPLE.read_bytes(), dry_run=False)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["dry_run"] is False and body["counts"]["patients"] == 3 and body["counts"]["assessments"] == 6
    patients = Patient.objects.filter(uuid__in=body["created"])
    assert patients.count() == 3
    yael = PatientIdentity.objects.get(hospital_id="TA-558201").patient
    assert yael.site.code == "tel-aviv" and yael.status == "enrolled"
    assert list(yael.assessments.values_list("assessment_date", "source").order_by("assessment_date")) == [
        (date, Source.IMPORTED) for date in _dates("2011-03-15", "2014-06-20", "2019-09-09")
    ]
    assert yael.assessments.get(assessment_date="2019-09-09").devices == ["afo", "cane", "manual_wheelchair"]
    assert yael.diagnosis.onset_date_precision == "year" and yael.diagnosis.onset_age == 25
    for model in (Patient, PatientIdentity, Diagnosis, Genotype, Assessment, EnrollmentEvent):
        rows = model.history.all()
        assert rows.exists()
        assert set(rows.values_list("via", "history_user_id")) == {("import", staff_user.pk)}
    event = AuditEvent.objects.get(kind="import")
    assert event.user == staff_user and event.via == "import"
    assert event.detail["patients"] == 3 and event.detail["assessments"] == 6
    assert "Yael" not in str(event.detail) and "TA-558201" not in str(event.detail)


def _dates(*texts):
    return [dt.date.fromisoformat(text) for text in texts]


def test_legacy_numbering_is_converted_and_stored_in_current_numbering(staff_client, sites):
    content = csv_bytes(
        [
            line(
                "L1", allele1="M712T", allele1_numbering="legacy", allele2="NM_005476.6:c.2135T>C", allele2_numbering=""
            ),
        ]
    )

    response = upload(staff_client, content, dry_run=False)

    assert response.status_code == 201, response.json()
    assert response.json()["counts"]["legacy_variants"] == 2
    genotype = Genotype.objects.get(patient__uuid=response.json()["created"][0])
    assert genotype.allele1.protein == genotype.allele2.protein == "p.(Met743Thr)"  # M743T, current numbering
    assert genotype.allele2.cdna == "c.2228T>C"
    assert genotype.allele1_entered_as == "M712T" and genotype.allele1_entered_numbering == "legacy"
    assert genotype.allele2_entered_numbering == "legacy"
    assert genotype.zygosity == "homozygous"


def test_site_limited_staff_import_only_their_own_sites_patients(site_staff_client, sites):
    client = site_staff_client
    content = csv_bytes([line("L1"), line("T1", site="tel-aviv", given="Tal"), line("L2", given="Lee")])
    before = record_counts()

    response = upload(client, content, dry_run=False)

    assert response.status_code == 400
    problems = response.json()["error"]["problems"]
    assert [(p["line"], p["column"]) for p in problems] == [(3, "site")]
    assert "your own sites" in problems[0]["message"]
    assert record_counts() == before
    # Their own site's lines alone go in.
    response = upload(client, csv_bytes([line("L1"), line("L2", given="Lee")]), dry_run=False)
    assert response.status_code == 201
    assert set(Patient.objects.filter(uuid__in=response.json()["created"]).values_list("site__code", flat=True)) == {
        "london"
    }


@pytest.mark.parametrize(("persona", "expected"), [("patient", 403), ("researcher", 403), ("anonymous", 401)])
def test_only_staff_may_import(persona_clients, sites, persona, expected):
    before = record_counts()

    response = upload(persona_clients[persona], csv_bytes([line()]), dry_run=False)

    assert response.status_code == expected
    assert record_counts() == before


def test_a_byte_order_mark_semicolons_and_unusual_letters_are_kept(staff_client, sites):
    names = [("Zoë", "Ólafsdóttir-Łukasiewicz"), ("李", "王"), ("José", "Ñúñez"), ("Avraham", "אברהם")]
    lines = [line(f"U{n}", given=given, family=family) for n, (given, family) in enumerate(names)]
    content = csv_bytes(lines, delimiter=";", bom=True)

    response = upload(staff_client, content, dry_run=False)

    assert response.status_code == 201, response.json()
    stored = set(PatientIdentity.objects.values_list("given_name", "family_name"))
    assert stored == set(names)


def test_excel_style_header_and_a_multi_line_cell_keep_line_numbers(staff_client, sites):
    header = [
        "Legacy ID",
        "Site",
        "Given name",
        "Family name",
        "Date of birth",
        "Country",
        "Assessment date",
        "Comment",
    ]
    text = (
        ",".join(header) + "\n"
        'A1,london,Ann,Ames,1980-01-01,GB,2015-01-01,"first line\nsecond line"\n'
        "B1,london,Ben,Bell,1980-01-01,GB,2015-99-01,\n"
    )

    response = upload(staff_client, text.encode(), dry_run=True)

    assert [(p["line"], p["column"]) for p in response.json()["problems"]] == [(4, "assessment_date")]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\n \n", "The file is empty."),
        (b"A1,london,Ada\n", "The first line must name the columns"),
        (b"legacy_id,site,given_name\nA1,london,Ada\n", "Required columns are missing: family_name, date_of_birth"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text file"),
        ("legacy_id,site\nA1,Zo\u00eb\n".encode("latin-1"), "not UTF-8"),
        (csv_bytes([]), "no data"),
    ],
)
def test_a_file_that_cannot_be_read_gets_one_clear_message(staff_client, content, expected):
    response = upload(staff_client, content, dry_run=True)

    assert response.status_code == 200
    problems = response.json()["problems"]
    assert len(problems) == 1 and expected in problems[0]["message"]


def test_an_empty_upload_is_a_400_naming_the_file(staff_client):
    response = upload(staff_client, b"", dry_run=True)

    assert response.status_code == 400
    assert "file" in response.json()["error"]["fields"]


def test_an_unknown_column_is_named(staff_client, sites):
    content = csv_bytes([line() | {"shoe_size": "9"}], header=[*HEADER, "shoe_size"])

    problems = upload(staff_client, content, dry_run=True).json()["problems"]

    assert [(p["line"], p["column"]) for p in problems] == [(1, "shoe_size")]


@override_settings(REGISTRY_IMPORT_MAX_BYTES=200)
def test_a_file_over_the_size_limit_is_refused_with_413(staff_client, sites):
    before = record_counts()

    response = upload(staff_client, csv_bytes([line(f"P{n}", given=f"G{n}") for n in range(5)]), dry_run=False)

    assert response.status_code == 413
    assert "accepts up to 200" in response.json()["error"]["message"]
    assert record_counts() == before


@override_settings(REGISTRY_IMPORT_MAX_ROWS=2)
def test_a_file_over_the_line_limit_is_refused(staff_client, sites):
    response = upload(staff_client, csv_bytes([line(f"P{n}", given=f"G{n}") for n in range(3)]), dry_run=True)

    problems = response.json()["problems"]
    assert [(p["line"], p["column"]) for p in problems] == [(4, "")]
    assert "more than 2 lines" in problems[0]["message"]


def test_a_patient_already_in_the_registry_is_not_imported_twice(staff_client, sites):
    assert upload(staff_client, csv_bytes([line("A1")]), dry_run=False).status_code == 201

    response = upload(staff_client, csv_bytes([line("A1-again", given="ADA", family="lovelace")]), dry_run=False)

    assert response.status_code == 400
    problems = response.json()["error"]["problems"]
    assert [(p["line"], p["column"]) for p in problems] == [(2, "family_name")]
    assert Patient.objects.count() == 1


def test_lines_of_one_patient_must_agree(staff_client, sites):
    content = csv_bytes([line("A1"), line("A1", born="1981-02-03", assessment_date="2016-01-01")])

    problems = upload(staff_client, content, dry_run=True).json()["problems"]

    assert [(p["line"], p["column"]) for p in problems] == [(3, "date_of_birth")]
    assert "line 2" in problems[0]["message"]


def test_the_services_rules_apply_to_imported_rows(staff_client, sites):
    header = [*HEADER, "biopsy_done", "rimmed_vacuoles", "wheelchair_use"]
    content = csv_bytes(
        [
            line("A1", biopsy_done="no", rimmed_vacuoles="yes"),  # a diagnosis rule
            line("B1", given="Bea", onset_date="2016", assessment_date="2015-06-01"),  # before onset
            line("C1", given="Cy", ambulation_class="5", six_minute_walk_m="", wheelchair_use="full_time"),
            line("C1", given="Cy", assessment_date="2017-01-01", six_minute_walk_m="300"),  # walks again, unconfirmed
        ],
        header=header,
    )

    problems = upload(staff_client, content, dry_run=True).json()["problems"]

    assert [(p["line"], p["column"]) for p in problems] == [
        (2, "rimmed_vacuoles"),
        (3, "assessment_date"),
        (5, "ambulation_regain_confirmed"),
    ]


def test_the_import_is_in_the_openapi_schema(staff_client):
    schema = staff_client.get("/api/schema/?format=json").json()

    operation = schema["paths"]["/api/v1/imports/"]["post"]
    assert "multipart/form-data" in operation["requestBody"]["content"]
    assert {"200", "201", "400", "401", "403", "413"} <= set(operation["responses"])


def test_a_number_too_large_for_its_column_is_a_problem_of_that_cell(staff_client, sites):
    content = csv_bytes([line(falls_count="99999")], header=[*HEADER, "falls_count"])

    problems = upload(staff_client, content, dry_run=True).json()["problems"]

    assert [(p["line"], p["column"], p["message"]) for p in problems] == [
        (2, "falls_count", "Enter a whole number up to 32767.")
    ]


def test_the_patients_history_shows_the_import_with_the_values_written(staff_client, staff_user, sites):
    created = upload(staff_client, csv_bytes([line("A1")]), dry_run=False).json()["created"]

    history = staff_client.get(f"/api/v1/patients/{created[0]}/history/").json()

    assert {(entry["via"], entry["user"]) for entry in history} == {("import", staff_user.username)}
    assessment = next(entry for entry in history if entry["record_type"] == "assessment")
    changes = {change["field"]: (change["old"], change["new"]) for change in assessment["changes"]}
    assert changes["six_minute_walk_m"] == (None, 420) and changes["source"] == (None, "imported")


@pytest.mark.django_db(transaction=True)
def test_the_same_file_imported_twice_at_once_creates_its_patients_once(staff_user):
    """Two imports at the same moment (a double click, two staff members): the second waits for
    the first and then finds its patients already registered, so nothing is duplicated."""
    for code in ("london", "tel-aviv"):
        factories.SiteFactory(code=code, name=code)
    content = csv_bytes([line("A1"), line("B1", given="Grace", family="Hopper", born="1976-12-09")])
    start = threading.Barrier(2)
    reports = []

    def send():
        try:
            start.wait()
            reports.append(spreadsheet_import(content=content, user=staff_user, dry_run=False))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(len(report.problems) > 0 for report in reports) == [False, True]
    assert Patient.objects.count() == 2
    refused = next(report for report in reports if report.problems)
    assert all("already" in problem.message for problem in refused.problems)
