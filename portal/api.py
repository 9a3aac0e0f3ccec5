"""`/api/v1/invitations/`: staff invite a patient to claim their record in the portal, and see the
invitations sent. The rules (who can be invited, superseding, the email) are portal.invitations'.
A staff member limited to some sites invites, and sees the invitations of, their sites' patients only
(docs/sites.md)."""

import django_filters
from django.db.models import F
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.response import Response

from patients.api.base import SiteScopedViewSet, VisiblePatientField
from patients.models import Patient
from portal import invitations
from portal.models import Invitation
from registry.api.fields import RelatedIdField
from registry.api.idempotency import idempotent
from registry.api.permissions import StaffOnly
from registry.api.schema import ErrorSerializer

ID_PATTERN = r"[0-9]{1,18}"  # ids beyond this would not fit the database's integer


class EmailUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "email_unavailable"
    default_detail = "The invitation email could not be sent, so no invitation was made; try again later."


class InvitationInputSerializer(serializers.Serializer):
    patient = VisiblePatientField(queryset=Patient.objects.all(), help_text="The id of the patient's record.")
    email = serializers.EmailField(
        required=False, max_length=254, help_text="Where to send the link; the email on record if left out."
    )


class InvitationOutputSerializer(serializers.ModelSerializer):
    """The invitation as staff see it. Never the token: only its hash is stored, and not shown."""

    patient = RelatedIdField("patient")

    class Meta:
        model = Invitation
        fields = ["id", "patient", "email", "created_at", "expires_at", "used_at"]
        read_only_fields = fields


class InvitationFilter(django_filters.FilterSet):
    patient = django_filters.UUIDFilter(field_name="patient__uuid")

    class Meta:
        model = Invitation
        fields = ["patient"]


class InvitationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, SiteScopedViewSet):
    """Invitations to the patient portal. Creating one emails the patient a single-use link that
    expires; a new invitation makes the patient's earlier unused ones stop working."""

    permission_classes = [StaffOnly]
    versioned_records = False  # never changed through the API
    output_serializer = InvitationOutputSerializer
    queryset = Invitation.objects.annotate(patient_uuid=F("patient__uuid"))
    filterset_class = InvitationFilter
    lookup_field = lookup_url_kwarg = "pk"
    lookup_value_regex = ID_PATTERN
    ordering_fields = ["created_at", "expires_at"]
    ordering = ["-created_at", "-id"]

    @extend_schema(
        request=InvitationInputSerializer,
        responses={
            201: InvitationOutputSerializer,
            503: OpenApiResponse(ErrorSerializer, description="The email could not be sent; nothing was stored."),
        },
    )
    @idempotent
    def create(self, request):
        """Email the patient a link to claim their record: to the address given, else the one on record.

        Refused (400) when the patient already has an account, is withdrawn or deceased, or has no
        address; 503 when the mail server fails, and then nothing is stored.
        """
        serializer = InvitationInputSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        try:
            invitation = invitations.invitation_create(
                patient=serializer.validated_data["patient"],
                email=serializer.validated_data.get("email"),
                created_by=request.user,
                request_base_url=request.build_absolute_uri("/"),
            )
        except invitations.EmailNotSent:
            raise EmailUnavailable() from None
        invitation = self.get_queryset().get(pk=invitation.pk)
        return Response(self.get_serializer(invitation).data, status=status.HTTP_201_CREATED)
