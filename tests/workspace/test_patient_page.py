"""A patient's page (`/staff/patients/<uuid>/`): everything about the patient, the record's history,
links to enter and correct each record; another site's patient is a 404; fixed queries."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from assessments.models import AmbulationClass, Milestone, WheelchairUse
from assessments.services import assessment_create
from patients.models import ConsentDocument, ConsentPurpose, EnrollmentStatus, PatientIdentity, Treatment
from patients.services import consent_grant, consent_withdraw, genotype_create, patient_change_status, patient_update
from portal.models import Invitation
from registry import roles
from registry.audit import audit_context
from registry.history import history_models
from tests import factories
from workspace.models import ReviewDecision

pytestmark = pytest.mark.django_db


def _page(patient):
    return reverse("workspace:patient", kwargs={"patient": patient.uuid})


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


def _visit(patient, day, **values):
    data = {
        "assessment_date": day,
        "source": "clinician",
        "ambulation_class": AmbulationClass.CANE,
        "wheelchair_use": WheelchairUse.NONE,
        "devices": ["cane"],
        "falls_count": 1,
    }
    return assessment_create(patient=patient, data=data | values)


@pytest.fixture
def record(staff_user):
    """A patient with something in every section."""
    patient = factories.PatientFactory(identity=None, site=factories.SiteFactory(code="london"))
    PatientIdentity.objects.create(
        patient=patient,
        given_name="Miriam",
        family_name="Levi",
        date_of_birth=dt.date(1978, 2, 3),
        email="miriam@example.org",
        hospital_id="LDN-42",
    )
    with audit_context(via="page", user=staff_user):
        patient_change_status(patient=patient, status=EnrollmentStatus.ENROLLED, effective_date=dt.date(2015, 3, 1))
        factories.DiagnosisFactory(
            patient=patient,
            onset_date=dt.date(2005, 1, 1),
            onset_date_precision="year",
            onset_age=None,
            genetic_diagnosis_date=dt.date(2012, 6, 1),
            genetic_diagnosis_date_precision="month",
        )
        genotype_create(
            patient=patient, data={"allele1": "M712T", "allele2": "V572L", "allele1_acmg_class": "pathogenic"}
        )
        document = ConsentDocument.objects.create(
            code="registry-consent",
            version="2.0",
            title="Registry participation",
            effective_from=dt.date(2015, 1, 1),
            purposes=list(ConsentPurpose.values),
        )
        consent_grant(
            patient=patient, document=document, purposes=list(ConsentPurpose.values), granted_on=dt.date(2015, 3, 1)
        )
        consent_withdraw(patient=patient, purpose=ConsentPurpose.RECONTACT, withdrawn_on=dt.date(2020, 1, 1))
        _visit(patient, dt.date(2016, 5, 1), ambulation_class=AmbulationClass.UNAIDED, devices=[])
        # Contradictory mobility: stored, with a review flag.
        _visit(patient, dt.date(2019, 5, 1), wheelchair_use=WheelchairUse.FULL_TIME)
        Treatment.objects.create(
            patient=patient, kind="sialic_acid_er", start_date=dt.date(2017, 1, 1), start_date_precision="year"
        )
        patient_update(patient=patient, expected_version=patient.version + 1, data={}, identity={"phone": "+44 1"})
    return patient


def test_the_page_shows_every_part_of_the_record(staff, record):
    response = staff.get(_page(record))
    assert response.status_code == 200
    html = response.content.decode()
    # Identity and enrollment
    assert "Levi, Miriam" in html
    assert str(record.uuid) in html
    assert "3 February 1978" in html and "LDN-42" in html and "miriam@example.org" in html
    assert "Enrolled" in html and "1 Mar 2015" in html
    # Consent by purpose, with the document version
    consents = {state.purpose: state for state in response.context["page"].consents}
    assert consents["research"].active_grant is not None
    assert consents["recontact"].active_grant is None and consents["recontact"].grants
    assert "Registry participation v2.0" in html and "withdrawn 1 Jan 2020" in html
    # Diagnosis dates as precise as they are known
    assert '<time datetime="2005">2005</time>' in html
    assert '<time datetime="2012-06">June 2012</time>' in html
    # Genotype in both numberings
    assert "p.(Met743Thr)" in html and "p.(Val603Leu)" in html  # current
    assert "p.(Met712Thr)" in html and "(M712T)" in html  # legacy
    assert "V572L" in html
    assert "Classification" in html and "Pathogenic" in html and "Not given" in html  # staff only
    # Assessments over time, with their review flags, milestones and treatments
    assert "1 May 2016" in html and "1 May 2019" in html
    assert "flagged for review" in html
    assert "Cane or more walking support" in html  # derived from the visits
    assert "Sialic acid extended release" in html
    # The record's history, newest first: the phone number change is listed
    history = response.context["history"]
    assert history[0].at >= history[-1].at
    assert any(change.field == "phone" for entry in history for change in entry.changes)
    assert "staff.sam" in html


def test_a_flag_resolved_by_a_review_decision_is_shown_as_reviewed(staff, staff_user, record):
    flagged = record.assessments.exclude(review_flags=[]).get()
    flag = flagged.review_flags[0]
    assert "To review" in staff.get(_page(record)).content.decode()
    ReviewDecision.objects.create(
        patient=record,
        target_type="assessment",
        target_uuid=flagged.uuid,
        code=flag["code"],
        field=flag.get("field", ""),
        outcome="confirmed",
        note="Checked with the clinic.",
        decided_by=staff_user,
    )
    response = staff.get(_page(record))
    html = response.content.decode()
    assert "To review" not in html and "Reviewed" in html
    assert response.context["page"].flagged_records == 0
    assert "flagged for review" not in html


def test_the_page_links_to_every_record_entry_page(staff, record):
    html = staff.get(_page(record)).content.decode()
    genotype = record.genotype
    assessment = record.assessments.first()
    treatment = record.treatments.first()
    for name in (
        "patient-edit",
        "patient-status",
        "diagnosis-edit",
        "assessment-new",
        "treatment-new",
        "milestone-new",
    ):
        assert reverse(f"workspace:{name}", kwargs={"patient": record.uuid}) in html, name
    assert reverse("workspace:consent-new", kwargs={"patient": record.uuid}) in html
    assert reverse("workspace:consent-withdraw", kwargs={"patient": record.uuid}) + "?purpose=research" in html
    assert reverse("workspace:genotype-edit", kwargs={"record": genotype.uuid}) in html
    assert reverse("workspace:assessment-edit", kwargs={"record": assessment.uuid}) in html
    assert reverse("workspace:treatment-edit", kwargs={"record": treatment.uuid}) in html
    assert reverse("workspace:review-queue") in html


def test_a_reported_milestone_links_to_its_edit_page_and_a_derived_one_does_not(staff, record):
    reported = Milestone.objects.create(
        patient=record, kind="afo", source="reported", date=dt.date(2014, 1, 1), date_precision="year"
    )
    derived = record.milestones.get(source="derived", kind="cane")
    html = staff.get(_page(record)).content.decode()
    assert reverse("workspace:milestone-edit", kwargs={"record": reported.uuid}) in html
    assert reverse("workspace:milestone-edit", kwargs={"record": derived.uuid}) not in html


def test_a_new_patient_without_records_has_a_page_too(staff):
    patient = factories.PatientFactory()
    html = staff.get(_page(patient)).content.decode()
    assert "No diagnosis recorded yet." in html
    assert "No genotype recorded yet." in html
    assert reverse("workspace:genotype-new", kwargs={"patient": patient.uuid}) in html


def test_site_limited_staff_open_their_sites_patients_only(client, site_staff_user, site_patient, elsewhere_patient):
    client.force_login(site_staff_user)
    assert client.get(_page(site_patient)).status_code == 200
    assert client.get(_page(elsewhere_patient)).status_code == 404


def test_an_unknown_patient_is_a_404(staff):
    assert staff.get("/staff/patients/00000000-0000-0000-0000-000000000000/").status_code == 404


@pytest.mark.parametrize("role", [roles.PATIENT, roles.RESEARCHER])
def test_only_staff_reach_the_page(client, role, other_patient):
    user = factories.UserFactory(username=f"someone.{role}")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    client.force_login(user)
    assert client.get(_page(other_patient)).status_code == 403


# The request's session, user and roles; the patient with identity, site, account, diagnosis and
# genotype joined; the staff member's site scope; enrollment events; consent grants with their
# documents; assessments; treatments; milestones; the milestone intervals (diagnoses, derived and
# reported milestones); the open review flags (a visit here has one); the consent documents, for
# those asking for consent again (none here; one more query per such document): 15. Then the record history:
# one query per audited model that belongs to a patient (all but consent documents), and one per
# kind of record its rows refer to (here sites, variants and consent documents).
PAGE_QUERIES = 15
HISTORY_REFERENCES = 3


def test_queries_do_not_grow_with_the_record(staff, record, django_assert_num_queries):
    """More visits, treatments, and the history rows they write, read no more queries."""
    expected = PAGE_QUERIES + len(history_models()) - 1 + HISTORY_REFERENCES
    with django_assert_num_queries(expected):
        assert staff.get(_page(record)).status_code == 200
    for year in (2020, 2021, 2022):
        _visit(record, dt.date(year, 6, 1), ambulation_regain_confirmed=True)
        Treatment.objects.create(
            patient=record, kind="mannac", start_date=dt.date(year, 1, 1), start_date_precision="year"
        )
    with django_assert_num_queries(expected):
        assert staff.get(_page(record)).status_code == 200


def test_staff_invite_a_patient_to_the_portal_from_their_page(staff, staff_user, record, mailoutbox):
    assert "Invite to the portal" in staff.get(_page(record)).content.decode()
    invite = reverse("workspace:patient-invite", kwargs={"patient": record.uuid})
    response = staff.post(invite)
    assert response.status_code == 302 and response["Location"] == _page(record)
    invitation = Invitation.objects.get(patient=record)
    assert (invitation.email, invitation.created_by) == ("miriam@example.org", staff_user)
    assert [message.to for message in mailoutbox] == [["miriam@example.org"]]
    assert "An invitation to the patient portal was sent" in staff.get(response["Location"]).content.decode()
    assert staff.get(invite).status_code == 405


def test_an_invitation_without_an_email_is_refused_with_the_reason(staff):
    patient = factories.PatientFactory(identity__email="")
    response = staff.post(reverse("workspace:patient-invite", kwargs={"patient": patient.uuid}), follow=True)
    assert "no email address on record" in response.content.decode()
    assert not Invitation.objects.exists()


def test_site_limited_staff_cannot_invite_another_sites_patient(client, site_staff_user, elsewhere_patient):
    client.force_login(site_staff_user)
    response = client.post(reverse("workspace:patient-invite", kwargs={"patient": elsewhere_patient.uuid}))
    assert response.status_code == 404
    assert not Invitation.objects.exists()
