"""One error shape for every API failure.

    {"error": {"status": 400, "code": "invalid", "message": "...", "fields": {"path.to.field": ["..."]}}}

`fields` is present only for validation errors; nested paths are joined with dots
(`dynamometry.0.kg`), and errors that concern no single field are under `non_field_errors`.
"""

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

from registry.errors import RecordGoneError, StaleVersionError

NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_code = "precondition_required"
    default_detail = "Send an If-Match header with the ETag of the version you are changing."


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "precondition_failed"
    default_detail = "The record has changed since you read it; fetch it again and reapply your change."


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The change conflicts with data already stored."


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into {"a.0.b": ["message"]}."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list) and detail and all(isinstance(item, (dict, list)) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or NON_FIELD: [printable(str(message)) for message in messages]} if messages else {}


def printable(text: str) -> str:
    """Text that can be encoded as UTF-8: messages may echo input holding a lone UTF-16 surrogate."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def django_validation_detail(error: DjangoValidationError) -> dict:
    if hasattr(error, "error_dict"):
        return {
            (NON_FIELD if field == "__all__" else field): messages for field, messages in error.message_dict.items()
        }
    return {NON_FIELD: error.messages}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(django_validation_detail(exc))
    elif isinstance(exc, StaleVersionError):
        exc = PreconditionFailed(f"{exc} Fetch it again and reapply your change.")
    elif isinstance(exc, IntegrityError):
        # A safety net: services check uniqueness first, but a concurrent write can still collide.
        exc = Conflict()
    elif isinstance(exc, RecordGoneError):
        exc = exceptions.NotFound(str(exc))
    elif isinstance(exc, (Http404, ObjectDoesNotExist)):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    if not isinstance(exc, exceptions.APIException):
        return None

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    body = {"status": exc.status_code, "code": _code(exc)}
    if isinstance(exc, exceptions.ValidationError):
        body["message"] = "The data sent has errors; see fields."
        body["fields"] = flatten_errors(exc.detail)
    else:
        body["message"] = printable(str(exc.detail))
    set_rollback()
    return Response({"error": body}, status=exc.status_code, headers=headers)


def _code(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code
