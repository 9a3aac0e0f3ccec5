"""API tokens (docs/accounts.md, "API tokens"), under `/api/v1/auth/`:

- `POST token/`: a new token for a username and password; `DELETE token/`: revoke the token sent;
- `GET tokens/`: the caller's own live tokens; `DELETE tokens/`: revoke them all;
- foundation-wide staff only (not staff limited to some sites, docs/sites.md): `GET users/<username>/tokens/`,
  `DELETE users/<username>/tokens/` (all of them) and `DELETE users/<username>/tokens/<token_key>/` (one).

The rules (hashing, expiry, revocation) are in `registry.tokens`; these views only read input and answer.
"""

from django.contrib.auth import authenticate, get_user_model
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.urls import path, re_path
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from registry import tokens
from registry.api.errors import NON_FIELD
from registry.api.parsers import RegistryFormParser, RegistryJSONParser, RegistryMultiPartParser
from registry.api.permissions import FoundationWideStaffOnly
from registry.api.schema import ErrorSerializer
from registry.audit import audit_token_login, audit_token_login_refused, audit_token_logout, audit_tokens_revoked
from registry.errors import ValidationError
from registry.twofactor.services import token_second_factor_check

# What Django's username validator accepts (letters, digits and @.+-_), up to the column's length. Other
# text answers 404 from the router, before a query could choke on it (a NUL byte, for one).
USERNAME_PATTERN = r"[\w.@+-]{1,150}"
TOKEN_KEY_PATTERN = rf"[0-9a-f]{{{tokens.TOKEN_KEY_LENGTH}}}"

NO_CONTENT = {204: OpenApiResponse(description="Done; no body.")}
BAD_PAGE = {400: OpenApiResponse(ErrorSerializer, description="A page or page_size parameter out of range.")}


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
    otp = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="A code from the account's authenticator app, or a recovery code: needed when the account uses "
        "two-factor authentication, or must (staff and researchers in production). See docs/security.md.",
    )

    def validate(self, attrs):
        # authenticate() is given the request so that django-axes can count failures and lock out.
        user = authenticate(request=self.context["request"], username=attrs["username"], password=attrs["password"])
        if user is None:
            raise serializers.ValidationError("Unable to log in with provided credentials.", code="authorization")
        try:
            token_second_factor_check(user=user, otp=attrs.get("otp"))  # after the password, never instead of it
        except ValidationError:
            audit_token_login_refused(user=user)
            raise
        return {"user": user}


class TokenIssuedSerializer(serializers.Serializer):
    token = serializers.CharField(
        help_text="Send it as `Authorization: Token <token>`. Shown this once: the registry keeps only its digest."
    )
    expiry = serializers.DateTimeField(help_text="When the token stops working; ask for a new one then.")


class TokenOutputSerializer(serializers.Serializer):
    """A live token as shown to its owner or to staff: never the token, nor its digest."""

    token_key = serializers.CharField(
        help_text="The token's first characters: enough to tell tokens apart and to revoke one, not to use it."
    )
    created = serializers.DateTimeField()
    expiry = serializers.DateTimeField()


class TokenView(APIView):
    """Log in to the API (POST: username and password for a token) and out of it (DELETE)."""

    parser_classes = (RegistryJSONParser, RegistryFormParser, RegistryMultiPartParser)
    throttle_scope = "token"

    def _asking_for_token(self) -> bool:
        # `self.request` is Django's request while DRF builds its own, and absent while the schema is made.
        return getattr(getattr(self, "request", None), "method", None) == "POST"

    def get_authenticators(self):
        # Asking for a token takes a username and password only: a stale token the client still sends
        # out of habit must not get the login refused before the password is looked at.
        return [] if self._asking_for_token() else super().get_authenticators()

    def get_permissions(self):
        return [AllowAny()] if self._asking_for_token() else [IsAuthenticated()]

    def get_throttles(self):
        # Password guessing, per client address (REGISTRY_TOKEN_RATE); logging out is not limited.
        return [ScopedRateThrottle()] if self._asking_for_token() else []

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenIssuedSerializer}, auth=[])
    def post(self, request, *args, **kwargs):
        """A new token for this username and password, valid for REGISTRY_TOKEN_TTL_HOURS (12 by default).

        Repeated failures for one username from one address lock that pair out for a while (429)."""
        credentials = TokenRequestSerializer(data=request.data, context={"request": request})
        try:
            credentials.is_valid(raise_exception=True)
        finally:
            # django-axes marks the request it was given, which here is DRF's wrapper; its middleware
            # reads Django's own request, so pass the mark on for it to answer 429 (registry.lockout).
            if getattr(request, "axes_locked_out", False):
                request._request.axes_locked_out = True
                request._request.axes_credentials = getattr(request, "axes_credentials", None)
        user = credentials.validated_data["user"]
        with transaction.atomic():  # no token without its login in the audit trail
            token, secret = tokens.token_create(user=user)
            audit_token_login(user=user)
        return Response(TokenIssuedSerializer({"token": secret, "expiry": token.expiry}).data)

    @extend_schema(
        request=None,
        responses={
            **NO_CONTENT,
            400: OpenApiResponse(ErrorSerializer, description="The request was not made with a token."),
        },
    )
    def delete(self, request, *args, **kwargs):
        """Log out: revoke the token this request was sent with. The caller's other tokens keep working."""
        if not isinstance(request.auth, tokens.AuthToken):
            raise exceptions.ValidationError(
                {NON_FIELD: ["This request was not made with a token, so there is none to revoke."]}
            )
        with transaction.atomic():
            tokens.token_revoke(token=request.auth)
            audit_token_logout(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenListView(generics.ListAPIView):
    serializer_class = TokenOutputSerializer
    filter_backends = ()


class OwnTokensView(TokenListView):
    """The caller's live tokens (GET), or revoke all of them (DELETE)."""

    def get_queryset(self):
        return tokens.tokens_active(user=self.request.user)

    @extend_schema(request=None, responses=NO_CONTENT)
    def delete(self, request, *args, **kwargs):
        """Revoke every token of the caller (the one this request was sent with included)."""
        with transaction.atomic():
            count = tokens.tokens_revoke_all(user=request.user)
            audit_tokens_revoked(user=request.user, account=request.user, count=count)
        return Response(status=status.HTTP_204_NO_CONTENT)


USERNAME_PARAMETER = OpenApiParameter("username", str, OpenApiParameter.PATH, pattern=rf"^{USERNAME_PATTERN}$")


class UserTokensView(TokenListView):
    """Staff: a user's live tokens (GET), or revoke all of them (DELETE).

    Foundation-wide staff only: a user of any site may be named, and a token opens all they may see.
    """

    permission_classes = [FoundationWideStaffOnly]

    def account(self):
        return get_object_or_404(get_user_model(), username=self.kwargs["username"])

    def get_queryset(self):
        return tokens.tokens_active(user=self.account())

    @extend_schema(parameters=[USERNAME_PARAMETER], responses={200: TokenOutputSerializer(many=True), **BAD_PAGE})
    def get(self, request, *args, **kwargs):
        """The user's tokens that still work, newest first (never the tokens themselves)."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="v1_auth_users_tokens_destroy_all",
        parameters=[USERNAME_PARAMETER],
        request=None,
        responses=NO_CONTENT,
    )
    def delete(self, request, *args, **kwargs):
        """Revoke every token of the user, for example when a device was lost or an account misused."""
        account = self.account()
        with transaction.atomic():
            count = tokens.tokens_revoke_all(user=account)
            audit_tokens_revoked(user=request.user, account=account, count=count)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserTokenView(APIView):
    permission_classes = [FoundationWideStaffOnly]

    @extend_schema(
        parameters=[
            USERNAME_PARAMETER,
            OpenApiParameter(
                "token_key", str, OpenApiParameter.PATH, pattern=rf"^{TOKEN_KEY_PATTERN}$", description="As listed."
            ),
        ],
        request=None,
        responses=NO_CONTENT,
    )
    def delete(self, request, username: str, token_key: str):
        """Staff: revoke one of the user's tokens, named by its `token_key`."""
        account = get_object_or_404(get_user_model(), username=username)
        with transaction.atomic():
            if not tokens.token_revoke_by_key(user=account, token_key=token_key):
                raise exceptions.NotFound("This user has no token with that key.")
            audit_tokens_revoked(user=request.user, account=account, count=1)
        return Response(status=status.HTTP_204_NO_CONTENT)


# Included by config/urls.py under api/v1/auth/.
urlpatterns = [
    path("token/", TokenView.as_view(), name="api-token"),
    path("tokens/", OwnTokensView.as_view(), name="api-own-tokens"),
    re_path(rf"^users/(?P<username>{USERNAME_PATTERN})/tokens/$", UserTokensView.as_view(), name="api-user-tokens"),
    re_path(
        rf"^users/(?P<username>{USERNAME_PATTERN})/tokens/(?P<token_key>{TOKEN_KEY_PATTERN})/$",
        UserTokenView.as_view(),
        name="api-user-token",
    ),
]
