"""The audit trail, read through the API by staff (docs/audit.md, "Reading it"). Nothing here writes.

`GET /api/v1/patients/{id}/history/` is an action of the patients' viewset and uses the serializer
below; `GET /api/v1/audit/deleted/?type=assessment` is `DeletedRecordsView`, served as
`patients.api.audit.SiteScopedDeletedRecordsView`, which limits staff to their sites' patients.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import ValidationError

from registry.api.permissions import StaffOnly
from registry.audit import Via
from registry.history import ACTIONS, deleted_records, deleted_records_describe, history_model_for, record_types


class FieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.JSONField(allow_null=True, help_text="None for a record created.")
    new = serializers.JSONField(allow_null=True, help_text="None for a record deleted.")


class HistoryEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    action = serializers.ChoiceField(choices=sorted(ACTIONS.values()))
    record_type = serializers.CharField(help_text='The kind of record, e.g. "assessment", "dynamometrymeasurement".')
    record_id = serializers.CharField(
        allow_null=True,
        help_text="The record's public id; for rows without one, the public id of the record they are part of "
        "(an assessment's measurements, a patient's identity, enrollment history and consents).",
    )
    user = serializers.CharField(source="username", help_text="Username of who made the change; empty when none.")
    via = serializers.ChoiceField(choices=Via.choices)
    version = serializers.IntegerField(allow_null=True, help_text="The record's version after this change.")
    reason = serializers.CharField(help_text='Why, when the change said so (e.g. "restored"); usually empty.')
    changes = FieldChangeSerializer(many=True)
    old_values_known = serializers.BooleanField(
        help_text="False for the first recorded change of a record written before it was audited (demo data "
        "written in bulk): its values after the change are listed, and `old` is unknown."
    )


class DeletedRecordSerializer(serializers.Serializer):
    record_type = serializers.CharField()
    record_id = serializers.CharField(allow_null=True, help_text="Public id of the deleted record, if it had one.")
    patient = serializers.CharField(source="patient_id", allow_null=True)
    deleted_at = serializers.DateTimeField()
    user = serializers.CharField(source="username", help_text="Username of who deleted it; empty when none.")
    via = serializers.ChoiceField(choices=Via.choices)
    values = serializers.DictField(child=serializers.JSONField(allow_null=True), help_text="Every value it had.")


TYPE_PARAMETER = OpenApiParameter(
    name="type",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.QUERY,
    required=True,
    description='The kind of record, e.g. "assessment", "treatment", "milestone".',
)


class DeletedRecordsView(generics.ListAPIView):
    """Records deleted, with every value they had, who deleted them, when and how (staff only).

    Every deletion is listed here; `limit_for_staff` is where the patients app, which knows sites,
    narrows them to the patients a staff member may see (docs/sites.md).
    """

    permission_classes = [StaffOnly]
    serializer_class = DeletedRecordSerializer
    filter_backends = []

    @extend_schema(parameters=[TYPE_PARAMETER])
    def get(self, request, *args, **kwargs):
        record_type = request.query_params.get("type", "")
        history = history_model_for(record_type)
        if history is None:
            raise ValidationError({"type": [f"Choose one of: {', '.join(record_types())}."]})
        page = self.paginate_queryset(self.limit_for_staff(history, deleted_records(history)))
        return self.get_paginated_response(self.get_serializer(deleted_records_describe(history, page), many=True).data)

    def limit_for_staff(self, history, rows):
        """The deletion rows (of `history`, a historical model) the staff member may see: here all of them."""
        return rows
