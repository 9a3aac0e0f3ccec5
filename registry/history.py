"""Reading the record history (docs/audit.md, "Reading it"): one patient's changes, and deleted records.

The registry app knows no clinical model: the audited models are found by their historical tables
(every one is built on `registry.audit.AuditTrailRow`), and how each reaches a patient is read from
its foreign keys. Values are shown as the API shows them: a record by its public id, a user by
username, reference data (variant, site, consent document) by its name; database keys never.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import models

from registry.audit import AuditTrailRow

ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}
# Bookkeeping that changes on every save, or is the record's identity rather than its content.
NOT_SHOWN = frozenset({"id", "uuid", "version", "created_at", "updated_at"})


@dataclass
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass
class HistoryEntry:
    at: Any
    action: str  # created, changed, deleted
    record_type: str  # the model's name, e.g. "assessment", "dynamometrymeasurement"
    record_id: str | None  # the public id of the record, or of the record it is part of
    username: str
    via: str
    version: int | None
    reason: str  # why, when the writer said (e.g. "restored"); usually empty
    changes: list[FieldChange] = field(default_factory=list)
    # False for the first recorded change of a record written before it was audited (the demo data,
    # written in bulk): its values after the change are listed, with `old` unknown (None).
    old_values_known: bool = True
    history_id: int = 0


def history_models() -> list[type[models.Model]]:
    """The historical model of every audited model."""
    return [model for model in apps.get_models() if issubclass(model, AuditTrailRow)]


def history_model_for(record_type: str) -> type[models.Model] | None:
    for model in history_models():
        if model.instance_type._meta.model_name == record_type:
            return model
    return None


def record_types() -> list[str]:
    return sorted(model.instance_type._meta.model_name for model in history_models())


def _foreign_keys(model) -> list[models.ForeignKey]:
    return [f for f in model._meta.concrete_fields if isinstance(f, models.ForeignKey)]


def _fk_to(model, target) -> models.ForeignKey | None:
    return next((f for f in _foreign_keys(model) if f.related_model is target), None)


@dataclass
class _PatientPath:
    """How rows of one audited model belong to a patient: directly (`patient`), or through a parent
    record that does (an assessment's dynamometry)."""

    history: type[models.Model]
    own_key: models.ForeignKey | None  # the model's key to the patient, or to the parent
    parent: type[models.Model] | None = None  # the parent's model, when through one
    parent_history: type[models.Model] | None = None


def _patient_paths(patient_model) -> list[_PatientPath]:
    paths = []
    audited = {model.instance_type: model for model in history_models()}
    for model, history in audited.items():
        if model is patient_model:
            paths.append(_PatientPath(history, None))
        elif key := _fk_to(model, patient_model):
            paths.append(_PatientPath(history, key))
        else:
            for key in _foreign_keys(model):
                if key.related_model in audited and _fk_to(key.related_model, patient_model):
                    paths.append(_PatientPath(history, key, key.related_model, audited[key.related_model]))
                    break
            # Otherwise the model belongs to no patient (consent document versions): not listed.
    return paths


def _rows_of_patient(path: _PatientPath, patient) -> list:
    history = path.history
    if path.own_key is None:
        rows = history.objects.filter(id=patient.pk)
    elif path.parent is None:
        rows = history.objects.filter(**{path.own_key.attname: patient.pk})
    else:
        # Parents still present, and parents deleted since (whose ids only their history keeps). One
        # union rather than two ORed IN lists, which PostgreSQL can only check row by row.
        parent_key = _fk_to(path.parent, type(patient)).attname
        present = path.parent._default_manager.filter(**{parent_key: patient.pk}).order_by().values("pk")
        deleted = path.parent_history.objects.filter(**{parent_key: patient.pk}).order_by().values("id")
        rows = history.objects.filter(**{f"{path.own_key.attname}__in": present.union(deleted)})
    return list(rows.order_by("id", "history_date", "history_id"))


class _References:
    """Turns foreign-key values into what the API shows (a public id, else a name: a variant's, a site's, a
    user's), with one query per referenced model."""

    def __init__(self, known_public_ids: dict | None = None):
        self.wanted: dict[type[models.Model], set] = defaultdict(set)
        # (model, pk) -> public id, for records already read (possibly deleted since).
        self.known: dict[tuple[type[models.Model], Any], str] = dict(known_public_ids or {})
        self.resolved: dict[tuple[type[models.Model], Any], Any] = {}

    def want(self, key: models.ForeignKey, value) -> None:
        if value is not None and (key.related_model, value) not in self.known:
            self.wanted[key.related_model].add(value)

    def resolve(self) -> None:
        for model, ids in self.wanted.items():
            has_uuid = any(f.name == "uuid" for f in model._meta.concrete_fields)
            for obj in model._default_manager.filter(pk__in=ids):
                self.resolved[(model, obj.pk)] = str(obj.uuid) if has_uuid else str(getattr(obj, "name", None) or obj)

    def show(self, key: models.ForeignKey, value):
        if value is None:
            return None
        ref = (key.related_model, value)
        if ref in self.known:
            return self.known[ref]
        # A record deleted before its history was kept: say so rather than show its database key.
        return self.resolved.get(ref, "(deleted)")


def _shown_fields(history, hidden: set[str]) -> list[models.Field]:
    return [f for f in history.tracked_fields if f.name not in NOT_SHOWN and f.name not in hidden]


def _value(row, f: models.Field, refs: _References):
    value = getattr(row, f.attname)
    if isinstance(f, models.ForeignKey):
        return refs.show(f, value)
    # As stored: a country's code rather than its object, for instance.
    return f.get_prep_value(value)


def _changes(old, new, fields: list[models.Field], refs: _References) -> list[FieldChange]:
    """Field-level old -> new between two rows of one record.

    simple-history's `diff_against` compares the editable fields; it skips the computed ones (review
    flags, totals, zygosity, milestone bounds), which are compared here, as they are part of what changed.
    """
    names = {f.name: f for f in fields}
    editable = [name for name, f in names.items() if f.editable]
    changed = {change.field for change in new.diff_against(old, included_fields=editable).changes}
    changed |= {
        name for name, f in names.items() if not f.editable and getattr(old, f.attname) != getattr(new, f.attname)
    }
    return [
        FieldChange(name, _value(old, names[name], refs), _value(new, names[name], refs)) for name in sorted(changed)
    ]


def _snapshot(row, fields: list[models.Field], refs: _References, *, deleted: bool) -> list[FieldChange]:
    """Every value of a created row (old: None) or of a deleted one (new: None), empty ones left out."""
    changes = []
    for f in fields:
        value = _value(row, f, refs)
        if value in (None, "", [], {}):
            continue
        changes.append(FieldChange(f.name, value, None) if deleted else FieldChange(f.name, None, value))
    return changes


def record_history(patient) -> list[HistoryEntry]:
    """Every recorded change of every audited record of one patient, oldest first, with field-level
    old and new values. One query per audited model, plus one per kind of record referred to (users,
    variants, sites, ...): the count does not grow with the number of changes."""
    paths = _patient_paths(type(patient))
    rows_by_path = [(path, _rows_of_patient(path, patient)) for path in paths]

    # Public ids of every record read, deleted ones included, so references to them need no query.
    known = {(type(patient), patient.pk): str(patient.uuid)}
    for path, rows in rows_by_path:
        if any(f.name == "uuid" for f in path.history.tracked_fields):
            known.update({(path.history.instance_type, row.id): str(row.uuid) for row in rows})
    refs = _References(known)
    for path, rows in rows_by_path:
        for row in rows:
            for key in _foreign_keys(path.history):
                refs.want(key, getattr(row, key.attname))
    refs.resolve()

    entries = []
    for path, rows in rows_by_path:
        history = path.history
        model = history.instance_type
        hidden = {path.own_key.name} if path.own_key is not None else set()
        fields = _shown_fields(history, hidden)
        has_uuid = any(f.name == "uuid" for f in history.tracked_fields)
        previous = None
        for row in rows:
            if has_uuid:
                record_id = str(row.uuid)
            elif path.parent is not None:
                record_id = refs.show(path.own_key, getattr(row, path.own_key.attname))
            else:
                record_id = str(patient.uuid)
            first = previous is None or previous.id != row.id
            if row.history_type == "~" and not first:
                changes = _changes(previous, row, fields, refs)
            else:
                changes = _snapshot(row, fields, refs, deleted=row.history_type == "-")
            entries.append(
                HistoryEntry(
                    at=row.history_date,
                    action=ACTIONS[row.history_type],
                    record_type=model._meta.model_name,
                    record_id=record_id,
                    username=row.history_username,
                    via=row.via,
                    version=getattr(row, "version", None),
                    reason=row.history_change_reason or "",
                    changes=changes,
                    old_values_known=not (first and row.history_type == "~"),
                    history_id=row.history_id,
                )
            )
            previous = row
    order = {path.history: index for index, (path, _) in enumerate(rows_by_path)}
    type_order = {path.history.instance_type._meta.model_name: order[path.history] for path in paths}
    entries.sort(key=lambda entry: (entry.at, type_order[entry.record_type], entry.history_id))
    return entries


@dataclass
class DeletedRecord:
    history_id: int
    record_type: str
    record_id: str | None
    patient_id: str | None
    deleted_at: Any
    username: str
    via: str
    values: dict


def deleted_records(history) -> models.QuerySet:
    """The deletion rows of one historical model, newest first (for `deleted_records_describe`)."""
    return history.objects.filter(history_type="-").order_by("-history_date", "-history_id")


def deleted_records_describe(history, rows) -> list[DeletedRecord]:
    """Deletion rows as shown to staff: who, when, through which path, and every value the record had.

    One query per kind of record referred to (the patient, the user who entered it, ...).
    """
    fields = [f for f in history.tracked_fields if f.name != "id"]
    refs = _References()
    keys = [f for f in fields if isinstance(f, models.ForeignKey)]
    for row in rows:
        for key in keys:
            refs.want(key, getattr(row, key.attname))
    refs.resolve()
    has_uuid = any(f.name == "uuid" for f in fields)
    patient_key = next((key for key in keys if key.name == "patient"), None)
    return [
        DeletedRecord(
            history_id=row.history_id,
            record_type=history.instance_type._meta.model_name,
            record_id=str(row.uuid) if has_uuid else None,
            patient_id=refs.show(patient_key, row.patient_id) if patient_key else None,
            deleted_at=row.history_date,
            username=row.history_username,
            via=row.via,
            values={f.name: _value(row, f, refs) for f in fields if f.name not in ("uuid", "patient")},
        )
        for row in rows
    ]
