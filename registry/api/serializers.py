"""Serializers shared by every resource: the record fields, review flags, and the speed-ups for the
high-volume endpoints (see bench/README.md for the figures)."""

import copy
import datetime as dt

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.fields import SkipField, empty
from rest_framework.relations import PKOnlyObject, RelatedField
from rest_framework.settings import api_settings

from registry.api.fields import RelatedIdField


class FieldsBuiltOnceMixin:
    """Build a ModelSerializer's fields once per class instead of on every request.

    DRF introspects the model each time a ModelSerializer is instantiated; copying the finished
    fields is several times cheaper. Serializers whose fields depend on the request or context must
    not use this.
    """

    _fields_template = None

    def get_fields(self):
        cls = type(self)
        if cls.__dict__.get("_fields_template") is None:
            cls._fields_template = super().get_fields()
        return copy.deepcopy(cls._fields_template)


class LeanRepresentationMixin:
    """`to_representation` without DRF's per-field generator and attribute machinery.

    Same output as DRF's (each field's own `to_representation` still formats the value), from a plan
    of the readable fields made once per class and reused by every request. So an output
    serializer using this must not depend on its context (no request-dependent fields, no
    hyperlinks); the registry's output serializers are plain data.
    """

    def to_representation(self, instance):
        cls = type(self)
        plan = cls.__dict__.get("_lean_plan")
        if plan is None:
            plan = cls._lean_plan = [_plan_entry(field) for field in self._readable_fields]
        data = {}
        for name, attr, field, convert in plan:
            if attr is None:  # related fields, dotted or "*" sources: DRF's own lookup
                try:
                    value = field.get_attribute(instance)
                except SkipField:
                    continue
                if isinstance(value, PKOnlyObject):
                    value = value if value.pk is not None else None
            else:
                try:
                    value = getattr(instance, attr)
                except (AttributeError, ObjectDoesNotExist):
                    try:  # DRF's own handling: defaults, nulls and optional fields
                        value = field.get_attribute(instance)
                    except SkipField:
                        continue
            data[name] = None if value is None else convert(value)
        return data


def _plan_entry(field):
    simple = len(field.source_attrs) == 1 and not isinstance(field, RelatedField)
    return field.field_name, field.source_attrs[0] if simple else None, field, _converter(field)


def _utc_isoformat(value: dt.datetime) -> str:
    text = value.astimezone(dt.UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _converter(field):
    """The fastest exact way to turn one field's value into JSON-ready data.

    Values read from the database already have the type DRF would produce for plain fields; only
    dates, datetimes and UUIDs need formatting. Anything else uses the field's own method.
    """
    if type(field) in (serializers.IntegerField, serializers.BooleanField, serializers.CharField):
        return _same
    if type(field) is serializers.ChoiceField and all(str(key) == key or isinstance(key, int) for key in field.choices):
        return _same
    if (
        type(field) is serializers.DateField
        and getattr(field, "format", empty) is empty
        and api_settings.DATE_FORMAT == ISO_8601
    ):
        return dt.date.isoformat
    if (
        type(field) is serializers.DateTimeField
        and getattr(field, "format", empty) is empty
        and api_settings.DATETIME_FORMAT == ISO_8601
        and settings.TIME_ZONE == "UTC"
    ):
        return _utc_isoformat
    if type(field) is serializers.UUIDField and field.uuid_format == "hex_verbose":
        return str
    return field.to_representation


def _same(value):
    return value


class ReviewFlagSerializer(serializers.Serializer):
    code = serializers.CharField()
    field = serializers.CharField()
    message = serializers.CharField()


@extend_schema_field(ReviewFlagSerializer(many=True))
class ReviewFlagsField(serializers.JSONField):
    """Review flags as stored (a list of {code, field, message}), read-only."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, **kwargs)


class RecordSerializer(LeanRepresentationMixin, FieldsBuiltOnceMixin, serializers.ModelSerializer):
    """Common output fields: the public id, the version (also sent as ETag) and timestamps."""

    id = serializers.UUIDField(source="uuid", read_only=True)
    version = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    RECORD_FIELDS = ["id", "version", "created_at", "updated_at"]


class PatientRefMixin(serializers.Serializer):
    patient = RelatedIdField("patient")
