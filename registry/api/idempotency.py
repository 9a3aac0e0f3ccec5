"""`Idempotency-Key` on creates: a retried request returns the first response, not a second record.

The key is claimed by inserting its row in the same transaction as the create. A concurrent
request with the same key waits on the unique index until the first one ends: if the first
committed, the second finds its row and replays the response; if it failed (a 400, say), nothing
was stored and the second runs as if alone. A key is kept for a day, per user
(the claim itself is shared with page forms: registry/idempotency.py).
"""

import functools
import hashlib
import json
import re

from django.db import transaction
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from registry.idempotency import idempotency_key_claim
from registry.models import IdempotencyKey

HEADER = "Idempotency-Key"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class KeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = (
        "This Idempotency-Key was used for a different request in the last 24 hours; use a new key for a new request."
    )


def _fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _replay(stored: IdempotencyKey, fingerprint: str) -> Response:
    if stored.fingerprint != fingerprint:
        raise KeyReused()
    headers = {"Idempotent-Replayed": "true"}
    if stored.response_etag:
        headers["ETag"] = stored.response_etag
    return Response(stored.response_body, status=stored.response_status, headers=headers)


def idempotent(create):
    """Decorate a view's create method so that it honours the Idempotency-Key header."""

    @functools.wraps(create)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return create(view, request, *args, **kwargs)
        if not _VALID_KEY.match(key):
            raise exceptions.ValidationError({HEADER: ["Use 1 to 255 printable ASCII characters, such as a UUID."]})
        fingerprint = _fingerprint(request)
        with transaction.atomic():
            stored = idempotency_key_claim(user=request.user, key=key, fingerprint=fingerprint)
            if stored is not None:
                return _replay(stored, fingerprint)
            response = create(view, request, *args, **kwargs)
            # Stored as the client saw it (numbers as JSON numbers), for an identical replay.
            IdempotencyKey.objects.filter(user=request.user, key=key).update(
                response_status=response.status_code,
                response_body=json.loads(JSONRenderer().render(response.data)),
                response_etag=response.get("ETag", ""),
            )
        return response

    wrapper.idempotent = True
    return wrapper
