"""Entering and correcting records from the staff workspace (docs/workspace.md, "Entering and
correcting records"). Thin views: a form checks shapes, the record's service applies the rules,
and everything goes through the same services as the API, with the same versions and review flags.

What a person typed is never lost: a form the rules refuse comes back with the messages at their
fields; a form opened on an older version of the record (someone else saved meanwhile) comes back
with what is saved now beside what was typed, ready to apply deliberately; a record deleted
meanwhile says so.

Every record is loaded among the patients the member may see (docs/sites.md): another site's
record answers 404, as if it did not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps

from django.contrib import messages
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from assessments import services as assessment_services
from assessments.models import Assessment, Milestone, MilestoneSource, Source
from patients import services as patient_services
from patients.access import limit_to_visible_patients
from patients.models import (
    ConsentGrant,
    ConsentPurpose,
    Diagnosis,
    EnrollmentStatus,
    Genotype,
    Patient,
    Treatment,
)
from registry.errors import RecordGoneError, StaleVersionError, ValidationError
from registry.idempotency import form_submission_is_first, form_token
from workspace.forms.records import (
    AssessmentForm,
    ConsentGrantForm,
    ConsentWithdrawalForm,
    DiagnosisForm,
    GenotypeForm,
    MilestoneForm,
    PatientForm,
    StatusForm,
    TreatmentForm,
)
from workspace.selectors import sites_for
from workspace.views.access import patient_for_staff, staff_page

FORM_TEMPLATE = "workspace/records/form.html"
GET_AND_POST = require_http_methods(["GET", "POST"])


@dataclass
class RecordPage:
    """One form page: what it edits, how it saves through the service, and how to read the record again."""

    patient: Patient
    title: str
    form_class: type
    save: Callable  # (form) -> the saved record; calls exactly one service
    record: Model | None = None  # None when the page creates one
    reload: Callable | None = None  # () -> the record as stored now, or None when it is gone
    template: str = FORM_TEMPLATE
    form_kwargs: dict = field(default_factory=dict)
    initial: dict = field(default_factory=dict)
    saved_message: str = ""
    context: dict = field(default_factory=dict)

    def form(self, **kwargs):
        return self.form_class(**self.form_kwargs, **kwargs)


def _patient_url(patient: Patient) -> str:
    return reverse("workspace:patient", kwargs={"patient": patient.uuid})


def _record_page(request, page: RecordPage):
    """GET: the form, filled from the record. POST: save through the service, or show the form again."""
    if request.method != "POST":
        initial = page.form_class.initial_from(page.record) if page.record is not None else page.initial
        return _render(request, page, page.form(initial={**initial, "submission": form_token()}))
    form = page.form(data=request.POST)
    if form.is_valid():
        try:
            with transaction.atomic():
                if not form_submission_is_first(user=request.user, token=form.cleaned_data["submission"]):
                    # A double tap or a resend: the first one saved it.
                    messages.info(request, _("This form had already been sent; it was saved once."))
                    return redirect(_patient_url(page.patient))
                record = page.save(form)
        except ValidationError as error:
            form.service_errors(error)
        except StaleVersionError:
            return _stale(request, page, form)
        except RecordGoneError:
            return _gone(request, page.patient)
        else:
            messages.success(request, page.saved_message or _("Saved."))
            _flags_message(request, record)
            return redirect(_patient_url(page.patient))
    return _render(request, page, form, status=400)


def _stale(request, page: RecordPage, typed_form):
    """Someone else saved the record since this form was opened: show both, keep what was typed.

    The form comes back bound to what was typed, now carrying the current version, so sending it
    again applies the typed values over the other change, deliberately and with the difference seen.
    """
    current = page.reload() if page.reload else None
    if current is None:
        return _gone(request, page.patient)
    data = request.POST.copy()
    data["version"] = str(current.version)
    form = page.form(data=data)
    form.is_valid()
    context = {"stale": True, "comparison": form.comparison(page.form_class.initial_from(current))}
    return _render(request, page, form, context, status=409)


def _gone(request, patient: Patient | None):
    return render(request, "workspace/records/gone.html", {"patient": patient}, status=404)


def _render(request, page: RecordPage, form, extra: dict | None = None, status: int = 200):
    context = {
        "page": page,
        "patient": page.patient,
        "title": page.title,
        "form": form,
        "patient_url": _patient_url(page.patient),
        **page.context,
        **(extra or {}),
    }
    return render(request, page.template, context, status=status)


def _flags_message(request, record) -> None:
    """A record saved with review flags says so at once; the flags also wait in the review queue."""
    for flag in getattr(record, "review_flags", None) or []:
        if isinstance(flag, dict) and flag.get("message"):
            messages.warning(request, _("For review: %(message)s") % {"message": flag["message"]})


def _visible_record(request, queryset: QuerySet, uuid):
    """A record of a patient the member may see, with that patient, or the "no longer exists" page.

    The page (status 404) serves a record deleted while its form was open as well as an unknown id,
    and says no more than a 404 would about another site's record.
    """
    record = limit_to_visible_patients(queryset.select_related("patient"), request.user).filter(uuid=uuid).first()
    if record is None:
        raise _RecordMissing
    return record


class _RecordMissing(Exception):
    pass


def _record_view(view):
    """Turns a missing record into the page saying so, with a way back to the patient when known."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except _RecordMissing:
            return _gone(request, _posted_patient(request))

    return wrapper


def _posted_patient(request) -> Patient | None:
    """The patient an edit form was opened for (a hidden field), to link back to; None if out of reach."""
    try:
        patient_uuid = uuid.UUID(request.POST.get("patient", ""))
    except ValueError:
        return None
    try:
        return patient_for_staff(request, patient_uuid)
    except Http404:
        return None


def _reload(queryset: QuerySet, record) -> Callable:
    return lambda: queryset.filter(pk=record.pk).first()


# --- Patient and status -----------------------------------------------------------------------------


@staff_page
@GET_AND_POST
def patient_edit(request, patient):
    queryset = Patient.objects.select_related("identity", "site")
    patient = patient_for_staff(request, patient, queryset)
    # An erased patient's identity stays blank (docs/consent.md, "Erasure"): the form has no identity fields.
    has_identity = hasattr(patient, "identity") and patient.erased_at is None

    def save(form):
        data, identity = form.values()
        return patient_services.patient_update(
            patient=patient,
            expected_version=form.cleaned_data["version"],
            data=data,
            identity=identity,
        )

    page = RecordPage(
        patient=patient,
        title=_("Edit patient details"),
        form_class=PatientForm,
        save=save,
        record=patient,
        reload=_reload(queryset, patient),
        form_kwargs={"sites": sites_for(request.user), "with_identity": has_identity},
        saved_message=_("The patient's details were saved."),
    )
    return _record_page(request, page)


@staff_page
@GET_AND_POST
def patient_status(request, patient):
    patient = patient_for_staff(request, patient, Patient.objects.select_related("identity"))
    allowed = patient_services.STATUS_TRANSITIONS[EnrollmentStatus(patient.status)]

    def save(form):
        data = form.cleaned_data
        patient_services.patient_change_status(
            patient=patient,
            status=data["status"],
            effective_date=data["effective_date"],
            reason=data["reason"],
            recorded_by=request.user,
        )

    page = RecordPage(
        patient=patient,
        title=_("Change enrollment status"),
        form_class=StatusForm,
        save=save,
        form_kwargs={"allowed": allowed},
        template="workspace/records/status_form.html",
        initial={"effective_date": timezone.localdate()},
        saved_message=_("The status was changed."),
        context={
            "current_status": patient.get_status_display(),
            "allowed": [EnrollmentStatus(status).label for status in EnrollmentStatus if status in allowed],
            "events": patient.enrollment_events.order_by("effective_date", "id"),
        },
    )
    return _record_page(request, page)


# --- Diagnosis and genotype ---------------------------------------------------------------------------


@staff_page
@GET_AND_POST
def diagnosis_edit(request, patient):
    """The patient's one diagnosis record: entered here the first time, corrected afterwards."""
    patient = patient_for_staff(request, patient, Patient.objects.select_related("identity"))
    queryset = Diagnosis.objects.all()
    diagnosis = queryset.filter(patient=patient).first()

    def save(form):
        if diagnosis is None:
            return patient_services.diagnosis_create(patient=patient, data=form.values())
        return patient_services.diagnosis_update(
            diagnosis=diagnosis, expected_version=form.cleaned_data["version"], data=form.values()
        )

    page = RecordPage(
        patient=patient,
        title=_("Diagnosis") if diagnosis is None else _("Correct the diagnosis"),
        form_class=DiagnosisForm,
        save=save,
        record=diagnosis,
        reload=_reload(queryset, diagnosis) if diagnosis else None,
        form_kwargs={"creating": diagnosis is None},
        saved_message=_("The diagnosis was saved."),
    )
    return _record_page(request, page)


def _with_notes(request, saved):
    """Genotype services return remarks on the variants as entered (a legacy name converted, ...)."""
    genotype, notes = saved
    for note in notes:
        messages.info(request, note)
    return genotype


@staff_page
@GET_AND_POST
def genotype_new(request, patient):
    patient = patient_for_staff(request, patient)
    existing = Genotype.objects.filter(patient=patient).only("uuid").first()
    if existing is not None:
        return redirect("workspace:genotype-edit", record=existing.uuid)
    page = RecordPage(
        patient=patient,
        title=_("GNE genotype"),
        form_class=GenotypeForm,
        save=lambda form: _with_notes(request, patient_services.genotype_create(patient=patient, data=form.values())),
        form_kwargs={"creating": True},
        saved_message=_("The genotype was saved."),
    )
    return _record_page(request, page)


@staff_page
@GET_AND_POST
@_record_view
def genotype_edit(request, record):
    queryset = Genotype.objects.all()
    genotype = _visible_record(request, queryset, record)
    page = RecordPage(
        patient=genotype.patient,
        title=_("Correct the GNE genotype"),
        form_class=GenotypeForm,
        save=lambda form: _with_notes(
            request,
            patient_services.genotype_update(
                genotype=genotype, expected_version=form.cleaned_data["version"], data=form.values()
            ),
        ),
        record=genotype,
        reload=_reload(queryset, genotype),
        saved_message=_("The genotype was saved."),
    )
    return _record_page(request, page)


# --- Assessments ------------------------------------------------------------------------------------


@staff_page
@GET_AND_POST
def assessment_new(request, patient):
    """Enter a visit: the most used page of the workspace."""
    patient = patient_for_staff(request, patient)
    page = RecordPage(
        patient=patient,
        title=_("Enter a visit"),
        form_class=AssessmentForm,
        save=lambda form: assessment_services.assessment_create(
            patient=patient, data=form.values(), dynamometry=form.dynamometry(), entered_by=request.user
        ),
        template="workspace/records/assessment_form.html",
        form_kwargs={"creating": True},
        initial={"source": Source.CLINICIAN, "assessment_date": timezone.localdate(timezone=patient.zone)},
        saved_message=_("The visit was saved."),
    )
    return _record_page(request, page)


@staff_page
@GET_AND_POST
@_record_view
def assessment_edit(request, record):
    queryset = Assessment.objects.all()
    assessment = _visible_record(request, queryset, record)
    page = RecordPage(
        patient=assessment.patient,
        title=_("Correct the visit of %(date)s") % {"date": assessment.assessment_date},
        form_class=AssessmentForm,
        # The dynamometry on the form replaces the visit's rows; manual muscle testing is not on
        # this form, so its rows are kept as stored.
        save=lambda form: assessment_services.assessment_update(
            assessment=assessment,
            expected_version=form.cleaned_data["version"],
            data=form.values(),
            dynamometry=form.dynamometry(),
        ),
        record=assessment,
        reload=_reload(queryset, assessment),
        template="workspace/records/assessment_form.html",
        saved_message=_("The visit was saved."),
    )
    return _record_page(request, page)


# --- Treatments and milestones ----------------------------------------------------------------------


@staff_page
@GET_AND_POST
def treatment_new(request, patient):
    patient = patient_for_staff(request, patient)
    page = RecordPage(
        patient=patient,
        title=_("Add a treatment"),
        form_class=TreatmentForm,
        save=lambda form: patient_services.treatment_create(patient=patient, data=form.values()),
        form_kwargs={"creating": True},
        saved_message=_("The treatment was saved."),
    )
    return _record_page(request, page)


@staff_page
@GET_AND_POST
@_record_view
def treatment_edit(request, record):
    queryset = Treatment.objects.all()
    treatment = _visible_record(request, queryset, record)
    page = RecordPage(
        patient=treatment.patient,
        title=_("Correct a treatment"),
        form_class=TreatmentForm,
        save=lambda form: patient_services.treatment_update(
            treatment=treatment, expected_version=form.cleaned_data["version"], data=form.values()
        ),
        record=treatment,
        reload=_reload(queryset, treatment),
        saved_message=_("The treatment was saved."),
    )
    return _record_page(request, page)


@staff_page
@GET_AND_POST
def milestone_new(request, patient):
    """A milestone reported retrospectively (derived ones follow the visits)."""
    patient = patient_for_staff(request, patient)
    page = RecordPage(
        patient=patient,
        title=_("Record a reported milestone"),
        form_class=MilestoneForm,
        save=lambda form: assessment_services.milestone_report(patient=patient, data=form.values()),
        form_kwargs={"creating": True},
        saved_message=_("The milestone was saved."),
    )
    return _record_page(request, page)


@staff_page
@GET_AND_POST
@_record_view
def milestone_edit(request, record):
    # Derived milestones are not edited (they follow the assessments): they are not found here.
    queryset = Milestone.objects.filter(source=MilestoneSource.REPORTED)
    milestone = _visible_record(request, queryset, record)
    page = RecordPage(
        patient=milestone.patient,
        title=_("Correct the reported milestone: %(kind)s") % {"kind": milestone.get_kind_display()},
        form_class=MilestoneForm,
        save=lambda form: assessment_services.milestone_update(
            milestone=milestone, expected_version=form.cleaned_data["version"], data=form.values()
        ),
        record=milestone,
        reload=_reload(queryset, milestone),
        saved_message=_("The milestone was saved."),
    )
    return _record_page(request, page)


# --- Consent given or withdrawn on paper (docs/consent.md) ---------------------------------------------


def _grants(patient: Patient) -> QuerySet:
    return ConsentGrant.objects.filter(patient=patient).select_related("document").order_by("-granted_on", "purpose")


@staff_page
@GET_AND_POST
def consent_new(request, patient):
    patient = patient_for_staff(request, patient)

    def save(form):
        data = form.cleaned_data
        patient_services.consent_grant(
            patient=patient,
            document=data["document"],
            purposes=sorted(set(data["purposes"])),
            granted_on=data["granted_on"],
            recorded_by=request.user,
        )

    page = RecordPage(
        patient=patient,
        title=_("Record a consent given on paper"),
        form_class=ConsentGrantForm,
        save=save,
        template="workspace/records/consent_form.html",
        saved_message=_("The consent was recorded."),
        context={"grants": _grants(patient)},
    )
    return _record_page(request, page)


@staff_page
@GET_AND_POST
def consent_withdraw(request, patient):
    """A withdrawal received on paper or by phone: every active grant of the purpose ends on that day."""
    patient = patient_for_staff(request, patient)
    purpose = request.GET.get("purpose")

    def save(form):
        data = form.cleaned_data
        patient_services.consent_withdraw(
            patient=patient, purpose=data["purpose"], withdrawn_on=data["withdrawn_on"], require_active=True
        )

    page = RecordPage(
        patient=patient,
        title=_("Record a withdrawal of consent"),
        form_class=ConsentWithdrawalForm,
        save=save,
        template="workspace/records/consent_form.html",
        initial={
            "purpose": purpose if purpose in ConsentPurpose.values else None,
            "withdrawn_on": timezone.localdate(),
        },
        saved_message=_("The withdrawal was recorded."),
        context={"grants": _grants(patient)},
    )
    return _record_page(request, page)
