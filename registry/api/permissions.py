from django.conf import settings
from django.utils.module_loading import import_string
from rest_framework.permissions import SAFE_METHODS, BasePermission

from registry.roles import PATIENT, STAFF, is_staff_member, user_roles


def is_foundation_wide_staff(user) -> bool:
    """Staff whom no site limits (docs/sites.md): they alone act on what spans every site's patients.

    Sites belong to the patients app, which this app may not import; the check is named in the
    settings (REGISTRY_FOUNDATION_WIDE_CHECK) instead.
    """
    return is_staff_member(user) and import_string(settings.REGISTRY_FOUNDATION_WIDE_CHECK)(user)


class StaffOrOwnPatientReadOnly(BasePermission):
    """Staff may do everything; a patient may read what belongs to their own record.

    Which rows a patient sees is decided by the view's queryset (only their own), so another
    patient's record answers 404, the same as a record that does not exist.
    Researchers have no access to identifiable records: they get de-identified exports.
    """

    message = "Your role does not give access to patient records."

    def has_permission(self, request, view):
        roles = user_roles(request.user)
        if STAFF in roles:
            return True
        return PATIENT in roles and request.method in SAFE_METHODS


class StaffOrOwnPatientReports(StaffOrOwnPatientReadOnly):
    """As `StaffOrOwnPatientReadOnly`, and a patient may also take the view's `patient_write_actions`
    (sending and correcting their own reports, docs/patient-reports.md).

    This only lets the request through: the view's queryset still limits a patient to their own
    rows, and the services decide which of them a patient may change, and until when.
    """

    def has_permission(self, request, view):
        if super().has_permission(request, view):
            return True
        allowed = getattr(view, "patient_write_actions", ())
        return PATIENT in user_roles(request.user) and getattr(view, "action", None) in allowed


class StaffOnly(BasePermission):
    """Registry staff only, every method: invitations, tokens of other users, the audit trail,
    re-consent lists. Patients and researchers get 403, as for any record they may not see."""

    message = "Only registry staff can do this."

    def has_permission(self, request, view):
        return is_staff_member(request.user)


class FoundationWideStaffOnly(StaffOnly):
    """Staff whom no site limits: the tokens of other users, who may belong to any site. A site-limited
    member gets 403 with the reason, patients and researchers as for `StaffOnly` (docs/sites.md)."""

    message = "Only staff with access to every site can do this."

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            self.message = StaffOnly.message
            return False
        return is_foundation_wide_staff(request.user)
