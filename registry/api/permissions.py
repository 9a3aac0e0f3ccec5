from rest_framework.permissions import SAFE_METHODS, BasePermission

from registry.roles import PATIENT, STAFF, user_roles


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
