"""The shared shape of the registry's resource endpoints."""

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.response import Response

from registry.api.concurrency import etag_for, expected_version
from registry.api.permissions import StaffOrOwnPatientReadOnly
from registry.roles import is_staff_member

UUID_PATTERN = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


def write_schema(request, response, *, status_code=200):
    """OpenAPI description for a write endpoint: its input and its success response.

    Error responses, If-Match and Idempotency-Key are added to every operation by
    `registry.api.schema.RegistryAutoSchema`.
    """
    return extend_schema(request=request, responses={status_code: response})


class PatientScopedViewSet(viewsets.GenericViewSet):
    """Records that belong to a patient: staff see those of the patients they may see, a patient only their own.

    Subclasses set `queryset` (with the joins its serializer needs), `output_serializer`, and
    `owner_lookup`, the ORM path from the record to the user account of its patient. Updates and
    deletes need If-Match (`versioned_records`); creates take an Idempotency-Key (`@idempotent`).

    Which patients a staff member may see depends on their sites, which this app knows nothing of:
    every endpoint subclasses `patients.api.base.SiteScopedViewSet`, which fills in `limit_for_staff`
    (docs/sites.md; tests/registry/test_site_access.py fails for an API route that does not).
    """

    versioned_records = True

    lookup_field = "uuid"
    lookup_url_kwarg = "id"
    lookup_value_regex = UUID_PATTERN
    permission_classes = [StaffOrOwnPatientReadOnly]
    owner_lookup = "patient__account"
    output_serializer = None

    def get_queryset(self):
        queryset = super().get_queryset()
        if is_staff_member(self.request.user):
            return self.limit_for_staff(queryset)
        return queryset.filter(**{self.owner_lookup: self.request.user})

    def limit_for_staff(self, queryset):
        """The rows a staff member may see; all of them here, narrowed to their sites by the patients app."""
        return queryset

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
