"""The data-quality queue (docs/workspace.md, "Data-quality queue"): open review flags of diagnoses,
assessments and milestones, for the patients a member may see, each resolved by a decision with a
note; the record and its flags are left as they are, and the decisions keep their history."""

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from assessments import services as assessment_services
from assessments.models import Milestone
from patients import services as patient_services
from patients.erasure import erasure_confirmation_issue, patient_erase
from registry import roles
from registry.audit import Via
from tests import factories
from workspace import review
from workspace.models import ReviewDecision

pytestmark = pytest.mark.django_db

QUEUE = reverse("workspace:review-queue")


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


def _flag(code, field, message="Please check."):
    return {"code": code, "field": field, "message": message}


def _flagged_visit(patient, when=dt.date(2021, 5, 4), flags=None):
    return factories.AssessmentFactory(
        patient=patient,
        assessment_date=when,
        review_flags=flags or [_flag("wheelchair_but_walked", "six_minute_walk_m", "Wheelchair, but walked.")],
    )


def _resolve_url(kind, record):
    return reverse("workspace:review-resolve", kwargs={"kind": kind, "record": record.uuid})


@pytest.fixture
def flagged():
    """One flag of each kind of record, made by the services' own rules."""
    patient = factories.PatientFactory(status="enrolled")  # born 1980-06-15
    diagnosis = patient_services.diagnosis_create(
        patient=patient, data={"onset_date": dt.date(1985, 1, 1), "onset_date_precision": "year"}
    )
    visit = assessment_services.assessment_create(
        patient=patient,
        data={
            "assessment_date": dt.date(2021, 5, 4),
            "source": "clinician",
            "ambulation_class": 0,
            "wheelchair_use": "part_time",
        },
    )
    milestone = assessment_services.milestone_report(
        patient=patient, data={"kind": "cane", "date": dt.date(2015, 1, 1), "date_precision": "year"}
    )
    return patient, diagnosis, visit, milestone


def test_the_queue_lists_the_open_flags_of_every_kind_of_record(staff, flagged):
    patient, diagnosis, visit, milestone = flagged

    response = staff.get(QUEUE)

    assert response.status_code == 200
    shown = {(row["flag"].kind, row["flag"].record_uuid, row["flag"].code) for row in response.context["rows"]}
    assert shown == {
        ("diagnosis", diagnosis.uuid, "onset_age_unusual"),
        ("assessment", visit.uuid, "ambulation_wheelchair_mismatch"),
        ("milestone", milestone.uuid, "milestone_before_visit_below"),
    }
    page = response.content.decode()
    assert reverse("workspace:patient", kwargs={"patient": patient.uuid}) in page
    assert _resolve_url("assessment", visit) in page
    assert "3 open flags" in page


def test_the_queue_narrows_to_a_kind_of_flag(staff, flagged):
    response = staff.get(QUEUE, {"group": "onset"})

    assert [row["flag"].code for row in response.context["rows"]] == ["onset_age_unusual"]
    # An unknown kind is ignored, as any filter in a hand-edited link.
    assert len(staff.get(QUEUE, {"group": "nonsense"}).context["rows"]) == 3


def test_site_staff_see_only_their_sites_flags(client, site_staff_user, site_patient, elsewhere_patient):
    ours = _flagged_visit(site_patient)
    theirs = _flagged_visit(elsewhere_patient)
    client.force_login(site_staff_user)

    rows = client.get(QUEUE).context["rows"]

    assert [row["flag"].record_uuid for row in rows] == [ours.uuid]
    assert client.get(_resolve_url("assessment", theirs)).status_code == 404
    refused = client.post(
        _resolve_url("assessment", theirs),
        {"form_prefix": "q0", "q0-code": "wheelchair_but_walked", "q0-field": "six_minute_walk_m",
         "q0-outcome": "confirmed", "q0-note": "Looks fine"},
    )  # fmt: skip
    assert refused.status_code == 404
    assert not ReviewDecision.objects.exists()


def test_resolving_a_flag_writes_the_decision_and_leaves_the_record_as_it_was(staff, staff_user, flagged):
    patient, diagnosis, _visit, _milestone = flagged

    response = staff.post(
        _resolve_url("diagnosis", diagnosis),
        {
            "form_prefix": "q0",
            "next": QUEUE + "?group=onset",
            "q0-code": "onset_age_unusual",
            "q0-field": "onset_age",
            "q0-outcome": "confirmed",
            "q0-note": "Childhood onset confirmed in the 1990 clinic letter.",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == QUEUE + "?group=onset"
    decision = ReviewDecision.objects.get()
    assert (decision.patient, decision.target_type, decision.target_uuid) == (patient, "diagnosis", diagnosis.uuid)
    assert (decision.code, decision.field, decision.outcome) == ("onset_age_unusual", "onset_age", "confirmed")
    assert decision.note == "Childhood onset confirmed in the 1990 clinic letter."
    assert decision.decided_by == staff_user
    assert decision.flag_message.startswith("Onset at age 5")
    assert decision.history.get().via == Via.PAGE
    diagnosis.refresh_from_db()
    assert diagnosis.version == 1
    assert [flag["code"] for flag in diagnosis.review_flags] == ["onset_age_unusual"]  # the flag stays, resolved
    assert "onset_age_unusual" not in {row["flag"].code for row in staff.get(QUEUE).context["rows"]}


def test_a_decision_needs_a_note_and_what_was_typed_is_kept(staff, flagged):
    _patient, _diagnosis, visit, _milestone = flagged

    response = staff.post(
        _resolve_url("assessment", visit),
        {"form_prefix": "q3", "q3-code": "ambulation_wheelchair_mismatch", "q3-field": "wheelchair_use",
         "q3-outcome": "cannot_verify", "q3-note": "   "},
    )  # fmt: skip

    assert response.status_code == 400
    form = response.context["flags"][0]["form"]
    assert form.errors["note"]
    page = response.content.decode()
    assert re.search(r'<input type="radio" name="flag0-outcome" value="cannot_verify"[^>]* checked', page)
    assert 'href="#id_flag0-note"' in page  # the error summary links to the note
    assert not ReviewDecision.objects.exists()


def test_the_service_refuses_a_blank_note_and_a_flag_no_longer_on_the_record(staff_user, flagged):
    _patient, diagnosis, _visit, _milestone = flagged

    with pytest.raises(review.ValidationError) as blank:
        review.review_flag_resolve(
            record=diagnosis,
            code="onset_age_unusual",
            field="onset_age",
            outcome="confirmed",
            note=" ",
            decided_by=None,
        )
    assert "note" in blank.value.message_dict
    with pytest.raises(review.ValidationError) as missing:
        review.review_flag_resolve(
            record=diagnosis,
            code="onset_age_unusual",
            field="onset_date",
            outcome="confirmed",
            note="x",
            decided_by=None,
        )
    assert "no longer on the record" in missing.value.messages[0]


def test_a_flag_already_resolved_is_decided_again_only_on_purpose(staff, staff_user, flagged):
    _patient, _diagnosis, visit, _milestone = flagged
    first = factories.UserFactory(username="staff.first")
    review.review_flag_resolve(
        record=visit,
        code="ambulation_wheelchair_mismatch",
        field="wheelchair_use",
        outcome="cannot_verify",
        note="Patient not reachable.",
        decided_by=first,
    )
    sent = {"form_prefix": "q0", "q0-code": "ambulation_wheelchair_mismatch", "q0-field": "wheelchair_use",
            "q0-outcome": "corrected", "q0-note": "Fixed after the call."}  # fmt: skip

    unaware = staff.post(_resolve_url("assessment", visit), sent)

    assert unaware.status_code == 400
    assert "staff.first already resolved this flag" in unaware.content.decode()
    assert ReviewDecision.objects.get().outcome == "cannot_verify"

    # The record's page shows the decision and offers to replace it, deliberately.
    page = staff.get(_resolve_url("assessment", visit))
    assert "Patient not reachable." in page.content.decode()
    assert page.context["flags"][0]["form"].initial["replace"] is True
    replaced = staff.post(_resolve_url("assessment", visit), sent | {"q0-replace": "True"})

    assert replaced.status_code == 302
    decision = ReviewDecision.objects.get()
    assert (decision.outcome, decision.note, decision.decided_by) == ("corrected", "Fixed after the call.", staff_user)
    assert [row.outcome for row in decision.history.order_by("history_id")] == ["cannot_verify", "corrected"]


def test_a_correction_through_the_record_form_clears_the_flag_from_the_queue(staff, flagged):
    _patient, _diagnosis, visit, _milestone = flagged

    staff.post(
        reverse("workspace:assessment-edit", kwargs={"record": visit.uuid}),
        {"version": "1", "assessment_date": "2021-05-04", "source": "clinician", "ambulation_class": "4",
         "wheelchair_use": "part_time"},
    )  # fmt: skip

    visit.refresh_from_db()
    assert visit.review_flags == []
    assert "ambulation_wheelchair_mismatch" not in {row["flag"].code for row in staff.get(QUEUE).context["rows"]}


def test_open_review_flags_of_one_patient(flagged, staff_user):
    patient, diagnosis, visit, milestone = flagged
    factories.AssessmentFactory(review_flags=[_flag("wheelchair_but_walked", "six_minute_walk_m")])  # someone else
    review.review_flag_resolve(
        record=milestone,
        code="milestone_before_visit_below",
        field="date",
        outcome="confirmed",
        note="Patient confirms.",
        decided_by=staff_user,
    )

    flags = review.open_review_flags(patient=patient)

    assert {(flag.kind, flag.record_uuid) for flag in flags} == {
        ("diagnosis", diagnosis.uuid),
        ("assessment", visit.uuid),
    }
    assert {flag.record_label for flag in flags} == {"Diagnosis", "Assessment of 2021-05-04"}


def test_the_queue_is_paged(staff):
    patient = factories.PatientFactory()
    for day in range(review.QUEUE_PAGE_SIZE + 2):
        _flagged_visit(patient, when=dt.date(2020, 1, 1) + dt.timedelta(days=day))

    first, second = staff.get(QUEUE), staff.get(QUEUE, {"page": 2})

    assert len(first.context["rows"]) == review.QUEUE_PAGE_SIZE
    assert len(second.context["rows"]) == 2
    assert (second.context["queue"].total, second.context["queue"].pages) == (review.QUEUE_PAGE_SIZE + 2, 2)
    assert staff.get(QUEUE, {"page": 9}).context["queue"].total == review.QUEUE_PAGE_SIZE + 2
    assert staff.get(QUEUE, {"page": "x"}).status_code == 200
    # Found by probing: a page number beyond what SQL's OFFSET takes was a server error.
    far = staff.get(QUEUE, {"page": "99999999999999999999"})
    assert (far.status_code, far.context["rows"], far.context["queue"].total) == (200, [], review.QUEUE_PAGE_SIZE + 2)


@pytest.mark.parametrize("flags", [2, 30])
def test_the_queue_costs_the_same_queries_whatever_its_length(staff, flags, django_assert_num_queries):
    patient = factories.PatientFactory(site=factories.SiteFactory())
    for day in range(flags):
        _flagged_visit(patient, when=dt.date(2020, 1, 1) + dt.timedelta(days=day))

    with django_assert_num_queries(6) as captured:
        response = staff.get(QUEUE)

    assert response.status_code == 200
    assert len(response.context["rows"]) == min(flags, review.QUEUE_PAGE_SIZE)
    assert_queries(
        captured,
        'FROM "django_session"',  # the session
        'FROM "auth_user"',  # its user
        'FROM "auth_group"',  # the user's roles
        'FROM "patients_staffsitescope"',  # the user's sites (none: foundation-wide)
        "jsonb_array_elements",  # one page of open flags, with their records, patients and the total
        'FROM "patients_site"',  # the sites of the filter's select
    )


def assert_queries(captured, *fragments):
    """The queries run were these, in this order (each identified by a fragment of its SQL)."""
    sqls = [query["sql"] for query in captured.captured_queries]
    assert len(sqls) == len(fragments), sqls
    for sql, fragment in zip(sqls, fragments, strict=True):
        assert fragment in sql, (fragment, sql)


@pytest.mark.parametrize("role", [roles.PATIENT, roles.RESEARCHER])
def test_patients_and_researchers_are_refused(client, flagged, role):
    _patient, diagnosis, _visit, _milestone = flagged
    user = factories.UserFactory(username=f"someone-{role}")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    client.force_login(user)

    assert client.get(QUEUE).status_code == 403
    assert client.get(_resolve_url("diagnosis", diagnosis)).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client, flagged):
    _patient, diagnosis, _visit, _milestone = flagged

    for url in (QUEUE, _resolve_url("diagnosis", diagnosis)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_an_unknown_kind_of_record_is_not_found(staff, flagged):
    _patient, diagnosis, _visit, _milestone = flagged

    assert (
        staff.get(reverse("workspace:review-resolve", kwargs={"kind": "patient", "record": diagnosis.uuid})).status_code
        == 404
    )


def test_a_derived_milestone_has_no_correction_link(staff):
    patient = factories.PatientFactory()
    assessment_services.assessment_create(
        patient=patient, data={"assessment_date": dt.date(2021, 5, 4), "source": "clinician", "ambulation_class": 3}
    )
    derived = Milestone.objects.filter(patient=patient, source="derived").first()
    derived.review_flags = [_flag("milestone_before_visit_below", "date")]
    derived.save()

    assert staff.get(_resolve_url("milestone", derived)).context["edit_url"] == ""


def test_erasing_a_patient_removes_their_decisions_and_the_decisions_history(staff_user, flagged, settings):
    patient, diagnosis, _visit, _milestone = flagged
    review.review_flag_resolve(
        record=diagnosis, code="onset_age_unusual", field="onset_age", outcome="confirmed", note="ok", decided_by=None
    )
    settings.REGISTRY_ERASURE_POLICY = "erase"
    token, _expires = erasure_confirmation_issue(patient=patient, requested_by=staff_user)

    patient_erase(patient=patient, requested_by=staff_user, confirmation=token, registry_id=str(patient.uuid))

    assert not ReviewDecision.objects.exists()
    assert not ReviewDecision.history.exists()


def test_under_deidentify_an_erasure_blanks_the_decision_notes_and_their_history(staff_user, flagged, settings):
    patient, diagnosis, _visit, _milestone = flagged
    review.review_flag_resolve(
        record=diagnosis,
        code="onset_age_unusual",
        field="onset_age",
        outcome="confirmed",
        note="Her sister Miriam confirmed it by phone.",
        decided_by=None,
    )
    settings.REGISTRY_ERASURE_POLICY = "deidentify"
    token, _expires = erasure_confirmation_issue(patient=patient, requested_by=staff_user)

    patient_erase(patient=patient, requested_by=staff_user, confirmation=token, registry_id=str(patient.uuid))

    decision = ReviewDecision.objects.get()
    assert (decision.outcome, decision.note) == ("confirmed", "")
    assert "Miriam" not in str(list(ReviewDecision.history.values()))
