"""Erasure on request from the staff workspace (`/staff/patients/<id>/erasure/`), confirmed twice
(docs/consent.md, "Erasure"): the page first says what the registry's policy will remove and keep,
with a signed confirmation valid for ten minutes; the member then types the patient's registry id
and confirms. Everything is `patients.erasure`'s; the page only asks."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from patients import erasure
from registry.errors import ValidationError
from workspace.forms.erasure import ErasureForm
from workspace.views.access import patient_for_staff, staff_page


@staff_page
@require_http_methods(["GET", "POST"])
def patient_erasure(request, patient):
    patient = patient_for_staff(request, patient)
    if patient.erased_at is not None:
        messages.info(request, _("This patient was already erased."))
        return redirect("workspace:patient", patient=patient.uuid)
    form = ErasureForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            policy = erasure.patient_erase(
                patient=patient,
                requested_by=request.user,
                confirmation=form.cleaned_data["token"],
                registry_id=form.cleaned_data["registry_id"],
                via="page",
            )
        except ValidationError as error:
            form.service_errors(error)
        else:
            if policy == erasure.ERASE:
                messages.success(request, _("The patient was erased: nothing of their record is left."))
                return redirect("workspace:find")
            messages.success(request, _("The patient was erased: their identity is gone, their data de-identified."))
            return redirect("workspace:patient", patient=patient.uuid)
    # A new confirmation for every statement shown: it names this member, this patient and the policy.
    plan = erasure.erasure_plan(patient=patient)
    token, expires_at = erasure.erasure_confirmation_issue(patient=patient, requested_by=request.user)
    context = {"patient": patient, "plan": plan, "form": form, "token": token, "expires_at": expires_at}
    return render(request, "workspace/erasure.html", context, status=400 if form.errors else 200)
