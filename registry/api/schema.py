"""The OpenAPI contract: every operation lists every status it can answer, with the one error shape.

Added here for every view (rather than by hand on each) so that an endpoint added later is
documented the same way; the schemathesis run in the test suite checks each answer against it.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()
    # The serializer metaclass takes declared fields out of the class body, so this name is safe.
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


ERROR_DESCRIPTIONS = {
    400: "Invalid input; `error.fields` names each field (dotted path) and what is wrong.",
    401: "Not authenticated, or the credentials are invalid.",
    403: "The role does not allow this.",
    404: "Not found (or not visible to this user).",
    409: "The change conflicts with data stored at the same moment by another request.",
    412: "The record changed since it was read (If-Match names an older version).",
    413: "The request body is larger than the server accepts.",
    415: "The request body is not JSON.",
    422: "The Idempotency-Key was already used with a different request.",
    428: "If-Match header missing: send the ETag of the version being changed.",
    429: "Too many requests; retry after the number of seconds in Retry-After.",
}

IF_MATCH_PARAMETER = OpenApiParameter(
    name="If-Match",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=True,
    description='The ETag of the version being changed, as returned by GET (for example "3").',
)

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name="Idempotency-Key",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string (a UUID is best), up to 255 printable ASCII characters. A retry with the same key "
        "and body returns the first response instead of creating a second record; the same key with another "
        "body is refused with 422. Keys are kept for 24 hours per user."
    ),
)

WRITE_METHODS = ("POST", "PUT", "PATCH")
VERSIONED_METHODS = ("PUT", "PATCH", "DELETE")


class RegistryAutoSchema(AutoSchema):
    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method in VERSIONED_METHODS and self._versioned():
            parameters.append(IF_MATCH_PARAMETER)
        if self.method == "POST" and self._idempotent():
            parameters.append(IDEMPOTENCY_KEY_PARAMETER)
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in sorted(self._error_statuses()):
            if str(code) not in responses:
                response = self._get_response_for_code(ErrorSerializer, str(code), direction=direction)
                response["description"] = ERROR_DESCRIPTIONS[code]
                responses[str(code)] = response
        return responses

    def _error_statuses(self) -> set[int]:
        view, method = self.view, self.method
        codes = {401}
        if view.permission_classes:
            codes.add(403)
        if view.get_throttles():
            codes.add(429)
        if method in WRITE_METHODS:
            codes |= {400, 413, 415}
        if "{" in self.path:
            codes.add(404)  # a path naming a record that does not exist (or that this user may not see)
        elif method == "GET" and self._is_list_view():
            codes |= {400, 404}  # a filter or page parameter out of range; a page beyond the last
        if self._versioned() and method in (*WRITE_METHODS, "DELETE"):
            codes.add(409)
            if method in VERSIONED_METHODS:
                codes |= {412, 428}
        if method == "POST" and self._idempotent():
            codes.add(422)
        return codes

    def _versioned(self) -> bool:
        return getattr(self.view, "versioned_records", False)

    def _idempotent(self) -> bool:
        action = getattr(self.view, "action", None) or self.method.lower()
        return getattr(getattr(self.view, action, None), "idempotent", False)
