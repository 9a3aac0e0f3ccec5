import re
from hmac import compare_digest

from django.db import connection
from django.db.models.expressions import RawSQL
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.settings import knox_settings
from rest_framework.exceptions import AuthenticationFailed

from registry.roles import remember_roles
from registry.tokens import TOKEN_KEY_LENGTH, AuthToken, token_is_expired

# The user's group names as one comma-separated string, read in the token's own query. Raw SQL
# because Django's ORM builds this subquery several times slower (bench/api_bench.py); the only
# difference between the two supported databases is the name of the string aggregate.
_GROUP_NAMES_SQL = """
    SELECT {aggregate} FROM auth_group g
    INNER JOIN auth_user_groups ug ON ug.group_id = g.id
    WHERE ug.user_id = {token_table}.user_id
"""


def _group_names() -> RawSQL:
    aggregate = "string_agg(g.name, ',')" if connection.vendor == "postgresql" else "group_concat(g.name, ',')"
    token_table = connection.ops.quote_name(AuthToken._meta.db_table)
    return RawSQL(_GROUP_NAMES_SQL.format(aggregate=aggregate, token_table=token_table), [])


def _token_pattern() -> re.Pattern:
    length = knox_settings.AUTH_TOKEN_CHARACTER_LENGTH
    return re.compile(rf"^{re.escape(knox_settings.TOKEN_PREFIX)}[0-9a-f]{{{length}}}$")


class RoleAwareTokenAuthentication(TokenAuthentication):
    """knox's token check (find the row by the token's first characters, then compare digests in
    constant time), reading the user and their roles in the same single query.

    Every API request needs the roles for its access decisions; reading them with the token saves a
    query on each request. Unlike knox's own class it writes nothing while authenticating: no sliding
    expiry (a token lives a fixed time, docs/accounts.md) and no clean-up of the user's other expired
    tokens, which `registry.tokens.token_create` does at the next login instead.
    """

    def authenticate_credentials(self, token):
        # The header arrives as bytes decoded from latin-1; any byte that is not part of a knox token
        # (a NUL, odd unicode) is refused before the database sees it, which would reject some such
        # strings with an error of its own.
        if isinstance(token, bytes):
            token = token.decode("latin-1")
        if not _token_pattern().match(token):
            raise AuthenticationFailed("Invalid token.")
        digest = hash_token(token)
        candidates = (
            AuthToken.objects.select_related("user")
            .annotate(group_names=_group_names())
            .filter(token_key=token[:TOKEN_KEY_LENGTH])
        )
        for auth_token in candidates:
            if not compare_digest(digest, auth_token.digest):
                continue
            if token_is_expired(auth_token):
                raise AuthenticationFailed(
                    "The token has expired; ask for a new one at /api/v1/auth/token/.", code="token_expired"
                )
            user, _ = self.validate_user(auth_token)
            remember_roles(user, set(filter(None, (auth_token.group_names or "").split(","))))
            return user, auth_token
        raise AuthenticationFailed("Invalid token.")


class RoleAwareTokenScheme(OpenApiAuthenticationExtension):
    """The token scheme in the OpenAPI document, named as it was before knox (`tokenAuth`)."""

    target_class = RoleAwareTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix=knox_settings.AUTH_HEADER_PREFIX
        )
