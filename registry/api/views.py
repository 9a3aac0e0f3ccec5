"""The shared shape of the registry's resource endpoints."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response

from registry.api.concurrency import IF_MATCH_PARAMETER, concurrency_responses, etag_for, expected_version
from registry.api.permissions import StaffOrOwnPatientReadOnly
from registry.roles import is_staff_member

UUID_PATTERN = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()
    # The serializer metaclass takes declared fields out of the class body, so this name is safe.
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


ERROR_RESPONSES = {
    400: error_response("Invalid input; `error.fields` names each field and what is wrong."),
    401: error_response("Not authenticated."),
    403: error_response("The role does not allow this."),
    404: error_response("Not found (or not visible to this user)."),
}


def write_schema(request, response, *, status_code=200, concurrency=False):
    """OpenAPI description for a write endpoint: input, output, errors, and If-Match when updating."""
    responses = {status_code: response, **ERROR_RESPONSES}
    if concurrency:
        responses |= concurrency_responses(ErrorSerializer)
    return extend_schema(
        request=request,
        responses=responses,
        parameters=[IF_MATCH_PARAMETER] if concurrency else None,
    )


class PatientScopedViewSet(viewsets.GenericViewSet):
    """Records that belong to a patient: staff see all, a patient only their own.

    Subclasses set `queryset` (with the joins its serializer needs), `output_serializer`, and
    `owner_lookup`, the ORM path from the record to the user account of its patient.
    """

    lookup_field = "uuid"
    lookup_url_kwarg = "id"
    lookup_value_regex = UUID_PATTERN
    permission_classes = [StaffOrOwnPatientReadOnly]
    owner_lookup = "patient__account"
    output_serializer = None

    def get_queryset(self):
        queryset = super().get_queryset()
        if is_staff_member(self.request.user):
            return queryset
        return queryset.filter(**{self.owner_lookup: self.request.user})

    def get_serializer_class(self):
        return self.output_serializer

    def respond(self, instance, status_code=status.HTTP_200_OK):
        data = self.output_serializer(instance, context=self.get_serializer_context()).data
        return Response(data, status=status_code, headers={"ETag": etag_for(instance)})

    def expected_version(self) -> int:
        return expected_version(self.request)

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        serializer = self.output_serializer(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(serializer.data)

    def retrieve(self, request, *args, **kwargs):
        return self.respond(self.get_object())

    def input(self, serializer_class, *, partial=False, instance=None):
        serializer = serializer_class(
            data=self.request.data, partial=partial, instance=instance, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
