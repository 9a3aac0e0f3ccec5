"""The staff workspace under /staff/ (docs/workspace.md). Every page is for registry staff only,
and a site-limited member reaches only their sites' patients (docs/sites.md)."""

from django.urls import path

from workspace.views import enroll, erasure, find, followup, imports, patient, reconsent, records, review

app_name = "workspace"

urlpatterns = [
    # Finding and enrolling patients (views/find.py, views/enroll.py)
    path("", find.find, name="find"),
    path("enroll/", enroll.enroll, name="enroll"),
    # A patient's page: everything about them, with the record's history (views/patient.py)
    path("patients/<uuid:patient>/", patient.patient_detail, name="patient"),
    path("patients/<uuid:patient>/invite/", patient.patient_invite, name="patient-invite"),
    # Erasure on request, confirmed twice (views/erasure.py)
    path("patients/<uuid:patient>/erasure/", erasure.patient_erasure, name="patient-erasure"),
    # Entering and correcting records, all through the services (views/records.py)
    # -- records routes --
    path("patients/<uuid:patient>/edit/", records.patient_edit, name="patient-edit"),
    path("patients/<uuid:patient>/status/", records.patient_status, name="patient-status"),
    path("patients/<uuid:patient>/diagnosis/", records.diagnosis_edit, name="diagnosis-edit"),
    path("patients/<uuid:patient>/genotypes/new/", records.genotype_new, name="genotype-new"),
    path("genotypes/<uuid:record>/edit/", records.genotype_edit, name="genotype-edit"),
    path("patients/<uuid:patient>/assessments/new/", records.assessment_new, name="assessment-new"),
    path("assessments/<uuid:record>/edit/", records.assessment_edit, name="assessment-edit"),
    path("patients/<uuid:patient>/treatments/new/", records.treatment_new, name="treatment-new"),
    path("treatments/<uuid:record>/edit/", records.treatment_edit, name="treatment-edit"),
    path("patients/<uuid:patient>/milestones/new/", records.milestone_new, name="milestone-new"),
    path("milestones/<uuid:record>/edit/", records.milestone_edit, name="milestone-edit"),
    path("patients/<uuid:patient>/consents/new/", records.consent_new, name="consent-new"),
    # Withdrawal is by purpose (every active grant of it ends), so the page belongs to the patient.
    path("patients/<uuid:patient>/consents/withdraw/", records.consent_withdraw, name="consent-withdraw"),
    # Lists of work waiting (views/review.py, views/followup.py, views/reconsent.py)
    path("review/", review.review_queue, name="review-queue"),
    path("review/<slug:kind>/<uuid:record>/", review.review_resolve, name="review-resolve"),
    path("follow-up/", followup.follow_up, name="follow-up"),
    path("reconsent/", reconsent.reconsent, name="reconsent"),
    # Bulk import of a legacy spreadsheet (views/imports.py)
    path("import/", imports.import_upload, name="import"),
]
