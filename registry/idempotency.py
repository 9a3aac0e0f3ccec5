"""Saving once what is sent twice: the API's `Idempotency-Key` (registry/api/idempotency.py) and the
one-time token of a page form (a double tap, or a resend after a slow answer, saves one record).

A key is claimed by inserting its row in the same transaction as the write. A concurrent request
with the same key waits on the unique index until the first one ends: if the first committed, the
second finds its row; if it failed (refused input, say), nothing was stored and the second runs as
if alone. Keys are kept for a day, per user, and purged daily by a beat task.
"""

import datetime as dt
import re
import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from registry.models import IdempotencyKey

KEY_LIFETIME = dt.timedelta(hours=24)
_FORM_TOKEN = re.compile(r"^[0-9a-f]{32}$")


def idempotency_keys_purge() -> int:
    """Delete keys past their lifetime (run daily by Celery beat); returns how many went."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - KEY_LIFETIME).delete()
    return deleted


def idempotency_key_claim(*, user, key: str, fingerprint: str) -> IdempotencyKey | None:
    """Take `key` for this request (None), or return the row of the earlier request that took it."""
    IdempotencyKey.objects.filter(user=user, key=key, created_at__lt=timezone.now() - KEY_LIFETIME).delete()
    try:
        with transaction.atomic():  # a savepoint: the outer transaction survives a duplicate key
            IdempotencyKey.objects.create(
                user=user, key=key, fingerprint=fingerprint, response_status=0, response_body={}
            )
    except IntegrityError:
        stored = IdempotencyKey.objects.filter(user=user, key=key).first()
        if stored is None:  # not a duplicate key: some other constraint failed
            raise
        return stored
    return None


def form_token() -> str:
    """A new one-time token for a page form, put in a hidden field when the form is shown."""
    return uuid.uuid4().hex


def form_submission_is_first(*, user, token: str) -> bool:
    """Whether this is the first time a form with `token` is saved; call it inside the transaction
    that saves, so that a save refused by the rules releases the token for the corrected form.

    A missing or malformed token (a form opened before tokens existed, or a hand-made post) gives
    no protection but is not refused: the rules of the services still apply.
    """
    if not _FORM_TOKEN.match(token or ""):
        return True
    return idempotency_key_claim(user=user, key=f"form:{token}", fingerprint="page form") is None
