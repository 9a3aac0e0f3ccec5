from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from assessments.api.views import AssessmentViewSet, MilestoneViewSet
from patients.api.views import DiagnosisViewSet, GenotypeViewSet, PatientViewSet, TreatmentViewSet, VariantViewSet
from portal.api import InvitationViewSet
from registry.api.token import obtain_token
from registry.views import health, home
from research.api.views import ExportViewSet, ProjectViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("patients", PatientViewSet, basename="patient")
router.register("diagnoses", DiagnosisViewSet, basename="diagnosis")
router.register("genotypes", GenotypeViewSet, basename="genotype")
router.register("assessments", AssessmentViewSet, basename="assessment")
router.register("milestones", MilestoneViewSet, basename="milestone")
router.register("treatments", TreatmentViewSet, basename="treatment")
router.register("variants", VariantViewSet, basename="variant")
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
    path("research/", include("research.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("portal.urls")),
    path("api/v1/auth/token/", obtain_token, name="api-token"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
