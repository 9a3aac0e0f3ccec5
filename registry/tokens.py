"""API tokens: issued for a username and password, stored hashed, expiring, revocable (docs/accounts.md,
"API tokens").

django-rest-knox keeps the tokens: each row holds the SHA-512 digest of its token and the token's first
15 characters (`token_key`, enough to find the row and to name the token to a person, useless to log in
with), never the token itself. A token lives `REGISTRY_TOKEN_TTL_HOURS` from when it was issued; using it
does not extend it. Revoking a token deletes its row.
"""

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from knox.models import AbstractAuthToken, get_token_model
from knox.settings import CONSTANTS

AuthToken = get_token_model()
TOKEN_KEY_LENGTH = CONSTANTS.TOKEN_KEY_LENGTH


@transaction.atomic
def token_create(*, user) -> tuple[AbstractAuthToken, str]:
    """A new token for `user`: the stored row and the token itself, which exists only in this answer."""
    # The user's expired tokens can no longer be used; dropping them here keeps the table to about one
    # row per live token without a query on every authenticated request.
    AuthToken.objects.filter(user=user, expiry__lte=timezone.now()).delete()
    return AuthToken.objects.create(user=user)


def tokens_active(*, user) -> QuerySet:
    """The user's tokens that still work, newest first."""
    return AuthToken.objects.filter(user=user, expiry__gt=timezone.now()).order_by("-created", "token_key")


def token_revoke(*, token: AbstractAuthToken) -> None:
    """Revoke one token (logging out of the API with it)."""
    AuthToken.objects.filter(digest=token.digest).delete()


def token_revoke_by_key(*, user, token_key: str) -> int:
    """Revoke the user's token whose first characters are `token_key`; the number revoked (0 or 1)."""
    deleted, _ = AuthToken.objects.filter(user=user, token_key=token_key).delete()
    return deleted


def tokens_revoke_all(*, user) -> int:
    """Revoke every token of the user; how many there were (expired ones included)."""
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted


def token_is_expired(token: AbstractAuthToken) -> bool:
    return token.expiry is not None and token.expiry <= timezone.now()


def revoke_tokens_on_password_change(sender, instance, created: bool, **kwargs) -> None:
    """`post_save` receiver on the user model (connected in `RegistryConfig.ready`): a new password
    revokes every API token of that user.

    A signal because passwords change in code the registry does not own: Django's password change and
    reset views, the admin, `changepassword`, `set_password()` in a shell. All of them end in
    `set_password()` then `save()`, and `save()` still holds the new password in `_password` when
    `post_save` runs. Django's rehash of an old-format hash at login clears `_password` before saving,
    so it is not taken for a change.
    """
    if created or instance._password is None:
        return
    tokens_revoke_all(user=instance)
