"""Entering and correcting every record type from the staff workspace (docs/workspace.md, "Entering
and correcting records"): what each form writes, the services' messages at their fields with what
was typed kept, and who may use the pages."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.urls import reverse

from assessments import services as assessment_services
from assessments.models import Assessment, DynamometryMeasurement, Milestone, MilestoneSource
from patients import services as patient_services
from patients.models import ConsentDocument, ConsentGrant, Diagnosis, EnrollmentEvent, Genotype, Treatment
from registry import roles
from registry.audit import Via
from registry.history import record_history
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def patient():
    """Born 1980-06-15 (the factory's identity), onset in 2005."""
    patient = factories.PatientFactory(status="enrolled")
    factories.DiagnosisFactory(patient=patient)
    return patient


@pytest.fixture
def consent_document():
    return ConsentDocument.objects.create(
        code="registry-consent",
        version="2.0",
        title="GNE registry participation",
        effective_from=dt.date(2020, 1, 1),
        purposes=["research", "recontact"],
    )


def _patient_url(patient):
    return reverse("workspace:patient", kwargs={"patient": patient.uuid})


def _visit(**values):
    data = {"assessment_date": "2021-05-04", "source": "clinician"}
    return data | values


def _assert_saved(response, patient):
    assert response.status_code == 302, response.content.decode()[:3000]
    assert response["Location"] == _patient_url(patient)


# --- Who may use the pages ---------------------------------------------------------------------------

PATIENT_PAGES = [
    "patient-edit",
    "patient-status",
    "diagnosis-edit",
    "genotype-new",
    "assessment-new",
    "treatment-new",
    "milestone-new",
    "consent-new",
    "consent-withdraw",
]


@pytest.mark.parametrize("name", PATIENT_PAGES)
def test_anonymous_visitors_are_sent_to_log_in(client, patient, name):
    response = client.get(reverse(f"workspace:{name}", kwargs={"patient": patient.uuid}))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", [roles.PATIENT, roles.RESEARCHER])
@pytest.mark.parametrize("name", PATIENT_PAGES)
def test_patients_and_researchers_are_refused(client, patient, name, role):
    user = factories.UserFactory(username=f"someone-{role}")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    client.force_login(user)

    url = reverse(f"workspace:{name}", kwargs={"patient": patient.uuid})

    assert client.get(url).status_code == 403
    assert client.post(url, {}).status_code == 403


@pytest.mark.parametrize("name", PATIENT_PAGES)
def test_another_sites_patient_does_not_exist_for_site_staff(client, site_staff_user, elsewhere_patient, name):
    client.force_login(site_staff_user)
    url = reverse(f"workspace:{name}", kwargs={"patient": elsewhere_patient.uuid})

    assert client.get(url).status_code == 404
    assert client.post(url, {"status": "enrolled", "effective_date": "2020-01-01"}).status_code == 404
    elsewhere_patient.refresh_from_db()
    assert elsewhere_patient.status == "candidate"


def test_another_sites_records_do_not_exist_for_site_staff(client, site_staff_user, site_patient, elsewhere_patient):
    client.force_login(site_staff_user)
    theirs = factories.AssessmentFactory(patient=elsewhere_patient, assessment_date=dt.date(2021, 1, 1))
    ours = factories.AssessmentFactory(patient=site_patient, assessment_date=dt.date(2021, 1, 1))
    genotype = factories.GenotypeFactory(patient=elsewhere_patient)
    treatment = Treatment.objects.create(
        patient=elsewhere_patient, kind="mannac", start_date=dt.date(2019, 1, 1), start_date_precision="year"
    )

    assert client.get(reverse("workspace:assessment-edit", kwargs={"record": ours.uuid})).status_code == 200
    for name, record in (("assessment-edit", theirs), ("genotype-edit", genotype), ("treatment-edit", treatment)):
        url = reverse(f"workspace:{name}", kwargs={"record": record.uuid})
        assert client.get(url).status_code == 404
        assert client.post(url, {"version": "1", "falls_count": "9"}).status_code == 404
    theirs.refresh_from_db()
    assert (theirs.version, theirs.falls_count) == (1, 2)


def test_site_staff_can_move_a_patient_only_among_their_own_sites(client, site_staff_user, site_patient):
    factories.SiteFactory(code="tel-aviv", name="Tel Aviv clinic", country="IL")
    client.force_login(site_staff_user)

    page = client.get(reverse("workspace:patient-edit", kwargs={"patient": site_patient.uuid})).content.decode()

    assert "London neuromuscular centre" in page
    assert "Tel Aviv clinic" not in page


# --- Patient details and status --------------------------------------------------------------------------


def _patient_form(patient, **changes):
    identity = patient.identity
    data = {
        "version": str(patient.version),
        "given_name": identity.given_name,
        "family_name": identity.family_name,
        "date_of_birth": "1980-06-15",
        "sex": "female",
        "country": "IL",
        "consanguinity": "unknown",
        "affected_relatives": "unknown",
        "email": identity.email,
        "phone": identity.phone,
        "national_id": identity.national_id,
    }
    return data | changes


def test_staff_correct_a_patients_details(staff, patient):
    response = staff.post(
        reverse("workspace:patient-edit", kwargs={"patient": patient.uuid}),
        _patient_form(patient, family_name="Levi", sex="male", ancestry=["ashkenazi_jewish", "mari"]),
    )

    _assert_saved(response, patient)
    patient.refresh_from_db()
    patient.identity.refresh_from_db()
    assert (patient.version, patient.sex, patient.ancestry) == (2, "male", ["ashkenazi_jewish", "mari"])
    assert patient.identity.family_name == "Levi"
    # Written through the page: the audit trail says so (docs/audit.md).
    assert patient.history.latest().via == Via.PAGE


def test_a_refused_patient_change_comes_back_with_the_message_at_the_field_and_what_was_typed(staff, patient):
    response = staff.post(
        reverse("workspace:patient-edit", kwargs={"patient": patient.uuid}),
        _patient_form(patient, family_name="Typed-Name", date_of_death="1970-01-01"),
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "Date of death is before the date of birth." in page
    assert 'id="id_date_of_death_error"' in page
    assert 'href="#id_date_of_death"' in page  # the error summary links to the field
    assert 'value="Typed-Name"' in page
    patient.refresh_from_db()
    assert patient.version == 1


def test_staff_change_a_patients_status(staff, staff_user):
    patient = factories.PatientFactory()
    response = staff.post(
        reverse("workspace:patient-status", kwargs={"patient": patient.uuid}),
        {"status": "enrolled", "effective_date": "2021-02-03", "reason": "Signed the consent form"},
    )

    _assert_saved(response, patient)
    patient.refresh_from_db()
    assert patient.status == "enrolled"
    event = EnrollmentEvent.objects.filter(patient=patient).latest("id")
    assert (event.effective_date, event.reason, event.recorded_by) == (
        dt.date(2021, 2, 3),
        "Signed the consent form",
        staff_user,
    )


def test_a_status_only_offers_what_may_follow_and_the_services_date_rules_apply(staff):
    patient = factories.PatientFactory()
    url = reverse("workspace:patient-status", kwargs={"patient": patient.uuid})

    assert 'value="lost_to_follow_up"' not in staff.get(url).content.decode()  # a candidate cannot be lost
    response = staff.post(url, {"status": "enrolled", "effective_date": "1970-01-01", "reason": "typed"})

    assert response.status_code == 400
    assert "before the date of birth" in response.content.decode()
    assert 'value="typed"' in response.content.decode()
    patient.refresh_from_db()
    assert patient.status == "candidate"


# --- Diagnosis and genotype ---------------------------------------------------------------------------


def _diagnosis_form(**values):
    data = {"first_symptom": "foot_drop", "biopsy_done": "no", "rimmed_vacuoles": "unknown"}
    return data | values


def test_staff_enter_a_diagnosis_and_an_unusual_onset_is_flagged_for_review(staff):
    patient = factories.PatientFactory()

    response = staff.post(
        reverse("workspace:diagnosis-edit", kwargs={"patient": patient.uuid}),
        _diagnosis_form(onset_date="1985", genetic_diagnosis_date="2019-03", genetically_confirmed="on"),
    )

    _assert_saved(response, patient)
    diagnosis = Diagnosis.objects.get(patient=patient)
    assert (diagnosis.onset_date, diagnosis.onset_date_precision) == (dt.date(1985, 1, 1), "year")
    assert (diagnosis.genetic_diagnosis_date, diagnosis.genetic_diagnosis_date_precision) == (
        dt.date(2019, 3, 1),
        "month",
    )
    assert diagnosis.onset_age == 5  # computed from the date: the middle of 1985
    assert [flag["code"] for flag in diagnosis.review_flags] == ["onset_age_unusual"]
    shown = [str(message) for message in staff.get(_patient_url(patient)).context["messages"]]
    assert any("For review" in message for message in shown)


def test_staff_correct_a_diagnosis(staff, patient):
    diagnosis = patient.diagnosis
    url = reverse("workspace:diagnosis-edit", kwargs={"patient": patient.uuid})
    form = staff.get(url).context["form"]
    assert form.initial["onset_date"] == "2005"
    assert form.initial["onset_age"] is None  # computed from the date, so not shown as typed

    response = staff.post(url, _diagnosis_form(version="1", onset_date="2006-04", ck_at_diagnosis="1200"))

    _assert_saved(response, patient)
    diagnosis.refresh_from_db()
    assert (diagnosis.version, diagnosis.onset_date, diagnosis.onset_age, diagnosis.ck_at_diagnosis) == (
        2,
        dt.date(2006, 4, 1),
        25,
        1200,
    )


def test_a_refused_diagnosis_shows_each_message_at_its_field(staff, patient):
    response = staff.post(
        reverse("workspace:diagnosis-edit", kwargs={"patient": patient.uuid}),
        _diagnosis_form(version="1", rimmed_vacuoles="yes", onset_date="2205"),
    )

    assert response.status_code == 400
    form = response.context["form"]
    assert "Rimmed vacuoles can only be recorded when a biopsy was done." in form.errors["rimmed_vacuoles"]
    assert form.errors["onset_date"]
    assert 'value="2205"' in response.content.decode()
    patient.diagnosis.refresh_from_db()
    assert patient.diagnosis.version == 1


def test_a_partial_date_that_is_no_date_is_refused_by_the_form(staff, patient):
    response = staff.post(
        reverse("workspace:diagnosis-edit", kwargs={"patient": patient.uuid}),
        _diagnosis_form(version="1", onset_date="spring 2005"),
    )

    assert response.status_code == 400
    assert response.context["form"].errors["onset_date"] == ["Enter a date as YYYY, YYYY-MM or YYYY-MM-DD."]


def test_staff_enter_and_correct_a_genotype(staff, patient):
    response = staff.post(
        reverse("workspace:genotype-new", kwargs={"patient": patient.uuid}),
        {"allele1": "M712T", "allele1_numbering": "legacy", "allele2": "M712T", "allele2_numbering": "legacy"},
    )

    _assert_saved(response, patient)
    genotype = Genotype.objects.get(patient=patient)
    assert (genotype.zygosity, genotype.allele1_entered_as, genotype.version) == ("homozygous", "M712T", 1)
    # A second "new" goes to the correction of the one there is.
    new_again = staff.get(reverse("workspace:genotype-new", kwargs={"patient": patient.uuid}))
    assert new_again["Location"] == reverse("workspace:genotype-edit", kwargs={"record": genotype.uuid})

    response = staff.post(
        reverse("workspace:genotype-edit", kwargs={"record": genotype.uuid}),
        {"version": "1", "allele1": "M712T", "allele1_numbering": "legacy", "allele2": "", "allele2_numbering": "auto"},
    )

    assert response.status_code == 400
    assert "mark the second allele as not found" in response.context["form"].errors["allele2"][0]
    response = staff.post(
        reverse("workspace:genotype-edit", kwargs={"record": genotype.uuid}),
        {
            "version": "1",
            "allele1": "M712T",
            "allele1_numbering": "legacy",
            "allele2_numbering": "auto",
            "second_allele_not_found": "on",
        },
    )
    _assert_saved(response, patient)
    genotype.refresh_from_db()
    assert (genotype.zygosity, genotype.version, genotype.allele2) == ("single_variant", 2, None)


# --- Visits (assessments) -------------------------------------------------------------------------------


def test_staff_enter_a_visit(staff, staff_user, patient):
    response = staff.post(
        reverse("workspace:assessment-new", kwargs={"patient": patient.uuid}),
        _visit(
            ambulation_class="2",
            devices=["cane", "afo"],
            wheelchair_use="none",
            falls_count="3",
            injurious_falls_count="1",
            six_minute_walk_m="310",
            ten_metre_walk_status="done",
            ten_metre_walk_s="9.4",
            grip_left_kg="18.5",
            ibmfrs_walking="2",
            treatments_taken=["mannac"],
            comment="  Uses the cane outdoors only.  ",
        ),
    )

    _assert_saved(response, patient)
    visit = Assessment.objects.get(patient=patient)
    assert visit.assessment_date == dt.date(2021, 5, 4)
    assert (visit.source, visit.entered_by, visit.ambulation_class) == ("clinician", staff_user, 2)
    assert visit.devices == ["afo", "cane"]
    assert (visit.falls_count, visit.injurious_falls_count) == (3, 1)
    assert (visit.six_minute_walk_status, visit.six_minute_walk_m) == ("done", 310)  # a distance means done
    assert (visit.ten_metre_walk_s, visit.grip_left_kg) == (Decimal("9.4"), Decimal("18.5"))
    assert (visit.ibmfrs_walking, visit.treatments_taken, visit.comment) == (
        2,
        ["mannac"],
        "Uses the cane outdoors only.",
    )
    assert visit.review_flags == []
    assert visit.history.latest().via == Via.PAGE


def test_a_visit_with_a_mistake_comes_back_with_everything_typed(staff, patient):
    response = staff.post(
        reverse("workspace:assessment-new", kwargs={"patient": patient.uuid}),
        _visit(assessment_date="1979-01-01", falls_count="2", injurious_falls_count="5", comment="Typed comment"),
    )

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["assessment_date"] == ["The assessment date is before the date of birth (1980-06-15)."]
    assert errors["injurious_falls_count"] == ["Injurious falls (5) cannot exceed falls (2)."]
    page = response.content.decode()
    assert 'value="5"' in page and "Typed comment" in page and 'value="1979-01-01"' in page
    assert not Assessment.objects.filter(patient=patient).exists()


def test_a_visit_sent_twice_is_saved_once_and_a_refused_one_can_be_sent_again_corrected(staff, patient):
    url = reverse("workspace:assessment-new", kwargs={"patient": patient.uuid})
    token = staff.get(url).context["form"]["submission"].value()
    assert token  # a one-time token in a hidden field

    refused = staff.post(url, _visit(assessment_date="1979-01-01", submission=token))
    first = staff.post(url, _visit(submission=token))
    again = staff.post(url, _visit(submission=token))  # a double tap, or a resend after a slow answer

    assert refused.status_code == 400 and f'name="submission" value="{token}"' in refused.content.decode()
    assert (first.status_code, again.status_code) == (302, 302)
    assert Assessment.objects.filter(patient=patient).count() == 1
    assert "already been sent" in str(list(get_messages(again.wsgi_request))[-1])


def test_a_visit_with_dynamometry_stores_one_row_per_muscle_and_side_and_refuses_an_impossible_force(staff, patient):
    url = reverse("workspace:assessment-new", kwargs={"patient": patient.uuid})

    refused = staff.post(url, _visit(hhd_elbow_flexion_left="9.5", hhd_hip_flexion_right="900"))
    saved = staff.post(url, _visit(hhd_elbow_flexion_left="9.5", hhd_hip_flexion_right="11.0"))

    assert refused.status_code == 400
    assert refused.context["form"].errors["hhd_hip_flexion_right"]  # at the field of that muscle and side
    assert 'value="9.5"' in refused.content.decode()
    _assert_saved(saved, patient)
    visit = Assessment.objects.get(patient=patient)
    assert sorted(visit.dynamometry.values_list("muscle_group", "side", "kg")) == [
        ("elbow_flexion", "left", Decimal("9.5")),
        ("hip_flexion", "right", Decimal("11.0")),
    ]


def test_a_contradictory_visit_is_saved_with_a_review_flag(staff, patient):
    response = staff.post(
        reverse("workspace:assessment-new", kwargs={"patient": patient.uuid}),
        _visit(
            ambulation_class="5", wheelchair_use="full_time", six_minute_walk_status="done", six_minute_walk_m="120"
        ),
    )

    _assert_saved(response, patient)
    visit = Assessment.objects.get(patient=patient)
    assert [(flag["code"], flag["field"]) for flag in visit.review_flags] == [
        ("wheelchair_but_walked", "six_minute_walk_m")
    ]


def test_staff_correct_a_visit_and_its_dynamometry(staff, patient):
    visit = assessment_services.assessment_create(
        patient=patient,
        data={"assessment_date": dt.date(2021, 5, 4), "source": "clinician", "falls_count": 2},
        dynamometry=[{"muscle_group": "knee_extension", "side": "left", "kg": Decimal("12.0")}],
    )
    url = reverse("workspace:assessment-edit", kwargs={"record": visit.uuid})
    initial = staff.get(url).context["form"].initial
    assert (initial["version"], initial["falls_count"], initial["hhd_knee_extension_left"]) == (1, 2, Decimal("12.0"))

    response = staff.post(
        url,
        _visit(
            version="1",
            falls_count="4",
            fractures_count="",
            ambulation_class="3",
            hhd_knee_extension_left="12.5",
            hhd_knee_extension_right="13.0",
        ),
    )

    _assert_saved(response, patient)
    visit.refresh_from_db()
    assert (visit.version, visit.falls_count, visit.ambulation_class) == (2, 4, 3)
    rows = DynamometryMeasurement.objects.filter(assessment=visit).order_by("side")
    assert [(row.muscle_group, row.side, row.kg) for row in rows] == [
        ("knee_extension", "left", Decimal("12.5")),
        ("knee_extension", "right", Decimal("13.0")),
    ]
    # The derived milestones follow the corrected visit, as through the API.
    assert Milestone.objects.filter(patient=patient, source=MilestoneSource.DERIVED, kind="walker").exists()
    # The audit trail has the correction: who, through the pages, with the old and new values.
    correction = [
        entry
        for entry in record_history(patient)
        if entry.record_type == "assessment" and entry.action == "changed" and entry.record_id == str(visit.uuid)
    ]
    assert [(entry.username, entry.via, entry.version) for entry in correction] == [("staff.sam", "page", 2)]
    changes = {change.field: (change.old, change.new) for change in correction[0].changes}
    assert changes["falls_count"] == (2, 4)


# --- Treatments and milestones -----------------------------------------------------------------------------


def test_staff_add_and_correct_a_treatment(staff, patient):
    url = reverse("workspace:treatment-new", kwargs={"patient": patient.uuid})
    response = staff.post(url, {"kind": "sialic_acid_er", "start_date": "2015-03", "trial_registration": "NCT02377921"})

    assert response.status_code == 400
    assert "mark the treatment as part of a trial" in response.context["form"].errors["in_clinical_trial"][0]

    response = staff.post(
        url,
        {
            "kind": "sialic_acid_er",
            "start_date": "2015-03",
            "in_clinical_trial": "on",
            "trial_registration": "NCT02377921",
        },
    )
    _assert_saved(response, patient)
    treatment = Treatment.objects.get(patient=patient)
    assert (treatment.start_date, treatment.start_date_precision, treatment.in_clinical_trial) == (
        dt.date(2015, 3, 1),
        "month",
        True,
    )

    edit = reverse("workspace:treatment-edit", kwargs={"record": treatment.uuid})
    refused = staff.post(edit, {"version": "1", "kind": "sialic_acid_er", "start_date": "2015-03", "stop_date": "2014"})
    assert refused.status_code == 400
    assert "before it starts" in refused.context["form"].errors["stop_date"][0]
    response = staff.post(
        edit, {"version": "1", "kind": "sialic_acid_er", "start_date": "2015-03", "stop_date": "2018"}
    )
    _assert_saved(response, patient)
    treatment.refresh_from_db()
    assert (treatment.version, treatment.stop_date, treatment.stop_date_precision) == (2, dt.date(2018, 1, 1), "year")


def test_staff_record_and_correct_a_reported_milestone(staff, patient):
    response = staff.post(
        reverse("workspace:milestone-new", kwargs={"patient": patient.uuid}), {"kind": "cane", "date": "2012-06"}
    )

    _assert_saved(response, patient)
    milestone = Milestone.objects.get(patient=patient, source=MilestoneSource.REPORTED)
    assert (milestone.kind, milestone.date, milestone.date_precision) == ("cane", dt.date(2012, 6, 1), "month")

    edit = reverse("workspace:milestone-edit", kwargs={"record": milestone.uuid})
    refused = staff.post(edit, {"version": "1", "date": "2012", "skipped": "on"})
    assert refused.status_code == 400
    assert refused.context["form"].errors["skipped"] == ["A skipped step has no date or age."]
    response = staff.post(edit, {"version": "1", "age_years": "33"})
    _assert_saved(response, patient)
    milestone.refresh_from_db()
    assert (milestone.version, milestone.date, milestone.age_years) == (2, None, 33)


def test_derived_milestones_are_not_edited_here(staff, patient):
    assessment_services.assessment_create(
        patient=patient, data={"assessment_date": dt.date(2021, 5, 4), "source": "clinician", "ambulation_class": 3}
    )
    derived = Milestone.objects.filter(patient=patient, source=MilestoneSource.DERIVED).first()

    response = staff.get(reverse("workspace:milestone-edit", kwargs={"record": derived.uuid}))

    assert response.status_code == 404


# --- Consent on paper -------------------------------------------------------------------------------------


def test_staff_record_a_consent_given_on_paper(staff, staff_user, patient, consent_document):
    url = reverse("workspace:consent-new", kwargs={"patient": patient.uuid})

    refused = staff.post(
        url, {"document": consent_document.pk, "purposes": ["trial_matching"], "granted_on": "2021-03-04"}
    )
    assert refused.status_code == 400
    assert "does not ask consent for: trial_matching" in refused.context["form"].errors["purposes"][0]

    response = staff.post(
        url, {"document": consent_document.pk, "purposes": ["research", "recontact"], "granted_on": "2021-03-04"}
    )

    _assert_saved(response, patient)
    grants = ConsentGrant.objects.filter(patient=patient).order_by("purpose")
    assert [(g.purpose, g.granted_on, g.recorded_by, g.withdrawn_on) for g in grants] == [
        ("recontact", dt.date(2021, 3, 4), staff_user, None),
        ("research", dt.date(2021, 3, 4), staff_user, None),
    ]


def test_staff_record_a_withdrawal_of_consent(staff, patient, consent_document):
    patient_services.consent_grant(
        patient=patient, document=consent_document, purposes=["research"], granted_on=dt.date(2021, 3, 4)
    )
    url = reverse("workspace:consent-withdraw", kwargs={"patient": patient.uuid})
    assert staff.get(url + "?purpose=research").context["form"].initial["purpose"] == "research"

    nothing_active = staff.post(url, {"purpose": "recontact", "withdrawn_on": "2022-01-01"})
    assert nothing_active.status_code == 400
    assert "no active consent for recontact" in nothing_active.context["form"].errors["purpose"][0]

    response = staff.post(url, {"purpose": "research", "withdrawn_on": "2022-01-01"})

    _assert_saved(response, patient)
    assert ConsentGrant.objects.get(patient=patient, purpose="research").withdrawn_on == dt.date(2022, 1, 1)


@pytest.mark.parametrize(
    "name",
    ["patient-edit", "patient-status", "diagnosis-edit", "genotype-new", "assessment-new", "treatment-new",
     "milestone-new", "consent-new", "consent-withdraw"],
)  # fmt: skip
def test_every_form_page_opens_for_staff(staff, patient, consent_document, name):
    response = staff.get(reverse(f"workspace:{name}", kwargs={"patient": patient.uuid}))

    assert response.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in response.content


def test_an_erased_patients_identity_is_not_offered_for_editing(staff):
    patient = factories.PatientFactory(erased_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    url = reverse("workspace:patient-edit", kwargs={"patient": patient.uuid})

    assert "given_name" not in staff.get(url).context["form"].fields
    response = staff.post(
        url,
        {"version": "1", "sex": "male", "country": "IL", "consanguinity": "unknown", "affected_relatives": "unknown",
         "given_name": "Someone"},
    )  # fmt: skip

    _assert_saved(response, patient)
    patient.refresh_from_db()
    patient.identity.refresh_from_db()
    assert patient.sex == "male"
    assert patient.identity.given_name != "Someone"


def test_a_closed_record_offers_no_status_change(staff):
    patient = factories.PatientFactory(status="deceased")

    page = staff.get(reverse("workspace:patient-status", kwargs={"patient": patient.uuid})).content.decode()

    assert "Nothing: the record is closed." in page
    assert 'name="status"' not in page
