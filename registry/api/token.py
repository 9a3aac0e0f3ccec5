"""`POST /api/v1/auth/token/`: a user's API token in exchange for their username and password."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.throttling import ScopedRateThrottle

from registry.api.parsers import RegistryFormParser, RegistryJSONParser, RegistryMultiPartParser


class ObtainTokenView(ObtainAuthToken):
    """DRF's token view with the registry's parsers (size and nesting limits) and a rate limit
    against password guessing."""

    parser_classes = (RegistryJSONParser, RegistryFormParser, RegistryMultiPartParser)
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "token"

    @extend_schema(
        request=inline_serializer(
            "TokenRequest",
            {"username": serializers.CharField(), "password": serializers.CharField()},
        ),
        responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        finally:
            # django-axes marks the request it was given, which here is DRF's wrapper; its middleware
            # reads Django's own request, so pass the mark on for it to answer 429 (registry.lockout).
            if getattr(request, "axes_locked_out", False):
                request._request.axes_locked_out = True
                request._request.axes_credentials = getattr(request, "axes_credentials", None)


obtain_token = ObtainTokenView.as_view()
