"""Enrolling a new patient (`/staff/enroll/`), with a check for someone already registered.

On a valid form the possible duplicates are looked up (`workspace.duplicates`). If there are any,
the form comes back with everything typed, a warning listing them (those of other sites by count
only), and a tick box "this is a different person" that must be ticked to go on; going on past the
warning is recorded in the audit trail.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from registry.errors import ValidationError
from registry.idempotency import form_submission_is_first, form_token
from workspace.duplicates import duplicate_candidates, patient_enroll
from workspace.forms.enroll import EnrollForm
from workspace.views.access import staff_page


def _show_service_errors(form: EnrollForm, error: ValidationError) -> None:
    """Put a service's messages at the fields they concern ("identity.date_of_birth" is date_of_birth)."""
    by_field = error.message_dict if hasattr(error, "error_dict") else {None: error.messages}
    renamed = {"effective_date": "enrolled_on"}
    for name, field_messages in by_field.items():
        name = renamed.get(name, (name or "").removeprefix("identity."))
        for message in field_messages:
            form.add_error(name if name in form.fields else None, message)


@staff_page
@require_http_methods(["GET", "POST"])
def enroll(request):
    form = EnrollForm(request.POST or None, user=request.user, initial={"submission": form_token()})
    candidates = []
    if request.method == "POST" and form.is_valid():
        identity = form.identity()
        candidates = duplicate_candidates(user=request.user, **identity)
        # Possible duplicates and no tick yet: the page comes back with the warning, nothing written.
        if not candidates or form.cleaned_data["different_person"]:
            try:
                with transaction.atomic():
                    if not form_submission_is_first(user=request.user, token=form.cleaned_data["submission"]):
                        # A double tap or a resend: the first one registered the patient.
                        messages.info(request, _("This form had already been sent; the patient was registered once."))
                        return redirect(f"{reverse('workspace:find')}?{urlencode({'q': identity['family_name']})}")
                    patient = patient_enroll(
                        data=form.patient_data(),
                        identity=identity,
                        status=form.cleaned_data["status"],
                        effective_date=form.enrollment_date(),
                        recorded_by=request.user,
                        overridden=candidates,
                    )
            except ValidationError as error:
                _show_service_errors(form, error)
            else:
                messages.success(
                    request,
                    _("%(name)s is registered (%(status)s).")
                    % {
                        "name": f"{identity['given_name']} {identity['family_name']}",
                        "status": patient.get_status_display(),
                    },
                )
                return redirect("workspace:patient", patient=patient.uuid)
    context = {
        "form": form,
        "candidates": [candidate for candidate in candidates if candidate.visible],
        "hidden_candidates": sum(1 for candidate in candidates if not candidate.visible),
        "show_override": bool(candidates),
    }
    return render(request, "workspace/enroll.html", context)
