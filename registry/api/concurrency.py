"""ETag / If-Match: the version a client read must be the version it overwrites."""

import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from registry.api.errors import PreconditionFailed, PreconditionRequired

_ETAG = re.compile(r'^\s*(?:W/)?"(\d+)"\s*$')


def etag_for(record) -> str:
    return f'"{record.version}"'


def expected_version(request) -> int:
    """The version named by If-Match; a write without it could silently undo someone else's."""
    header = request.headers.get("If-Match")
    if not header:
        raise PreconditionRequired()
    match = _ETAG.match(header)
    if not match:
        raise PreconditionFailed('If-Match must be an ETag returned by this API, such as "3".')
    return int(match.group(1))


IF_MATCH_PARAMETER = OpenApiParameter(
    name="If-Match",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=True,
    description='The ETag of the version being changed, as returned by GET (for example "3").',
)


def concurrency_responses(error_serializer) -> dict:
    return {
        412: OpenApiResponse(response=error_serializer, description="The record changed since it was read."),
        428: OpenApiResponse(response=error_serializer, description="If-Match header missing."),
    }
