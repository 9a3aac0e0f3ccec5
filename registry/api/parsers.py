"""Request parsing that answers every malformed body with a 4xx in the registry's error shape."""

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser


# Here rather than in registry.api.errors: DRF imports the parsers while that module is loading.
class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The request body is too large."


def check_body_size(parser_context) -> None:
    """Refuse a body over Django's upload limit before reading it (DRF reads the raw stream, which
    Django's own limit does not cover)."""
    request = (parser_context or {}).get("request")
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
    except ValueError:
        raise ParseError("The Content-Length header is not a number.") from None
    if limit is not None and length > limit:
        raise PayloadTooLarge(f"The request body is {length:,} bytes; the limit is {limit:,}.")


def _has_lone_surrogate(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)


def _surrogate_paths(value, path: str = "") -> dict[str, list[str]]:
    """Dotted paths of strings holding an unpaired UTF-16 surrogate (valid JSON, but not text)."""
    message = "Contains an unpaired UTF-16 surrogate (such as \\ud800), which is not a character."
    found: dict[str, list[str]] = {}
    if isinstance(value, str):
        if _has_lone_surrogate(value):
            found[path or "non_field_errors"] = [message]
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if _has_lone_surrogate(str(key)):
                found[child.encode("utf-8", "backslashreplace").decode()] = [message]
            else:
                found |= _surrogate_paths(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found |= _surrogate_paths(item, f"{path}.{index}" if path else str(index))
    return found


class SizeLimitedParser:
    """Refuses a body over the upload limit before the parser reads it."""

    def parse(self, stream, media_type=None, parser_context=None):
        check_body_size(parser_context)
        return super().parse(stream, media_type, parser_context)


class RegistryJSONParser(SizeLimitedParser, JSONParser):
    """JSON that is too large (413), nested too deeply or not text (400) is refused, never a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
        surrogates = _surrogate_paths(data)
        if surrogates:
            raise ValidationError(surrogates)
        return data


# The token endpoint also takes the form bodies that `curl -d` and `curl -F` send.
class RegistryFormParser(SizeLimitedParser, FormParser):
    pass


class RegistryMultiPartParser(SizeLimitedParser, MultiPartParser):
    pass
