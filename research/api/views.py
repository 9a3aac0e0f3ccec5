"""The research API: projects (staff manage them, members read them) and exports.

Views parse input, call research.services, and render; the rules (membership, the data-use
agreement, the cohort definition, download links) are all in the services.
"""

import django_filters
from django import forms
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response

from registry.api.idempotency import idempotent
from registry.api.views import write_schema
from registry.roles import RESEARCHER, STAFF, is_staff_member, user_roles
from research import selectors, services
from research.api import serializers as s
from research.models import ExportStatus, ResearchExport
from research.storage import package_name

ID_PATTERN = r"[0-9]{1,18}"  # ids beyond this would not fit the database's integer


class ResearchAccess(BasePermission):
    """Staff and researchers only: patients have no business here, and get 403.

    Which rows a researcher sees is decided by the selectors (their projects only), so another
    project's record answers 404, as if it did not exist. Views list the methods researchers may
    use beyond reading in `researcher_writes`.
    """

    message = "Research projects and exports are for staff and researchers."

    def has_permission(self, request, view):
        roles = user_roles(request.user)
        if STAFF in roles:
            return True
        if RESEARCHER not in roles:
            return False
        return request.method in SAFE_METHODS or view.action in getattr(view, "researcher_writes", ())


def _permission_denied(error: DjangoPermissionDenied) -> exceptions.PermissionDenied:
    """DRF's 403, keeping the service's reason (the shared handler would replace it with a generic one)."""
    return exceptions.PermissionDenied(str(error) or None)


class ProjectViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Research projects. Staff create and change them; researchers read the projects they belong to."""

    permission_classes = [ResearchAccess]
    serializer_class = s.ProjectOutputSerializer
    lookup_value_regex = ID_PATTERN
    ordering_fields = ["created_at", "title", "data_use_agreement_ends"]
    ordering = ["-created_at", "id"]

    def get_queryset(self):
        return selectors.projects_visible_to(self.request.user).select_related("created_by").prefetch_related("members")

    def _respond(self, project, status_code=status.HTTP_200_OK):
        project = self.get_queryset().get(pk=project.pk)
        return Response(s.ProjectOutputSerializer(project).data, status=status_code)

    def retrieve(self, request, pk=None):
        return Response(s.ProjectOutputSerializer(self.get_object()).data)

    @write_schema(s.ProjectInputSerializer, s.ProjectOutputSerializer, status_code=201)
    @idempotent
    def create(self, request):
        data = _input(s.ProjectInputSerializer, request)
        members = data.pop("members", [])
        project = services.project_create(data=data, members=members, created_by=request.user)
        return self._respond(project, status.HTTP_201_CREATED)

    @write_schema(s.ProjectInputSerializer, s.ProjectOutputSerializer)
    def partial_update(self, request, pk=None):
        project = self.get_object()
        data = _input(s.ProjectInputSerializer, request, partial=True)
        members = data.pop("members", None)
        project = services.project_update(project=project, data=data, members=members)
        return self._respond(project)


def _input(serializer_class, request, *, partial=False) -> dict:
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class IdFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class ExportFilter(django_filters.FilterSet):
    project = IdFilter(field_name="project_id", min_value=1, max_value=10**18)
    status = django_filters.ChoiceFilter(choices=ExportStatus.choices)

    class Meta:
        model = ResearchExport
        fields = ["project", "status"]


TOKEN_PARAMETER = OpenApiParameter(
    name="token",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.QUERY,
    required=True,
    description="The signature from the export's download_url; valid for the requester only, for a limited time.",
)


class ExportViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Export requests: their status and progress, and the download of a finished package."""

    permission_classes = [ResearchAccess]
    researcher_writes = ("create",)
    serializer_class = s.ExportOutputSerializer
    filterset_class = ExportFilter
    lookup_value_regex = ID_PATTERN
    ordering_fields = ["created_at", "finished_at", "status"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        exports = selectors.exports_visible_to(self.request.user).select_related("requested_by")
        if is_staff_member(self.request.user):
            exports = exports.prefetch_related("downloads__user")
        return exports

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "staff": is_staff_member(self.request.user)}

    def retrieve(self, request, pk=None):
        return Response(self.get_serializer(self.get_object()).data)

    @write_schema(s.ExportInputSerializer, s.ExportAcceptedSerializer, status_code=202)
    @idempotent
    def create(self, request):
        """Request an export. It is built in the background: follow `status` and `progress_percent`."""
        data = _input(s.ExportInputSerializer, request)
        try:
            export = services.export_request(
                project=data["project"],
                requested_by=request.user,
                cohort=data["cohort"],
                include_ancestry=data["include_ancestry"],
            )
        except DjangoPermissionDenied as error:
            raise _permission_denied(error) from None
        message = services.export_accepted_message(export, queue_reachable=services.task_queue_reachable())
        export = self.get_queryset().get(pk=export.pk)
        body = {**self.get_serializer(export).data, "message": message}
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[TOKEN_PARAMETER],
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The package.")},
        filters=False,
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def download(self, request, pk=None):
        """The package, streamed from storage, for the requester holding a valid link; each download is recorded."""
        try:
            export, handle = services.export_download_open(
                export_id=int(pk), user=request.user, token=request.query_params.get("token", "")
            )
        except DjangoPermissionDenied as error:
            raise _permission_denied(error) from None
        except ResearchExport.DoesNotExist:
            raise exceptions.NotFound("No published package for this export.") from None
        return FileResponse(
            handle, as_attachment=True, filename=package_name(export.pk), content_type="application/zip"
        )
