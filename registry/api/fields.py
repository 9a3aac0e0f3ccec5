import uuid

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from registry.dates import PartialDate

PARTIAL_DATE_SCHEMA = {
    "type": "string",
    "nullable": True,
    "pattern": r"^\d{4}(-\d{2}(-\d{2})?)?$",
    "example": "2015-03",
    "description": "A date known to the year (YYYY), month (YYYY-MM) or day (YYYY-MM-DD).",
}


@extend_schema_field(PARTIAL_DATE_SCHEMA)
class PartialDateField(serializers.Field):
    """One API field ("2015", "2015-03", "2015-03-14") for a model's date and its precision."""

    def __init__(self, date_attr: str, **kwargs):
        self.date_attr = date_attr
        self.precision_attr = f"{date_attr}_precision"
        kwargs.setdefault("allow_null", True)
        super().__init__(source="*", **kwargs)

    def run_validation(self, data=empty):
        if data is None and self.allow_null:
            return {self.date_attr: None, self.precision_attr: ""}
        return super().run_validation(data)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            partial = PartialDate.parse(data)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from None
        return {self.date_attr: partial.date, self.precision_attr: partial.precision}

    def to_representation(self, instance):
        partial = PartialDate.from_stored(getattr(instance, self.date_attr), getattr(instance, self.precision_attr))
        return str(partial) if partial else None

    default_error_messages = {"invalid": "Enter a date as a string: YYYY, YYYY-MM or YYYY-MM-DD."}


class UUIDRelatedField(serializers.SlugRelatedField):
    """Refers to a record by its public UUID, answering bad input with a field error."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="uuid", **kwargs)

    def to_internal_value(self, data):
        try:
            uuid.UUID(str(data))
        except ValueError:
            self.fail("invalid")
        return super().to_internal_value(str(data))

    default_error_messages = {
        "does_not_exist": "No record with id {value}.",
        "invalid": "Enter a record id (a UUID).",
    }


_MISSING = object()


@extend_schema_field({"type": "string", "format": "uuid", "nullable": True, "readOnly": True})
class RelatedIdField(serializers.Field):
    """The public id of a related record, read from an `<relation>_uuid` annotation when the
    queryset has one (no related row is built), else from the related object."""

    def __init__(self, relation: str, **kwargs):
        self.relation = relation
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, instance):
        value = getattr(instance, f"{self.relation}_uuid", _MISSING)
        if value is _MISSING:
            related = getattr(instance, self.relation)
            value = related.uuid if related is not None else None
        return str(value) if value is not None else None


def strict_bool(raw: str | None) -> bool:
    """A query-string flag: true for "true"/"1"/"yes", false otherwise."""
    return (raw or "").strip().lower() in ("true", "1", "yes")
