"""The measures GNE studies use (docs/clinical-rules.md, "Measures"): manual muscle testing with its
computed sum, pinch, timed function tests with "unable", FVC in litres, the ABC total and the
circumstances of falls. Each range is checked on both sides of its boundaries through the API (a
field-level 400, nothing written), the database refuses what the services refuse, and patients read
the new fields of their own assessments as before."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from assessments import services
from assessments.api.serializers import AssessmentOutputSerializer
from assessments.models import Assessment, ManualMuscleTest
from assessments.selectors import assessments_attach_measurements
from registry.api.serializers import LeanRepresentationMixin
from registry.errors import ValidationError
from tests import factories

pytestmark = pytest.mark.django_db

ASSESSMENTS = "/api/v1/assessments/"
# The default REGISTRY_MMT_SUM_MUSCLES (config/settings/base.py).
SUM_MUSCLES = ["shoulder_abduction", "elbow_flexion", "wrist_extension", "hip_flexion", "knee_extension"]
SUM_MUSCLES += ["ankle_dorsiflexion"]


@pytest.fixture
def patient():
    return factories.PatientFactory()  # born 1980-06-15


def body(patient, **fields) -> dict:
    return {"patient": str(patient.uuid), "assessment_date": "2020-03-01", "source": "clinician"} | fields


def post(client, patient, **fields):
    return client.post(ASSESSMENTS, body(patient, **fields), format="json")


def fields_of(response, *names) -> dict:
    """400 with the stable error shape, naming exactly these fields."""
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == set(names), error["fields"]
    return error["fields"]


def grades(**by_muscle) -> list[dict]:
    """MMT rows: muscle=(left, right) for limb movements, muscle="grade" for neck ones."""
    rows = []
    for muscle, grade in by_muscle.items():
        if isinstance(grade, tuple):
            rows += [
                {"muscle": muscle, "side": "left", "grade": grade[0]},
                {"muscle": muscle, "side": "right", "grade": grade[1]},
            ]
        else:
            rows.append({"muscle": muscle, "side": "midline", "grade": grade})
    return rows


# --- Ranges: each boundary accepted, each value just outside refused ----------------------------

# (field, lowest accepted, highest accepted, just below, just above, other fields the value needs)
RANGES = [
    ("pinch_left_kg", "0.0", "30.0", "-0.1", "30.1", {}),
    ("pinch_right_kg", "0.0", "30.0", "-0.1", "30.1", {}),
    ("ten_metre_walk_s", "1.0", "300.0", "0.9", "300.1", {}),
    ("timed_up_and_go_s", "1.0", "300.0", "0.9", "300.1", {}),
    ("stair_climb_s", "1.0", "300.0", "0.9", "300.1", {"stair_climb_steps": 4}),
    ("stair_climb_steps", 1, 20, 0, 21, {"stair_climb_s": "8.0"}),
    ("fvc_litres", "0.00", "10.00", "-0.01", "10.01", {}),
    ("abc_total_percent", "0.0", "100.0", "-0.1", "100.1", {}),
    ("falls_indoors_count", 0, 4, -1, 5, {"falls_count": 4}),
    ("falls_outdoors_count", 0, 4, -1, 5, {"falls_count": 4}),
    ("falls_transfer_count", 0, 4, -1, 5, {"falls_count": 4}),
]


@pytest.mark.parametrize(("field", "low", "high", "below", "above", "needs"), RANGES, ids=[r[0] for r in RANGES])
def test_range_boundaries_are_accepted(staff_client, patient, field, low, high, below, above, needs):
    for value in (low, high):
        response = post(staff_client, patient, **needs, **{field: value})

        assert response.status_code == 201, response.content
        stored = getattr(Assessment.objects.get(uuid=response.json()["id"]), field)
        assert stored == (Decimal(value) if isinstance(value, str) else value)
        assert response.json()[field] == float(value)


@pytest.mark.parametrize(("field", "low", "high", "below", "above", "needs"), RANGES, ids=[r[0] for r in RANGES])
def test_values_outside_the_range_are_refused_with_a_field_message(
    staff_client, patient, field, low, high, below, above, needs
):
    for value in (below, above):
        response = post(staff_client, patient, **needs, **{field: value})

        messages = fields_of(response, field)[field]
        assert messages and all(isinstance(message, str) for message in messages)
    assert not Assessment.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("pinch_left_kg", Decimal("30.5")), ("ten_metre_walk_s", Decimal("0.5")), ("abc_total_percent", Decimal(101))],
)
def test_the_service_refuses_out_of_range_values_from_any_path(patient, field, value):
    data = {"assessment_date": dt.date(2020, 3, 1), "source": "clinician", field: value}
    with pytest.raises(ValidationError) as refused:
        services.assessment_create(patient=patient, data=data)

    assert set(refused.value.message_dict) == {field}
    assert not Assessment.objects.exists()


# --- Timed function tests: "unable" is a result ----------------------------------------------

TIMED = [("ten_metre_walk_status", "ten_metre_walk_s"), ("timed_up_and_go_status", "timed_up_and_go_s")]
TIMED += [("stair_climb_status", "stair_climb_s")]


@pytest.mark.parametrize(("status", "seconds"), TIMED)
def test_unable_is_stored_without_a_time(staff_client, patient, status, seconds):
    response = post(staff_client, patient, **{status: "unable"})

    assert response.status_code == 201, response.content
    assessment = Assessment.objects.get(uuid=response.json()["id"])
    assert (getattr(assessment, status), getattr(assessment, seconds)) == ("unable", None)
    assert (response.json()[status], response.json()[seconds]) == ("unable", None)


@pytest.mark.parametrize(("status", "seconds"), TIMED)
def test_unable_with_a_time_is_refused(staff_client, patient, status, seconds):
    response = post(staff_client, patient, stair_climb_steps=4, **{status: "unable", seconds: "12.0"})

    assert "unable" in fields_of(response, seconds)[seconds][0]
    assert not Assessment.objects.exists()


@pytest.mark.parametrize(("status", "seconds"), TIMED)
def test_done_without_a_time_is_refused(staff_client, patient, status, seconds):
    response = post(staff_client, patient, stair_climb_steps=4, **{status: "done"})

    fields_of(response, seconds)
    assert not Assessment.objects.exists()


@pytest.mark.parametrize(("status", "seconds"), TIMED)
def test_a_time_alone_means_done(staff_client, patient, status, seconds):
    response = post(staff_client, patient, stair_climb_steps=4, **{seconds: "9.5"})

    assert response.status_code == 201, response.content
    assessment = Assessment.objects.get(uuid=response.json()["id"])
    assert (getattr(assessment, status), getattr(assessment, seconds)) == ("done", Decimal("9.5"))


def test_a_stair_climb_needs_its_number_of_steps(staff_client, patient):
    response = post(staff_client, patient, stair_climb_s="6.0")

    fields_of(response, "stair_climb_steps")

    response = post(staff_client, patient, stair_climb_status="unable")  # steps optional when unable
    assert response.status_code == 201, response.content


def test_changing_a_done_test_to_unable_needs_the_time_removed(staff_client, patient):
    created = post(staff_client, patient, ten_metre_walk_s="8.0").json()
    url = f"{ASSESSMENTS}{created['id']}/"

    refused = staff_client.patch(url, {"ten_metre_walk_status": "unable"}, format="json", HTTP_IF_MATCH='"1"')
    fields_of(refused, "ten_metre_walk_s")

    changed = staff_client.patch(
        url, {"ten_metre_walk_status": "unable", "ten_metre_walk_s": None}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert changed.status_code == 200, changed.content
    assessment = Assessment.objects.get(uuid=created["id"])
    assert (assessment.ten_metre_walk_status, assessment.ten_metre_walk_s, assessment.version) == ("unable", None, 2)


def test_full_time_wheelchair_with_a_timed_walk_is_flagged_not_refused(staff_client, patient):
    response = post(staff_client, patient, ambulation_class=5, wheelchair_use="full_time", timed_up_and_go_s="40.0")

    assert response.status_code == 201, response.content
    flags = Assessment.objects.get(uuid=response.json()["id"]).review_flags
    assert [(flag["code"], flag["field"]) for flag in flags] == [("wheelchair_but_walked", "timed_up_and_go_s")]


# --- Manual muscle testing and its computed sum ------------------------------------------------


def test_complete_set_gives_the_sum_with_sub_grades_counted_as_their_whole_grade(staff_client, patient):
    rows = grades(
        shoulder_abduction=("4-", "4+"),
        elbow_flexion=("5", "5"),
        wrist_extension=("4", "4"),
        hip_flexion=("3", "3"),
        knee_extension=("5", "5"),
        ankle_dorsiflexion=("0", "1"),
        knee_flexion=("2", "2"),  # not in the summed set
        neck_flexion="4",  # not in the summed set
    )

    response = post(staff_client, patient, manual_muscle_tests=rows, mmt_sum_score=60)

    assert response.status_code == 201, response.content
    assert response.json()["mmt_sum_score"] == 4 + 4 + 10 + 8 + 6 + 10 + 1
    assessment = Assessment.objects.get(uuid=response.json()["id"])
    assert assessment.mmt_sum_score == 43  # computed; the 60 sent was ignored
    stored = sorted(assessment.manual_muscle_tests.values_list("muscle", "side", "grade"))
    assert stored == sorted((row["muscle"], row["side"], row["grade"]) for row in rows)
    assert response.json()["manual_muscle_tests"] == sorted(rows, key=lambda row: (row["muscle"], row["side"]))


def test_sum_is_left_empty_when_one_muscle_of_the_set_is_graded_on_one_side_only(staff_client, patient):
    rows = grades(**{muscle: ("5", "5") for muscle in SUM_MUSCLES})
    rows = [row for row in rows if (row["muscle"], row["side"]) != ("ankle_dorsiflexion", "right")]

    response = post(staff_client, patient, manual_muscle_tests=rows)

    assert response.status_code == 201, response.content
    assert response.json()["mmt_sum_score"] is None
    assert Assessment.objects.get(uuid=response.json()["id"]).mmt_sum_score is None
    assert len(response.json()["manual_muscle_tests"]) == 11


def test_the_summed_set_is_a_setting_and_neck_movements_count_once(staff_client, patient, settings):
    settings.REGISTRY_MMT_SUM_MUSCLES = ["neck_flexion", "hip_extension"]

    response = post(staff_client, patient, manual_muscle_tests=grades(neck_flexion="3", hip_extension=("2", "4+")))

    assert response.json()["mmt_sum_score"] == 3 + 2 + 4


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"muscle": "hip_flexion", "side": "left", "grade": "6"}, "manual_muscle_tests.0.grade"),
        ({"muscle": "hip_flexion", "side": "left", "grade": "3+"}, "manual_muscle_tests.0.grade"),
        ({"muscle": "hip_flexion", "side": "left", "grade": "4.5"}, "manual_muscle_tests.0.grade"),
        ({"muscle": "hip_flexion", "side": "left", "grade": -1}, "manual_muscle_tests.0.grade"),
        ({"muscle": "biceps", "side": "left", "grade": "4"}, "manual_muscle_tests.0.muscle"),
        ({"muscle": "neck_flexion", "side": "left", "grade": "4"}, "manual_muscle_tests.0.side"),
        ({"muscle": "hip_flexion", "side": "midline", "grade": "4"}, "manual_muscle_tests.0.side"),
        ({"muscle": "hip_flexion", "side": "left"}, "manual_muscle_tests.0.grade"),
    ],
)
def test_bad_mmt_rows_are_refused_with_their_path(staff_client, patient, row, field):
    response = post(staff_client, patient, manual_muscle_tests=[row])

    fields_of(response, field)
    assert not Assessment.objects.exists() and not ManualMuscleTest.objects.exists()


def test_integer_grades_are_read_as_mrc_grades(staff_client, patient):
    response = post(staff_client, patient, manual_muscle_tests=[{"muscle": "hip_flexion", "side": "left", "grade": 4}])

    assert response.status_code == 201, response.content
    assert response.json()["manual_muscle_tests"] == [{"muscle": "hip_flexion", "side": "left", "grade": "4"}]


def test_a_movement_and_side_graded_twice_is_refused(staff_client, patient):
    row = {"muscle": "hip_flexion", "side": "left", "grade": "4"}

    response = post(staff_client, patient, manual_muscle_tests=[row, row | {"grade": "3"}])

    assert "twice" in fields_of(response, "manual_muscle_tests.1")["manual_muscle_tests.1"][0]


def test_an_update_keeps_the_grades_unless_it_sends_them(staff_client, patient):
    created = post(staff_client, patient, manual_muscle_tests=grades(**{m: ("5", "5") for m in SUM_MUSCLES})).json()
    url = f"{ASSESSMENTS}{created['id']}/"
    assert created["mmt_sum_score"] == 60

    kept = staff_client.patch(url, {"falls_count": 1}, format="json", HTTP_IF_MATCH='"1"')
    assert kept.status_code == 200, kept.content
    assert (kept.json()["mmt_sum_score"], len(kept.json()["manual_muscle_tests"])) == (60, 12)

    partial_row = staff_client.patch(
        url, {"manual_muscle_tests": [{"muscle": "hip_flexion", "side": "left"}]}, format="json", HTTP_IF_MATCH='"2"'
    )
    fields_of(partial_row, "manual_muscle_tests.0.grade")

    cleared = staff_client.patch(url, {"manual_muscle_tests": []}, format="json", HTTP_IF_MATCH='"2"')
    assert cleared.status_code == 200, cleared.content
    assert (cleared.json()["mmt_sum_score"], cleared.json()["manual_muscle_tests"]) == (None, [])
    assessment = Assessment.objects.get(uuid=created["id"])
    assert (assessment.mmt_sum_score, assessment.manual_muscle_tests.count()) == (None, 0)


# --- Circumstances of falls --------------------------------------------------------------------


def test_falls_by_circumstance_within_the_falls_are_stored(staff_client, patient):
    response = post(
        staff_client,
        patient,
        source="patient",
        falls_count=5,
        injurious_falls_count=1,
        falls_indoors_count=2,
        falls_outdoors_count=3,
        falls_transfer_count=2,
    )

    assert response.status_code == 201, response.content
    assessment = Assessment.objects.get(uuid=response.json()["id"])
    stored = (assessment.falls_indoors_count, assessment.falls_outdoors_count, assessment.falls_transfer_count)
    assert stored == (2, 3, 2)


def test_indoor_and_outdoor_falls_together_cannot_exceed_the_falls(staff_client, patient):
    response = post(staff_client, patient, falls_count=4, falls_indoors_count=2, falls_outdoors_count=3)

    assert "together" in fields_of(response, "falls_outdoors_count")["falls_outdoors_count"][0]


def test_falls_by_circumstance_need_the_number_of_falls(staff_client, patient):
    response = post(staff_client, patient, falls_transfer_count=1)

    fields_of(response, "falls_count")


def test_lowering_the_falls_below_a_circumstance_count_is_refused(staff_client, patient):
    created = post(staff_client, patient, falls_count=3, falls_outdoors_count=3).json()

    response = staff_client.patch(
        f"{ASSESSMENTS}{created['id']}/", {"falls_count": 2}, format="json", HTTP_IF_MATCH='"1"'
    )

    fields_of(response, "falls_outdoors_count")
    assert Assessment.objects.get(uuid=created["id"]).falls_count == 3


# --- FVC and ABC: stored as reported ------------------------------------------------------------


def test_fvc_percent_predicted_is_stored_as_reported_beside_litres_and_equation(staff_client, patient):
    response = post(
        staff_client,
        patient,
        fvc_litres="3.15",
        fvc_percent_predicted="71.5",
        fvc_reference_equation="gli_2012",
        abc_total_percent="62.5",
    )

    assert response.status_code == 201, response.content
    assessment = Assessment.objects.get(uuid=response.json()["id"])
    assert (assessment.fvc_litres, assessment.fvc_percent_predicted) == (Decimal("3.15"), Decimal("71.5"))
    assert (assessment.fvc_reference_equation, assessment.abc_total_percent) == ("gli_2012", Decimal("62.5"))

    response = post(staff_client, patient, fvc_reference_equation="nhanes")
    fields_of(response, "fvc_reference_equation")


# --- The database keeps the same invariants ------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        {"ten_metre_walk_status": "done", "ten_metre_walk_s": Decimal("0.5")},
        {"timed_up_and_go_status": "done", "timed_up_and_go_s": Decimal("300.1")},
        {"ten_metre_walk_status": "unable", "ten_metre_walk_s": Decimal(10)},
        {"timed_up_and_go_status": "done"},
        {"stair_climb_status": "done", "stair_climb_s": Decimal(5)},
        {"stair_climb_status": "done", "stair_climb_s": Decimal(5), "stair_climb_steps": 21},
        {"pinch_left_kg": Decimal("30.1")},
        {"pinch_right_kg": Decimal("-1")},
        {"fvc_litres": Decimal("10.5")},
        {"abc_total_percent": Decimal("100.5")},
        {"falls_count": 2, "falls_indoors_count": 3},
        {"falls_count": 2, "falls_transfer_count": 3},
        {"falls_count": 4, "falls_indoors_count": 2, "falls_outdoors_count": 3},
    ],
)
def test_impossible_measures_cannot_be_stored(values):
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.AssessmentFactory(**values)


@pytest.mark.parametrize(
    ("muscle", "side", "grade"),
    [
        ("hip_flexion", "left", "6"),
        ("hip_flexion", "left", "3-"),
        ("neck_flexion", "left", "4"),
        ("hip_flexion", "midline", "4"),
    ],
)
def test_impossible_mmt_rows_cannot_be_stored(muscle, side, grade):
    assessment = factories.AssessmentFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        ManualMuscleTest.objects.create(assessment=assessment, muscle=muscle, side=side, grade=grade)


def test_a_movement_and_side_is_stored_once_per_assessment():
    assessment = factories.AssessmentFactory()
    ManualMuscleTest.objects.create(assessment=assessment, muscle="hip_flexion", side="left", grade="4")
    with pytest.raises(IntegrityError), transaction.atomic():
        ManualMuscleTest.objects.create(assessment=assessment, muscle="hip_flexion", side="left", grade="3")


# --- Access: patients read their own new fields, as before ---------------------------------------


@pytest.fixture
def own_and_other(own_patient, other_patient):
    def measured(patient):
        assessment = factories.AssessmentFactory(
            patient=patient,
            falls_count=2,
            falls_indoors_count=1,
            pinch_left_kg=Decimal("4.5"),
            ten_metre_walk_status="unable",
            abc_total_percent=Decimal("55.0"),
            mmt_sum_score=40,
        )
        ManualMuscleTest.objects.create(assessment=assessment, muscle="hip_flexion", side="left", grade="4-")
        return assessment

    return measured(own_patient), measured(other_patient)


def test_a_patient_reads_the_new_fields_of_their_own_assessment(patient_client, own_and_other):
    own, other = own_and_other

    detail = patient_client.get(f"{ASSESSMENTS}{own.uuid}/")
    listed = patient_client.get(ASSESSMENTS)

    assert detail.status_code == 200, detail.content
    data = detail.json()
    assert (data["pinch_left_kg"], data["ten_metre_walk_status"], data["ten_metre_walk_s"]) == (4.5, "unable", None)
    assert (data["falls_indoors_count"], data["abc_total_percent"], data["mmt_sum_score"]) == (1, 55.0, 40)
    assert data["manual_muscle_tests"] == [{"muscle": "hip_flexion", "side": "left", "grade": "4-"}]
    assert [row["id"] for row in listed.json()["results"]] == [str(own.uuid)]
    assert listed.json()["results"][0]["manual_muscle_tests"] == data["manual_muscle_tests"]
    assert patient_client.get(f"{ASSESSMENTS}{other.uuid}/").status_code == 404


def test_a_patient_still_cannot_write_the_new_fields(patient_client, own_patient, own_and_other):
    """A patient reports only what they can observe at home (docs/patient-reports.md): a measure taken
    in clinic is refused by name, and a clinician's assessment is not theirs to change."""
    own, _ = own_and_other

    created = post(patient_client, own_patient, source="patient", pinch_left_kg="5.0")
    changed = patient_client.patch(
        f"{ASSESSMENTS}{own.uuid}/", {"abc_total_percent": "90.0"}, format="json", HTTP_IF_MATCH='"1"'
    )

    assert fields_of(created, "pinch_left_kg")
    assert changed.status_code == 403
    own.refresh_from_db()
    assert own.abc_total_percent == Decimal("55.0")
    assert Assessment.objects.count() == 2


@pytest.mark.parametrize(("persona", "status"), [("researcher", 403), ("anonymous", 401)])
def test_researchers_and_anonymous_still_read_nothing(persona_clients, own_and_other, persona, status):
    own, _ = own_and_other
    client = persona_clients[persona]

    assert client.get(f"{ASSESSMENTS}{own.uuid}/").status_code == status
    assert client.get(ASSESSMENTS).status_code == status


def test_the_lean_output_of_the_new_fields_is_what_drf_gives():
    assessment = factories.AssessmentFactory(
        pinch_right_kg=Decimal("6.5"),
        stair_climb_status="done",
        stair_climb_s=Decimal("7.5"),
        stair_climb_steps=4,
        fvc_litres=Decimal("2.85"),
        fvc_reference_equation="gli_global_2022",
        abc_total_percent=Decimal("71.9"),
        mmt_sum_score=12,
    )
    ManualMuscleTest.objects.create(assessment=assessment, muscle="neck_flexion", side="midline", grade="4+")
    assessment.refresh_from_db()
    assessments_attach_measurements([assessment])
    serializer = AssessmentOutputSerializer()

    lean = serializer.to_representation(assessment)

    assert lean == super(LeanRepresentationMixin, serializer).to_representation(assessment)
    assert (lean["fvc_litres"], lean["stair_climb_s"]) == (Decimal("2.85"), Decimal("7.5"))
    assert lean["manual_muscle_tests"] == [{"muscle": "neck_flexion", "side": "midline", "grade": "4+"}]
