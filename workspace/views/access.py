"""Who reaches the staff workspace: registry staff only, and each patient page only for staff who
may see that patient (docs/sites.md). Everyone else gets 403, anonymous visitors the login page."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404

from patients.access import can_see_patient
from patients.models import Patient
from registry.roles import is_staff_member


def staff_page(view):
    """Login required; only registry staff go on (patients and researchers get 403)."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_staff_member(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def patient_for_staff(request, patient_uuid, queryset=None) -> Patient:
    """The patient of a workspace page, or 404 when it does not exist or lies outside the member's sites.

    404 rather than 403 for another site's patient, as in the API: a site-limited member learns
    nothing about patients they may not see, not even that they exist.
    """
    patient = get_object_or_404(queryset if queryset is not None else Patient.objects.all(), uuid=patient_uuid)
    if not can_see_patient(request.user, patient):
        raise Http404
    return patient
