"""Input and output of the research API. The pseudonym key is in none of them, by construction:
every serializer lists its fields explicitly."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from assessments.models import AmbulationClass
from research.cohort import EXPORTABLE_STATUSES, GENOTYPE_GROUPS, MAX_AGE
from research.models import ExportStatus, ResearchProject
from research.services import PROJECT_FIELDS, export_download_link

# --- Projects ---------------------------------------------------------------------------------


class ProjectInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    approving_body = serializers.CharField(max_length=200, help_text="Ethics committee or data-access committee.")
    approval_reference = serializers.CharField(max_length=100)
    data_use_agreement_ends = serializers.DateField(help_text="No export is built or downloaded after this day.")
    members = serializers.SlugRelatedField(
        many=True,
        slug_field="username",
        queryset=get_user_model().objects.all(),
        required=False,
        help_text="Usernames of the researchers who may request and download exports.",
    )
    k_anonymity = serializers.IntegerField(
        min_value=2, max_value=100, required=False, help_text="Smallest group over the quasi-identifiers."
    )
    minimum_cohort = serializers.IntegerField(
        min_value=2, max_value=10000, required=False, help_text="Smaller cohorts are refused."
    )
    ancestry_allowed = serializers.BooleanField(required=False)


class ProjectOutputSerializer(serializers.ModelSerializer):
    members = serializers.SlugRelatedField(many=True, read_only=True, slug_field="username")
    created_by = serializers.SlugRelatedField(read_only=True, slug_field="username", allow_null=True)

    class Meta:
        model = ResearchProject
        fields = ["id", *PROJECT_FIELDS, "members", "created_by", "created_at"]
        read_only_fields = fields


# --- Cohort definitions -----------------------------------------------------------------------


class CohortSchemaSerializer(serializers.Serializer):
    """The documented shape of a cohort definition; research.cohort.cohort_clean checks it."""

    genotype_group = serializers.ChoiceField(
        choices=GENOTYPE_GROUPS,
        required=False,
        help_text="homozygous_founder: both alleles the same catalogued founder variant (e.g. M743T / legacy M712T).",
    )
    domain_pair = serializers.CharField(
        required=False,
        help_text="Protein domains of the two alleles, in either order: kinase/kinase, epimerase/kinase.",
    )
    variant = serializers.CharField(
        required=False, help_text="A variant in current or legacy numbering (c.2228T>C, p.(Met743Thr), M712T)."
    )
    onset_age_min = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_AGE)
    onset_age_max = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_AGE)
    countries = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="ISO 3166 alpha-2 codes."
    )
    regions = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="UN M49 regions or sub-regions (Europe, Western Asia)."
    )
    baseline_ambulation = serializers.ListField(
        child=serializers.ChoiceField(choices=AmbulationClass.choices),
        required=False,
        help_text="Ambulation class at the first assessment.",
    )
    assessed_from = serializers.DateField(required=False, allow_null=True)
    assessed_to = serializers.DateField(required=False, allow_null=True)
    statuses = serializers.ListField(
        child=serializers.ChoiceField(choices=EXPORTABLE_STATUSES),
        required=False,
        help_text="Enrollment statuses; enrolled and lost_to_follow_up when empty.",
    )


@extend_schema_field(CohortSchemaSerializer)
class CohortField(serializers.JSONField):
    """A JSON object; its rules are in research.cohort so that every entry path applies them."""


# --- Exports ----------------------------------------------------------------------------------


class ExportInputSerializer(serializers.Serializer):
    project = serializers.PrimaryKeyRelatedField(queryset=ResearchProject.objects.all())
    cohort = CohortField(required=False, default=dict)
    include_ancestry = serializers.BooleanField(required=False, default=False)


class ExportDownloadSerializer(serializers.Serializer):
    user = serializers.CharField(source="user.username")
    downloaded_at = serializers.DateTimeField()


class ExportOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    status = serializers.ChoiceField(choices=ExportStatus.choices)
    progress_percent = serializers.IntegerField()
    step = serializers.CharField()
    reason = serializers.CharField(help_text="Why it failed or was refused.")
    size_bytes = serializers.IntegerField(allow_null=True)
    sha256 = serializers.CharField()
    patient_count = serializers.IntegerField(allow_null=True)
    achieved_k = serializers.IntegerField(allow_null=True)
    cohort = CohortField()
    include_ancestry = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    requested_by = serializers.CharField(source="requested_by.username")
    download_url = serializers.SerializerMethodField(
        help_text="Signed link for the requester once done; it expires (REGISTRY_EXPORT_LINK_DAYS)."
    )
    downloads = serializers.SerializerMethodField(help_text="Who downloaded it and when; staff only (null otherwise).")

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_download_url(self, export) -> str | None:
        request = self.context["request"]
        link = export_download_link(export=export, user=request.user)
        return request.build_absolute_uri(link) if link else None

    @extend_schema_field(ExportDownloadSerializer(many=True, allow_null=True))
    def get_downloads(self, export) -> list | None:
        if not self.context.get("staff"):
            return None
        return ExportDownloadSerializer(export.downloads.all(), many=True).data


class ExportAcceptedSerializer(ExportOutputSerializer):
    message = serializers.CharField(help_text="What happens next, including when the task queue is unavailable.")
