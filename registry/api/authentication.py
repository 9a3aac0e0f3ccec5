import re

from django.db import connection
from django.db.models.expressions import RawSQL
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from registry.roles import remember_roles

_TOKEN_KEY = re.compile(r"^[0-9a-f]{40}$")

# The user's group names as one comma-separated string, read in the token's own query. Raw SQL
# because Django's ORM builds this subquery several times slower (bench/api_bench.py); the only
# difference between the two supported databases is the name of the string aggregate.
_GROUP_NAMES_SQL = """
    SELECT {aggregate} FROM auth_group g
    INNER JOIN auth_user_groups ug ON ug.group_id = g.id
    WHERE ug.user_id = authtoken_token.user_id
"""


def _group_names() -> RawSQL:
    aggregate = "string_agg(g.name, ',')" if connection.vendor == "postgresql" else "group_concat(g.name, ',')"
    return RawSQL(_GROUP_NAMES_SQL.format(aggregate=aggregate), [])


class RoleAwareTokenAuthentication(TokenAuthentication):
    """Token authentication that reads the user's roles in the same query as the token.

    Every API request needs the roles for its access decisions; reading them with the token saves a
    query on each request.
    """

    def authenticate_credentials(self, key):
        # Keys are 40 hex digits; anything else (a NUL byte, odd unicode) is refused before it
        # reaches the database, which would reject some such strings with an error of its own.
        if not _TOKEN_KEY.match(key):
            raise AuthenticationFailed("Invalid token.")
        token = Token.objects.select_related("user").annotate(group_names=_group_names()).filter(key=key).first()
        if token is None:
            raise AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        remember_roles(token.user, set(filter(None, (token.group_names or "").split(","))))
        return token.user, token
