from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from assessments.api.views import AssessmentViewSet, MilestoneViewSet
from patients.api.audit import SiteScopedDeletedRecordsView
from patients.api.views import (
    ConsentDocumentViewSet,
    ConsentViewSet,
    DiagnosisViewSet,
    GenotypeViewSet,
    PatientViewSet,
    TreatmentViewSet,
    VariantViewSet,
)
from portal.api import InvitationViewSet
from registry.api import token as token_api
from registry.views import health, home
from research.api.views import ExportViewSet, ProjectViewSet
from workspace.api import ImportView

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("patients", PatientViewSet, basename="patient")
router.register("diagnoses", DiagnosisViewSet, basename="diagnosis")
router.register("genotypes", GenotypeViewSet, basename="genotype")
router.register("assessments", AssessmentViewSet, basename="assessment")
router.register("milestones", MilestoneViewSet, basename="milestone")
router.register("treatments", TreatmentViewSet, basename="treatment")
router.register("variants", VariantViewSet, basename="variant")
# Consent documents (versions, never edited) and grants: paper consents and withdrawals (docs/consent.md).
router.register("consent-documents", ConsentDocumentViewSet, basename="consent-document")
router.register("consents", ConsentViewSet, basename="consent")
# Staff invite a patient to claim their record in the portal (portal/api.py).
router.register("invitations", InvitationViewSet, basename="invitation")
router.register("research/projects", ProjectViewSet, basename="research-project")
# Also the signed download link: /api/v1/research/exports/<id>/download/?token=...
router.register("research/exports", ExportViewSet, basename="research-export")

urlpatterns = [
    path("", home, name="home"),
    path("health/", health, name="health"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("accounts/two-factor/", include("registry.twofactor.urls")),
    path("research/", include("research.urls")),
    path("staff/", include("workspace.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("portal.urls")),
    # Tokens: log in and out, and staff revoking a user's tokens (registry/api/token.py).
    path("api/v1/auth/", include(token_api)),
    # Staff: deleted records with their values, from the audit trail (docs/audit.md); of their sites' patients.
    path("api/v1/audit/deleted/", SiteScopedDeletedRecordsView.as_view(), name="audit-deleted"),
    # Staff: check or import a legacy spreadsheet, all or nothing (docs/import.md).
    path("api/v1/imports/", ImportView.as_view(), name="imports"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI under the site's Content-Security-Policy: the split view serves its start-up script
    # as a file (`?script`), so scripts stay 'self'; only its inline styles need allowing.
    path(
        "api/docs/",
        csp_replace({"style-src": [SELF, UNSAFE_INLINE]})(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
]
