"""`POST /api/v1/imports/`: check or import a legacy spreadsheet (docs/import.md), staff only.

The same service as the page (`workspace.imports.spreadsheet_import`); this view reads the upload
and renders the report. A site-limited member's lines for other sites are refused line by line.
"""

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.api.parsers import PayloadTooLarge, RegistryJSONParser, RegistryMultiPartParser
from registry.api.permissions import StaffOnly
from registry.api.schema import ErrorDetailSerializer
from workspace.imports import ImportReport, spreadsheet_import


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="The spreadsheet as CSV: UTF-8 (with or without a byte order mark), comma, semicolon or tab "
        "separated, the first line naming the columns (docs/import.md)."
    )
    dry_run = serializers.BooleanField(
        default=True,
        help_text="true (the default): check the file and write nothing. false: import it, all or nothing.",
    )


class ProblemSerializer(serializers.Serializer):
    line = serializers.IntegerField(
        allow_null=True, help_text="Line of the file (the header is line 1); null for the file as a whole."
    )
    column = serializers.CharField(allow_blank=True, help_text="Column name from the header; empty for the line.")
    message = serializers.CharField()


class ImportCountsSerializer(serializers.Serializer):
    rows = serializers.IntegerField(help_text="Lines of data read.")
    patients = serializers.IntegerField()
    enrollments = serializers.IntegerField()
    diagnoses = serializers.IntegerField()
    genotypes = serializers.IntegerField()
    assessments = serializers.IntegerField()
    legacy_variants = serializers.IntegerField(
        help_text="Alleles given in legacy NM_005476 numbering, stored in current numbering."
    )


class ImportReportSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    valid = serializers.BooleanField(help_text="True when the file has no problem (an import would succeed).")
    counts = ImportCountsSerializer(help_text="What was created, or for a check what would be.")
    problems = ProblemSerializer(many=True)
    created = serializers.ListField(
        child=serializers.UUIDField(), help_text="Ids of the patients created; empty for a check."
    )


class ImportErrorDetailSerializer(ErrorDetailSerializer):
    problems = ProblemSerializer(many=True, required=False, help_text="Every problem of the file, when it was read.")


class ImportErrorSerializer(serializers.Serializer):
    error = ImportErrorDetailSerializer()


def report_data(report: ImportReport) -> dict:
    return {
        "dry_run": report.dry_run,
        "valid": report.ok,
        "counts": report.counts(),
        "problems": [vars(problem) for problem in report.problems],
        "created": report.created,
    }


class ImportView(APIView):
    """Check (`dry_run=true`) or import a legacy registry spreadsheet; staff only.

    A check answers 200 with every problem found, by line and column, and what would be created;
    it writes nothing. An import writes everything or nothing: 201 with the counts and the new
    patients' ids, or 400 with every problem and nothing changed.
    """

    permission_classes = [StaffOnly]
    # JSON as well, only so that a JSON body (which cannot carry the file) is told which field is
    # missing (400) rather than that its type is wrong.
    parser_classes = [RegistryMultiPartParser, RegistryJSONParser]

    @extend_schema(
        request={"multipart/form-data": ImportInputSerializer},
        responses={
            200: OpenApiResponse(ImportReportSerializer, description="The check's report (nothing written)."),
            201: OpenApiResponse(ImportReportSerializer, description="Imported: counts and the new patients' ids."),
            400: OpenApiResponse(
                ImportErrorSerializer,
                description="Nothing imported: the file has problems (`error.problems`), or the request is invalid "
                "(`error.fields`).",
                examples=[
                    OpenApiExample(
                        "A bad line",
                        value={
                            "error": {
                                "status": 400,
                                "code": "invalid_file",
                                "message": "The file has 1 problem; nothing was imported.",
                                "problems": [
                                    {
                                        "line": 3,
                                        "column": "date_of_birth",
                                        "message": "Enter a full date as YYYY-MM-DD.",
                                    }
                                ],
                            }
                        },
                    )
                ],
            ),
        },
    )
    def post(self, request):
        data = ImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        limit = settings.REGISTRY_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise PayloadTooLarge(
                _("The file is %(size)s bytes; the import accepts up to %(limit)s.")
                % {"size": f"{upload.size:,}", "limit": f"{limit:,}"}
            )
        dry_run = data.validated_data["dry_run"]
        report = spreadsheet_import(content=upload.read(), user=request.user, dry_run=dry_run)
        if dry_run:
            return Response(report_data(report))
        if report.ok:
            return Response(report_data(report), status=status.HTTP_201_CREATED)
        count = len(report.problems)
        message = ngettext(
            "The file has %(count)d problem; nothing was imported.",
            "The file has %(count)d problems; nothing was imported.",
            count,
        ) % {"count": count}
        body = {"status": 400, "code": "invalid_file", "message": message, "problems": report_data(report)["problems"]}
        return Response({"error": body}, status=status.HTTP_400_BAD_REQUEST)
