"""What every API endpoint with patients' records builds on: sites as data-access groups (docs/sites.md).

A staff member limited to some sites sees and changes only those sites' patients through the API, as
on every other path. Another site's patient, or a record of theirs, answers 404 exactly as one that
does not exist: the answer must not tell that a record is there. tests/registry/test_site_access.py
fails for an API route that lists or changes patients' records without going through here.
"""

from patients.access import limit_to_visible_patients
from registry.api.fields import UUIDRelatedField
from registry.api.views import PatientScopedViewSet


class SiteScopedViewSet(PatientScopedViewSet):
    """`PatientScopedViewSet` with staff narrowed to the patients of their sites.

    `patient_path` is the ORM path from a row to its patient ("" when the rows are patients).
    """

    patient_path = "patient"

    def limit_for_staff(self, queryset):
        return limit_to_visible_patients(queryset, self.request.user, path=self.patient_path)


class VisiblePatientField(UUIDRelatedField):
    """A patient named by id in a request body, among those the requesting user may see.

    Another site's patient (for a site-limited member), or another patient's record (for a patient),
    is answered "No record with id ...", exactly as an id that does not exist.
    """

    def get_queryset(self):
        queryset = super().get_queryset()
        request = self.context.get("request")
        if request is None:  # no one to see for: nothing is visible
            return queryset.none()
        return limit_to_visible_patients(queryset, request.user, path="")
