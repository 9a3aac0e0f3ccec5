"""A patient's page (`/staff/patients/<uuid>/`): everything the registry holds about them, the record's
history, and the links to enter and correct each record (views/records.py); and the invitation to
the patient portal sent from it."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from portal.invitations import EmailNotSent, invitation_create
from registry.dates import today
from registry.errors import ValidationError
from workspace.selectors import patient_for_page, patient_page
from workspace.views.access import patient_for_staff, staff_page

# The newest history entries shown; the whole history is in the API (/api/v1/patients/<id>/history/).
HISTORY_SHOWN = 100


@staff_page
@require_GET
def patient_detail(request, patient):
    patient = patient_for_staff(request, patient, patient_for_page())
    page = patient_page(patient=patient, today=today())
    context = {
        "page": page,
        "patient": patient,
        "history": page.history[:HISTORY_SHOWN],
        "history_cut": len(page.history) > HISTORY_SHOWN,
        "follow_up_months": settings.REGISTRY_FOLLOW_UP_MONTHS,
    }
    return render(request, "workspace/patient.html", context)


@staff_page
@require_POST
def patient_invite(request, patient):
    """Email the patient a link to claim their record (portal.invitations), to the address on record."""
    patient = patient_for_staff(request, patient)
    try:
        invitation = invitation_create(
            patient=patient, created_by=request.user, request_base_url=request.build_absolute_uri("/")
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except EmailNotSent:
        messages.error(request, _("The invitation email could not be sent; nothing was stored. Try again later."))
    else:
        messages.success(
            request, _("An invitation to the patient portal was sent to %(email)s.") % {"email": invitation.email}
        )
    return redirect("workspace:patient", patient=patient.uuid)
