"""Deleted records through the API, limited to the patients of a staff member's sites (docs/sites.md).

`registry.api.audit.DeletedRecordsView` lists every deletion of one kind of record; the registry app
knows no sites, so the view served at `/api/v1/audit/deleted/` is this one.
"""

from django.db import models

from patients.access import staff_site_ids
from patients.models import Patient
from registry.api.audit import DeletedRecordsView
from registry.history import history_models


def _key_to(model, target) -> models.ForeignKey | None:
    return next(
        (f for f in model._meta.concrete_fields if isinstance(f, models.ForeignKey) and f.related_model is target),
        None,
    )


def patient_key_path(model) -> tuple[models.ForeignKey, models.ForeignKey | None] | None:
    """How rows of an audited model belong to a patient: `(key to the patient, None)`, or `(key to a
    parent record, the parent's key to the patient)` for parts of a record (an assessment's
    measurements). None for the patient itself and for what belongs to no patient (consent documents)."""
    if model is Patient:
        return None
    if key := _key_to(model, Patient):
        return key, None
    audited = {history.instance_type for history in history_models()}
    for key in model._meta.concrete_fields:
        is_part = isinstance(key, models.ForeignKey) and key.related_model in audited
        if is_part and (parent_key := _key_to(key.related_model, Patient)):
            return key, parent_key
    return None


def deleted_rows_of_sites(history, rows, site_ids):
    """The deletion rows of patients of these sites: patients there now, and patients deleted while there."""
    model = history.instance_type
    if model is Patient:
        return rows.filter(site_id__in=site_ids)  # where the patient was when deleted
    path = patient_key_path(model)
    if path is None:
        return rows  # belongs to no patient
    patients = (
        Patient.objects.filter(site__in=site_ids)
        .order_by()
        .values("pk")
        .union(Patient.history.filter(history_type="-", site__in=site_ids).order_by().values("id"))
    )
    key, parent_key = path
    if parent_key is None:
        return rows.filter(**{f"{key.attname}__in": patients})
    # Parts of a record: through their parent, kept or deleted since (whose patient only its history keeps).
    parent = key.related_model
    kept = parent._default_manager.filter(**{f"{parent_key.attname}__in": patients}).order_by().values("pk")
    deleted = parent.history.filter(**{f"{parent_key.attname}__in": patients}).order_by().values("id")
    return rows.filter(**{f"{key.attname}__in": kept.union(deleted)})


class SiteScopedDeletedRecordsView(DeletedRecordsView):
    """Deleted records of the patients of the member's sites; all of them for foundation-wide staff."""

    def limit_for_staff(self, history, rows):
        site_ids = staff_site_ids(self.request.user)
        return rows if site_ids is None else deleted_rows_of_sites(history, rows, site_ids)
