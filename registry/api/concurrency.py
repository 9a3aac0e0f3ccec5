"""ETag / If-Match: the version a client read must be the version it overwrites."""

import re

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
