"""/api/v1/assessments/ and /api/v1/milestones/ as staff: data written, data returned, ETags,
filters, and a 400 with the stable error shape for every kind of bad input (never a 500)."""

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest

from assessments.models import IBMFRS_ITEMS, Assessment, DynamometryMeasurement, Milestone
from registry.dates import today
from tests import factories

pytestmark = pytest.mark.django_db

ASSESSMENTS = "/api/v1/assessments/"
MILESTONES = "/api/v1/milestones/"
UPPER = ["shoulder_abduction", "elbow_flexion", "elbow_extension"]


def detail(base, record) -> str:
    return f"{base}{record.uuid}/"


@pytest.fixture
def patient():
    return factories.PatientFactory()  # born 1980-06-15


@pytest.fixture
def payload(patient) -> dict:
    return {
        "patient": str(patient.uuid),
        "assessment_date": "2020-03-01",
        "source": "clinician",
        "falls_count": 3,
        "injurious_falls_count": 1,
        "fractures_count": 0,
        "devices": ["afo", "cane"],
        "ambulation_class": 2,
        "wheelchair_use": "none",
        **{name: 3 for name in IBMFRS_ITEMS},
        "six_minute_walk_m": 350,
        "grip_left_kg": 20.5,
        "dynamometry": [
            {"muscle_group": group, "side": side, "kg": 10.5} for group in UPPER for side in ("left", "right")
        ],
    }


def assert_error(response, status, code) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def assert_invalid(response, *fields) -> dict:
    """400 with the stable shape, naming each field; returns error.fields."""
    error = assert_error(response, 400, "invalid")
    assert set(error) == {"status", "code", "message", "fields"}
    for field in fields:
        assert field in error["fields"], error["fields"]
        assert all(isinstance(message, str) for message in error["fields"][field])
    return error["fields"]


# --- Create -------------------------------------------------------------------------------------


def test_create_returns_201_with_computed_fields_and_etag(staff_client, staff_user, patient, payload):
    response = staff_client.post(ASSESSMENTS, payload, format="json")

    assert response.status_code == 201, response.content
    assert response["ETag"] == '"1"'
    body = response.json()
    assert body["version"] == 1
    assert body["patient"] == str(patient.uuid)
    assert body["ibmfrs_total"] == 30
    assert body["review_flags"] == []
    assert body["six_minute_walk_status"] == "done"
    assert body["hhd_upper_composite_kg"] == 63.0
    assert body["hhd_lower_composite_kg"] is None
    assert body["dynamometry"] == [
        {"muscle_group": group, "side": side, "kg": 10.5} for group in sorted(UPPER) for side in ("left", "right")
    ]

    assessment = Assessment.objects.get(uuid=body["id"])
    assert assessment.patient == patient
    assert assessment.entered_by == staff_user
    assert (assessment.assessment_date, assessment.source) == (dt.date(2020, 3, 1), "clinician")
    assert (assessment.falls_count, assessment.injurious_falls_count, assessment.fractures_count) == (3, 1, 0)
    assert assessment.devices == ["afo", "cane"]
    assert (assessment.ambulation_class, assessment.wheelchair_use) == (2, "none")
    assert all(getattr(assessment, name) == 3 for name in IBMFRS_ITEMS)
    assert assessment.ibmfrs_total == 30
    assert (assessment.six_minute_walk_status, assessment.six_minute_walk_m) == ("done", 350)
    assert assessment.grip_left_kg == Decimal("20.5")
    assert assessment.hhd_upper_composite_kg == Decimal("63.0")
    assert sorted(assessment.dynamometry.values_list("muscle_group", "side", "kg")) == sorted(
        (group, side, Decimal("10.5")) for group in UPPER for side in ("left", "right")
    )


def test_create_returns_review_flags_and_derives_milestones(staff_client, patient, payload):
    payload |= {"ambulation_class": 5, "wheelchair_use": "full_time", "ibmfrs_walking": 2}

    response = staff_client.post(ASSESSMENTS, payload, format="json")

    assert response.status_code == 201, response.content
    codes = [flag["code"] for flag in response.json()["review_flags"]]
    assert codes == ["wheelchair_but_walked", "wheelchair_but_ibmfrs_walking"]
    assessment = Assessment.objects.get(uuid=response.json()["id"])
    assert [flag["code"] for flag in assessment.review_flags] == codes
    assert set(Milestone.objects.filter(patient=patient, derived_from=assessment).values_list("kind", flat=True)) == {
        "afo",
        "cane",
        "walker",
        "wheelchair_part_time",
        "wheelchair_full_time",
    }


def test_computed_fields_sent_by_the_client_are_ignored(staff_client, payload):
    payload |= {"ibmfrs_total": 40, "hhd_upper_composite_kg": 1.0, "review_flags": [{"code": "x"}], "version": 9}

    response = staff_client.post(ASSESSMENTS, payload, format="json")

    assert response.status_code == 201, response.content
    assessment = Assessment.objects.get(uuid=response.json()["id"])
    assert (assessment.ibmfrs_total, assessment.hhd_upper_composite_kg) == (30, Decimal("63.0"))
    assert (assessment.review_flags, assessment.version) == ([], 1)


def test_detail_returns_the_record_with_its_etag(staff_client):
    assessment = factories.AssessmentFactory(falls_count=4)

    response = staff_client.get(detail(ASSESSMENTS, assessment))

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    assert (response.json()["id"], response.json()["falls_count"]) == (str(assessment.uuid), 4)


def test_detail_of_an_unknown_id_is_404(staff_client):
    assert_error(staff_client.get(f"{ASSESSMENTS}{uuid.uuid4()}/"), 404, "not_found")


# --- List ---------------------------------------------------------------------------------------


@pytest.fixture
def listed():
    """Five assessments over two patients; one carries a review flag."""
    first, second = factories.PatientFactory(), factories.PatientFactory()
    flag = [{"code": "wheelchair_but_walked", "field": "six_minute_walk_m", "message": "..."}]
    return {
        "first": first,
        "second": second,
        "a": factories.AssessmentFactory(patient=first, assessment_date=dt.date(2018, 1, 1)),
        "b": factories.AssessmentFactory(patient=first, assessment_date=dt.date(2019, 1, 1), source="patient"),
        "c": factories.AssessmentFactory(patient=first, assessment_date=dt.date(2020, 1, 1), review_flags=flag),
        "d": factories.AssessmentFactory(patient=second, assessment_date=dt.date(2017, 6, 1), source="patient"),
        "e": factories.AssessmentFactory(patient=second, assessment_date=dt.date(2021, 6, 1)),
    }


def listed_ids(client, query="") -> list[str]:
    response = client.get(f"{ASSESSMENTS}?{query}")
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def ids(listed, *names) -> list[str]:
    return [str(listed[name].uuid) for name in names]


def test_list_is_paginated_in_default_order(staff_client, listed):
    response = staff_client.get(ASSESSMENTS)

    body = response.json()
    assert "count" not in body and body["next"] is None and body["previous"] is None
    assert [row["id"] for row in body["results"]] == ids(listed, "a", "b", "c", "d", "e")
    assert body["results"][0]["patient"] == str(listed["first"].uuid)


def test_pages_link_to_each_other_and_count_on_request(staff_client, listed):
    first = staff_client.get(f"{ASSESSMENTS}?page_size=2&count=true").json()
    second = staff_client.get(first["next"]).json()
    last = staff_client.get(f"{ASSESSMENTS}?page_size=2&page=3").json()
    beyond = staff_client.get(f"{ASSESSMENTS}?page_size=2&page=4")
    absurd = staff_client.get(f"{ASSESSMENTS}?page=552286952821422030848")
    bad = staff_client.get(f"{ASSESSMENTS}?page_size=zero")

    assert first["count"] == 5 and first["previous"] is None
    assert [row["id"] for row in first["results"] + second["results"] + last["results"]] == ids(
        listed, "a", "b", "c", "d", "e"
    )
    assert second["previous"].endswith("page_size=2") and last["next"] is None
    assert beyond.status_code == 404 and absurd.status_code == 404
    assert bad.status_code == 400 and "page_size" in bad.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("patient={second}", ["d", "e"]),
        ("source=patient", ["b", "d"]),
        ("source=clinician&patient={first}", ["a", "c"]),
        ("date_from=2019-01-01", ["b", "c", "e"]),
        ("date_to=2019-01-01", ["a", "b", "d"]),
        ("date_from=2018-06-01&date_to=2020-01-01", ["b", "c"]),
        ("needs_review=true", ["c"]),
        ("needs_review=false", ["a", "b", "d", "e"]),
        ("ordering=-assessment_date", ["e", "c", "b", "a", "d"]),
        ("ordering=assessment_date", ["d", "a", "b", "c", "e"]),
        ("patient={first}&ordering=-assessment_date", ["c", "b", "a"]),
        ("page_size=2", ["a", "b"]),
        ("page_size=2&page=3", ["e"]),
    ],
)
def test_list_filters_and_ordering(staff_client, listed, query, expected):
    query = query.format(first=listed["first"].uuid, second=listed["second"].uuid)
    assert listed_ids(staff_client, query) == ids(listed, *expected)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("patient=not-a-uuid", "patient"),
        ("date_from=2020-02-30", "date_from"),
        ("source=doctor", "source"),
        ("patient=%00", "patient"),
    ],
)
def test_list_with_an_invalid_filter_is_400(staff_client, listed, query, field):
    assert_invalid(staff_client.get(f"{ASSESSMENTS}?{query}"), field)


# --- Update and delete with If-Match ------------------------------------------------------------


@pytest.fixture
def assessment(patient):
    return factories.AssessmentFactory(patient=patient, falls_count=2, ambulation_class=2, wheelchair_use="none")


def test_patch_without_if_match_is_428_and_changes_nothing(staff_client, assessment):
    response = staff_client.patch(detail(ASSESSMENTS, assessment), {"falls_count": 7}, format="json")

    assert_error(response, 428, "precondition_required")
    assessment.refresh_from_db()
    assert (assessment.falls_count, assessment.version) == (2, 1)


@pytest.mark.parametrize("if_match", ['"2"', '"0"', "1", "*", "W/abc"])
def test_patch_with_a_stale_or_malformed_if_match_is_412_and_changes_nothing(staff_client, assessment, if_match):
    before = Assessment.objects.values().get(pk=assessment.pk)

    response = staff_client.patch(
        detail(ASSESSMENTS, assessment),
        {"falls_count": 7, "ambulation_class": 3},
        format="json",
        HTTP_IF_MATCH=if_match,
    )

    assert_error(response, 412, "precondition_failed")
    assert Assessment.objects.values().get(pk=assessment.pk) == before
    assert not Milestone.objects.filter(patient=assessment.patient, kind="walker").exists()


def test_patch_with_the_right_if_match_updates_and_bumps_the_version(staff_client, assessment):
    url = detail(ASSESSMENTS, assessment)

    response = staff_client.patch(
        url, {"falls_count": 7, "injurious_falls_count": 2}, format="json", HTTP_IF_MATCH='"1"'
    )

    assert response.status_code == 200, response.content
    assert response["ETag"] == '"2"'
    body = response.json()
    assert (body["version"], body["falls_count"], body["injurious_falls_count"]) == (2, 7, 2)
    assessment.refresh_from_db()
    assert (assessment.version, assessment.falls_count, assessment.injurious_falls_count) == (2, 7, 2)
    assert assessment.ambulation_class == 2  # untouched by a partial update

    # The ETag just returned is what the next write must send; the old one is now stale.
    stale = staff_client.patch(url, {"falls_count": 8}, format="json", HTTP_IF_MATCH='"1"')
    assert_error(stale, 412, "precondition_failed")
    fresh = staff_client.patch(url, {"falls_count": 8}, format="json", HTTP_IF_MATCH=response["ETag"])
    assert (fresh.status_code, fresh["ETag"]) == (200, '"3"')


def test_put_replaces_the_dynamometry_and_recomputes(staff_client, assessment, payload):
    del payload["patient"]

    response = staff_client.put(detail(ASSESSMENTS, assessment), payload, format="json", HTTP_IF_MATCH='"1"')

    assert response.status_code == 200, response.content
    assert (response.json()["ibmfrs_total"], response.json()["hhd_upper_composite_kg"]) == (30, 63.0)
    assert DynamometryMeasurement.objects.filter(assessment=assessment).count() == 6

    response = staff_client.patch(
        detail(ASSESSMENTS, assessment), {"dynamometry": []}, format="json", HTTP_IF_MATCH='"2"'
    )
    assert response.status_code == 200, response.content
    assert (response.json()["dynamometry"], response.json()["hhd_upper_composite_kg"]) == ([], None)
    assert not DynamometryMeasurement.objects.filter(assessment=assessment).exists()


def test_patch_breaking_a_rule_is_400_and_changes_nothing(staff_client, assessment):
    response = staff_client.patch(
        detail(ASSESSMENTS, assessment), {"injurious_falls_count": 5}, format="json", HTTP_IF_MATCH='"1"'
    )

    assert_invalid(response, "injurious_falls_count")
    assessment.refresh_from_db()
    assert (assessment.injurious_falls_count, assessment.version) == (None, 1)


def test_patch_cannot_move_an_assessment_to_another_patient(staff_client, assessment):
    other = factories.PatientFactory()

    response = staff_client.patch(
        detail(ASSESSMENTS, assessment), {"patient": str(other.uuid)}, format="json", HTTP_IF_MATCH='"1"'
    )

    assert response.status_code == 200, response.content
    assessment.refresh_from_db()
    assert assessment.patient_id != other.pk


def test_delete_needs_if_match(staff_client, assessment):
    response = staff_client.delete(detail(ASSESSMENTS, assessment))

    assert_error(response, 428, "precondition_required")
    assert Assessment.objects.filter(pk=assessment.pk).exists()

    assert_error(staff_client.delete(detail(ASSESSMENTS, assessment), HTTP_IF_MATCH='"5"'), 412, "precondition_failed")
    assert Assessment.objects.filter(pk=assessment.pk).exists()


def test_delete_removes_the_row_its_dynamometry_and_its_derived_milestones(staff_client, patient, payload):
    created = staff_client.post(ASSESSMENTS, payload, format="json").json()
    assessment = Assessment.objects.get(uuid=created["id"])
    assert set(Milestone.objects.filter(patient=patient).values_list("kind", "source")) == {
        ("afo", "derived"),
        ("cane", "derived"),
    }

    response = staff_client.delete(detail(ASSESSMENTS, assessment), HTTP_IF_MATCH='"1"')

    assert response.status_code == 204
    assert not Assessment.objects.filter(pk=assessment.pk).exists()
    assert not DynamometryMeasurement.objects.exists()
    assert not Milestone.objects.filter(patient=patient).exists()
    assert_error(staff_client.get(detail(ASSESSMENTS, assessment)), 404, "not_found")


# --- Invalid input: always a 400 naming the field -----------------------------------------------


INVALID = [
    pytest.param({"falls_count": "many"}, "falls_count", id="string-for-number"),
    pytest.param({"ibmfrs_walking": "4x"}, "ibmfrs_walking", id="string-for-score"),
    pytest.param({"grip_left_kg": "strong"}, "grip_left_kg", id="string-for-decimal"),
    pytest.param({"falls_count": [1]}, "falls_count", id="list-for-number"),
    pytest.param({"source": "doctor"}, "source", id="unknown-source"),
    pytest.param({"wheelchair_use": "sometimes"}, "wheelchair_use", id="unknown-wheelchair-use"),
    pytest.param({"ambulation_class": 9}, "ambulation_class", id="unknown-ambulation-class"),
    pytest.param({"six_minute_walk_status": "maybe"}, "six_minute_walk_status", id="unknown-6mwt-status"),
    pytest.param({"devices": ["afo", "jetpack"]}, "devices.1", id="unknown-device"),
    pytest.param({"devices": "afo"}, "devices", id="string-for-list"),
    pytest.param({"devices": ["afo", "afo"]}, "devices", id="duplicated-device"),
    pytest.param({"patient": "not-a-uuid"}, "patient", id="bad-uuid"),
    pytest.param({"patient": 12345}, "patient", id="int-for-uuid"),
    pytest.param({"patient": {"id": 1}}, "patient", id="object-for-uuid"),
    pytest.param({"patient": str(uuid.UUID(int=1))}, "patient", id="unknown-patient"),
    pytest.param({"patient": None}, "patient", id="null-patient"),
    pytest.param({"ibmfrs_walking": 10**30}, "ibmfrs_walking", id="huge-score"),
    pytest.param({"falls_count": 2**63}, "falls_count", id="huge-count"),
    pytest.param({"ck_u_per_l": 10**20}, "ck_u_per_l", id="huge-ck"),
    pytest.param({"six_minute_walk_m": 10**40}, "six_minute_walk_m", id="huge-6mwt"),
    pytest.param({"grip_left_kg": 1e300}, "grip_left_kg", id="huge-decimal"),
    pytest.param({"grip_left_kg": 12.345}, "grip_left_kg", id="too-many-decimals"),
    pytest.param({"fvc_percent_predicted": -5}, "fvc_percent_predicted", id="negative-fvc"),
    pytest.param({"falls_count": -1}, "falls_count", id="negative-count"),
    pytest.param({"ibmfrs_version": "IBMFRS\x002008"}, "ibmfrs_version", id="nul-in-string"),
    pytest.param({"source": "clinician\x00"}, "source", id="nul-in-choice"),
    pytest.param({"patient": "\x00"}, "patient", id="nul-in-uuid"),
    pytest.param({"ibmfrs_version": "\ud800"}, "ibmfrs_version", id="lone-surrogate"),
    pytest.param({"grip_left_kg": "NaN"}, "grip_left_kg", id="nan-string"),
    pytest.param({"grip_left_kg": "-Infinity"}, "grip_left_kg", id="infinity-string"),
    pytest.param({"ibmfrs_walking": 2.5}, "ibmfrs_walking", id="fraction-for-score"),
    pytest.param({"ibmfrs_walking": True}, "ibmfrs_walking", id="boolean-for-score"),
    pytest.param({"ibmfrs_version": "x" * 31}, "ibmfrs_version", id="string-too-long"),
    pytest.param({"assessment_date": "2020-02-30"}, "assessment_date", id="impossible-date"),
    pytest.param({"assessment_date": "2020-03-01T10:00"}, "assessment_date", id="datetime-for-date"),
    pytest.param({"assessment_date": 20200301}, "assessment_date", id="number-for-date"),
    pytest.param({"assessment_date": "9999-12-31"}, "assessment_date", id="far-future-date"),
    pytest.param({"assessment_date": "10000-01-01"}, "assessment_date", id="five-digit-year"),
    pytest.param({"assessment_date": (today() + dt.timedelta(days=1)).isoformat()}, "assessment_date", id="tomorrow"),
    pytest.param({"assessment_date": "1900-01-01"}, "assessment_date", id="before-birth"),
    pytest.param({"assessment_date": None}, "assessment_date", id="null-date"),
    pytest.param({"ambulation_regain_confirmed": "perhaps"}, "ambulation_regain_confirmed", id="bad-boolean"),
    pytest.param({"ibmfrs_swallowing": 5}, "ibmfrs_swallowing", id="score-out-of-range"),
    pytest.param({"six_minute_walk_m": 901}, "six_minute_walk_m", id="6mwt-out-of-range"),
    pytest.param(
        {"six_minute_walk_status": "unable", "six_minute_walk_m": 100},
        "six_minute_walk_m",
        id="6mwt-unable-with-metres",
    ),
    pytest.param({"falls_count": 1, "injurious_falls_count": 2}, "injurious_falls_count", id="injurious-above-falls"),
    pytest.param(
        {"dynamometry": [{"muscle_group": "knee_flexion", "side": "left", "kg": "heavy"}]},
        "dynamometry.0.kg",
        id="string-for-kg",
    ),
    pytest.param(
        {"dynamometry": [{"muscle_group": "knee_flexion", "side": "left", "kg": 150.1}]},
        "dynamometry.0.kg",
        id="kg-out-of-range",
    ),
    pytest.param(
        {"dynamometry": [{"muscle_group": "knee_flexion", "side": "left", "kg": 1e300}]},
        "dynamometry.0.kg",
        id="huge-kg",
    ),
    pytest.param(
        {
            "dynamometry": [
                {"muscle_group": "knee_flexion", "side": "left", "kg": 1},
                {"muscle_group": "nose", "side": "left", "kg": 1},
            ]
        },
        "dynamometry.1.muscle_group",
        id="unknown-muscle-group",
    ),
    pytest.param(
        {"dynamometry": [{"muscle_group": "knee_flexion", "side": "middle", "kg": 1}]},
        "dynamometry.0.side",
        id="unknown-side",
    ),
    pytest.param({"dynamometry": {"muscle_group": "knee_flexion"}}, "dynamometry", id="object-for-list"),
    pytest.param({"dynamometry": None}, "dynamometry", id="null-for-list"),
    pytest.param({"dynamometry": [1]}, "dynamometry.0", id="number-for-row"),
    pytest.param(
        {"dynamometry": [{"muscle_group": "knee_flexion", "side": "left", "kg": 1}] * 51},
        "dynamometry",
        id="too-many-rows",
    ),
]


# Incomplete or duplicated rows: refused on create, and on PATCH too (where the update is partial).
INVALID_ROWS = [
    pytest.param(
        {"dynamometry": [{"muscle_group": "knee_flexion", "side": "left"}]}, "dynamometry.0.kg", id="missing-kg"
    ),
    pytest.param({"dynamometry": [{"side": "left", "kg": 5}]}, "dynamometry.0.muscle_group", id="missing-group"),
    pytest.param(
        {
            "dynamometry": [
                {"muscle_group": "knee_flexion", "side": "left", "kg": 1},
                {"muscle_group": "knee_flexion", "side": "left", "kg": 2},
            ]
        },
        "dynamometry.1",
        id="duplicated-muscle-group",
    ),
]


@pytest.mark.parametrize(("change", "field"), INVALID + INVALID_ROWS)
def test_invalid_create_is_400_naming_the_field(staff_client, payload, change, field):
    # json.dumps escapes what the test client's renderer cannot encode (a lone surrogate).
    response = staff_client.post(ASSESSMENTS, json.dumps(payload | change), content_type="application/json")

    fields = assert_invalid(response)
    assert any(key == field or key.startswith(f"{field}.") for key in fields), fields
    assert not Assessment.objects.exists()
    assert not DynamometryMeasurement.objects.exists()


@pytest.mark.parametrize("missing", ["patient", "assessment_date", "source"])
def test_create_without_a_required_field_is_400(staff_client, payload, missing):
    del payload[missing]
    assert_invalid(staff_client.post(ASSESSMENTS, payload, format="json"), missing)
    assert not Assessment.objects.exists()


@pytest.mark.parametrize(("change", "field"), [p for p in INVALID if "patient" not in p.values[1]])
def test_invalid_patch_is_400_naming_the_field_and_changes_nothing(staff_client, assessment, change, field):
    before = Assessment.objects.values().get(pk=assessment.pk)

    response = staff_client.patch(
        detail(ASSESSMENTS, assessment), json.dumps(change), content_type="application/json", HTTP_IF_MATCH='"1"'
    )

    fields = assert_invalid(response)
    assert any(key == field or key.startswith(f"{field}.") for key in fields), fields
    assert Assessment.objects.values().get(pk=assessment.pk) == before


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[]", id="empty-list"),
        pytest.param('[{"source": "clinician"}]', id="list-of-objects"),
        pytest.param('"clinician"', id="string"),
        pytest.param("42", id="number"),
        pytest.param("null", id="null"),
    ],
)
@pytest.mark.parametrize("method", ["post", "patch"])
def test_json_that_is_not_an_object_is_400(staff_client, assessment, body, method):
    url = ASSESSMENTS if method == "post" else detail(ASSESSMENTS, assessment)

    response = getattr(staff_client, method)(url, body, content_type="application/json", HTTP_IF_MATCH='"1"')

    fields = assert_invalid(response, "non_field_errors")
    assert len(fields) == 1
    assert Assessment.objects.count() == 1
    assessment.refresh_from_db()
    assert assessment.version == 1


@pytest.mark.parametrize(
    "body", ['{"source": "clinician"', "{'source': 'clinician'}", '{"falls_count": NaN}', "\x00", '{"a": 1}}']
)
def test_malformed_json_is_400(staff_client, body):
    response = staff_client.post(ASSESSMENTS, body, content_type="application/json")

    # Not a validation error, so no `fields`: the same envelope with its own code.
    error = assert_error(response, 400, "parse_error")
    assert set(error) == {"status", "code", "message"}
    assert not Assessment.objects.exists()


def test_a_non_json_content_type_is_415(staff_client, payload):
    response = staff_client.post(ASSESSMENTS, "patient=x", content_type="application/x-www-form-urlencoded")

    assert_error(response, 415, "unsupported_media_type")


def test_error_names_every_field_at_once(staff_client, payload):
    payload |= {
        "falls_count": "x",
        "source": "doctor",
        "dynamometry": [{"muscle_group": "knee_flexion", "side": "left", "kg": 999}],
    }

    fields = assert_invalid(
        staff_client.post(ASSESSMENTS, payload, format="json"), "falls_count", "source", "dynamometry.0.kg"
    )

    assert set(fields) == {"falls_count", "source", "dynamometry.0.kg"}


# --- Milestones ---------------------------------------------------------------------------------


def test_post_reported_milestone_with_a_year_keeps_the_year(staff_client, patient):
    response = staff_client.post(
        MILESTONES, {"patient": str(patient.uuid), "kind": "afo", "date": "2015"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response["ETag"] == '"1"'
    body = response.json()
    assert (body["date"], body["source"], body["kind"], body["skipped"]) == ("2015", "reported", "afo", False)
    assert (body["derived_from"], body["age_years"], body["patient"]) == (None, None, str(patient.uuid))
    milestone = Milestone.objects.get(uuid=body["id"])
    assert (milestone.date, milestone.date_precision, milestone.source) == (dt.date(2015, 1, 1), "year", "reported")

    assert staff_client.get(detail(MILESTONES, milestone)).json()["date"] == "2015"


@pytest.mark.parametrize(
    ("sent", "stored", "precision"),
    [("2015-03", dt.date(2015, 3, 1), "month"), ("2015-03-14", dt.date(2015, 3, 14), "day")],
)
def test_post_reported_milestone_with_month_or_day(staff_client, patient, sent, stored, precision):
    response = staff_client.post(
        MILESTONES, {"patient": str(patient.uuid), "kind": "cane", "date": sent}, format="json"
    )

    assert (response.status_code, response.json()["date"]) == (201, sent)
    milestone = Milestone.objects.get(uuid=response.json()["id"])
    assert (milestone.date, milestone.date_precision) == (stored, precision)


def test_post_skipped_and_age_only_milestones(staff_client, patient):
    skipped = staff_client.post(
        MILESTONES, {"patient": str(patient.uuid), "kind": "cane", "skipped": True}, format="json"
    )
    by_age = staff_client.post(
        MILESTONES, {"patient": str(patient.uuid), "kind": "walker", "age_years": 35}, format="json"
    )

    assert (skipped.status_code, skipped.json()["skipped"], skipped.json()["date"]) == (201, True, None)
    assert (by_age.status_code, by_age.json()["age_years"], by_age.json()["date"]) == (201, 35, None)
    assert Milestone.objects.get(uuid=by_age.json()["id"]).age_years == 35


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"date": "2015-02-30"}, "date", id="impossible-date"),
        pytest.param({"date": "15"}, "date", id="two-digit-year"),
        pytest.param({"date": 2015}, "date", id="number-for-date"),
        pytest.param({"date": "1850"}, "date", id="before-1900"),
        pytest.param({"date": "2015\x00"}, "date", id="nul-in-date"),
        pytest.param({"date": "9999"}, "date", id="far-future-year"),
        pytest.param({"date": "1975"}, "date", id="before-birth"),
        pytest.param({"kind": "crutches"}, "kind", id="unknown-kind"),
        pytest.param({"age_years": 10**12}, "age_years", id="huge-age"),
        pytest.param({"age_years": -3, "date": None}, "age_years", id="negative-age"),
        pytest.param({"age_years": "thirty", "date": None}, "age_years", id="string-for-age"),
        pytest.param({"skipped": True}, "skipped", id="skipped-with-date"),
        pytest.param({"patient": "nope"}, "patient", id="bad-uuid"),
    ],
)
def test_invalid_milestone_is_400_naming_the_field(staff_client, patient, change, field):
    data = {"patient": str(patient.uuid), "kind": "afo", "date": "2015"} | change

    assert_invalid(staff_client.post(MILESTONES, data, format="json"), field)
    assert not Milestone.objects.exists()


def test_out_of_order_milestone_is_400_with_a_message(staff_client, patient):
    staff_client.post(MILESTONES, {"patient": str(patient.uuid), "kind": "walker", "date": "2012"}, format="json")

    response = staff_client.post(
        MILESTONES, {"patient": str(patient.uuid), "kind": "cane", "date": "2014-05"}, format="json"
    )

    fields = assert_invalid(response, "date")
    assert "cane cannot come after walker" in fields["date"][0]
    assert Milestone.objects.filter(patient=patient).count() == 1


def test_second_reported_milestone_of_a_kind_is_400(staff_client, patient):
    data = {"patient": str(patient.uuid), "kind": "afo", "date": "2015"}
    assert staff_client.post(MILESTONES, data, format="json").status_code == 201

    assert_invalid(staff_client.post(MILESTONES, data | {"date": "2016"}, format="json"), "kind")
    assert Milestone.objects.filter(patient=patient).count() == 1


@pytest.fixture
def derived_milestone(staff_client, patient, payload):
    # AFO only (the payload's cane would derive a cane milestone as well).
    staff_client.post(ASSESSMENTS, payload | {"ambulation_class": 1, "devices": ["afo"]}, format="json")
    return Milestone.objects.get(patient=patient, source="derived")


def test_milestones_list_shows_derived_with_their_assessment(staff_client, patient, derived_milestone):
    response = staff_client.get(f"{MILESTONES}?patient={patient.uuid}&source=derived")

    assert response.status_code == 200
    [row] = response.json()["results"]
    assessment = Assessment.objects.get(patient=patient)
    assert (row["id"], row["kind"], row["date"]) == (str(derived_milestone.uuid), "afo", "2020-03-01")
    assert row["derived_from"] == str(assessment.uuid)


def test_patch_or_delete_a_derived_milestone_is_400(staff_client, derived_milestone):
    url = detail(MILESTONES, derived_milestone)

    patched = staff_client.patch(url, {"date": "2015"}, format="json", HTTP_IF_MATCH='"1"')
    deleted = staff_client.delete(url, HTTP_IF_MATCH='"1"')

    assert "assessments" in assert_invalid(patched, "source")["source"][0]
    assert_invalid(deleted, "source")
    derived_milestone.refresh_from_db()
    assert (derived_milestone.date, derived_milestone.version) == (dt.date(2020, 3, 1), 1)


def test_patch_and_delete_a_reported_milestone(staff_client, patient):
    created = staff_client.post(
        MILESTONES, {"patient": str(patient.uuid), "kind": "afo", "date": "2015"}, format="json"
    ).json()
    url = f"{MILESTONES}{created['id']}/"

    assert_error(staff_client.patch(url, {"date": "2014"}, format="json"), 428, "precondition_required")
    response = staff_client.patch(url, {"date": "2014-07"}, format="json", HTTP_IF_MATCH='"1"')

    assert response.status_code == 200, response.content
    assert (response.json()["date"], response.json()["version"], response["ETag"]) == ("2014-07", 2, '"2"')
    milestone = Milestone.objects.get(uuid=created["id"])
    assert (milestone.date, milestone.date_precision) == (dt.date(2014, 7, 1), "month")

    assert_error(staff_client.delete(url, HTTP_IF_MATCH='"1"'), 412, "precondition_failed")
    assert staff_client.delete(url, HTTP_IF_MATCH='"2"').status_code == 204
    assert not Milestone.objects.filter(uuid=created["id"]).exists()


def test_milestone_list_filters(staff_client, patient, derived_milestone):
    other = factories.PatientFactory()
    staff_client.post(MILESTONES, {"patient": str(patient.uuid), "kind": "cane", "date": "2019"}, format="json")
    staff_client.post(MILESTONES, {"patient": str(other.uuid), "kind": "cane", "date": "2019"}, format="json")

    def kinds(query):
        return sorted(
            (row["kind"], row["source"]) for row in staff_client.get(f"{MILESTONES}?{query}").json()["results"]
        )

    assert kinds(f"patient={patient.uuid}") == [("afo", "derived"), ("cane", "reported")]
    assert kinds("kind=cane&source=reported") == [("cane", "reported"), ("cane", "reported")]
    assert kinds(f"patient={other.uuid}") == [("cane", "reported")]


# --- Writes lock only the patient row, so PostgreSQL accepts them ------------------------------


@pytest.mark.parametrize("url", [ASSESSMENTS, MILESTONES])
def test_create_is_not_a_500_on_postgresql(staff_client, payload, url):
    staff_client.raise_request_exception = False
    data = payload if url == ASSESSMENTS else {"patient": payload["patient"], "kind": "afo", "date": "2015"}

    response = staff_client.post(url, data, format="json")

    assert response.status_code == 201
    assert json.loads(response.content)["version"] == 1


@pytest.mark.parametrize(("change", "field"), INVALID_ROWS)
def test_patch_with_incomplete_or_duplicated_dynamometry_rows_is_400(staff_client, patient, change, field):
    assessment = factories.AssessmentFactory(patient=patient)
    DynamometryMeasurement.objects.create(assessment=assessment, muscle_group="hip_flexion", side="left", kg=9)
    staff_client.raise_request_exception = False

    response = staff_client.patch(detail(ASSESSMENTS, assessment), change, format="json", HTTP_IF_MATCH='"1"')

    assert_invalid(response, field)
    assert list(assessment.dynamometry.values_list("muscle_group", "side", "kg")) == [
        ("hip_flexion", "left", Decimal("9.0"))
    ]


def test_deeply_nested_json_is_400_not_500(staff_client, patient):
    staff_client.raise_request_exception = False
    nested = "[" * 100_000 + "]" * 100_000
    body = f'{{"patient": "{patient.uuid}", "devices": {nested}}}'

    response = staff_client.post(ASSESSMENTS, body, content_type="application/json")

    assert_error(response, 400, "parse_error")
