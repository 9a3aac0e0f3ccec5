from django.contrib import admin
from django.contrib.auth import get_user_model

from patients.models import (
    ConsentDocument,
    ConsentGrant,
    Diagnosis,
    EnrollmentEvent,
    Genotype,
    Patient,
    PatientIdentity,
    Site,
    StaffSiteScope,
    Treatment,
    Variant,
)
from registry.admin import ReadOnlyInlineMixin, StaffEditableAdmin, StaffReadOnlyAdmin, may_use_admin
from registry.roles import STAFF


class IdentityInline(ReadOnlyInlineMixin, admin.StackedInline):
    model = PatientIdentity


class EnrollmentEventInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = EnrollmentEvent


@admin.register(Patient)
class PatientAdmin(StaffReadOnlyAdmin):
    list_display = ["uuid", "status", "country", "sex", "site", "created_at"]
    list_filter = ["status", "sex", "site"]
    search_fields = ["uuid", "identity__family_name", "identity__given_name", "identity__hospital_id"]
    list_select_related = ["site"]
    inlines = [IdentityInline, EnrollmentEventInline]


@admin.register(PatientIdentity)
class PatientIdentityAdmin(StaffReadOnlyAdmin):
    list_display = ["patient", "family_name", "given_name", "date_of_birth"]
    search_fields = ["family_name", "given_name", "email", "hospital_id"]
    list_select_related = ["patient"]


@admin.register(Diagnosis)
class DiagnosisAdmin(StaffReadOnlyAdmin):
    list_display = ["patient", "genetically_confirmed", "onset_date", "onset_age", "first_symptom"]
    list_select_related = ["patient"]


@admin.register(Genotype)
class GenotypeAdmin(StaffReadOnlyAdmin):
    list_display = ["patient", "allele1", "allele2", "zygosity"]
    list_filter = ["zygosity"]
    list_select_related = ["patient", "allele1", "allele2"]


@admin.register(Variant)
class VariantAdmin(StaffReadOnlyAdmin):
    list_display = ["name", "protein", "legacy_short", "variant_class", "protein_domain", "is_founder"]
    list_filter = ["variant_class", "protein_domain", "is_founder"]


@admin.register(Treatment)
class TreatmentAdmin(StaffReadOnlyAdmin):
    list_display = ["patient", "kind", "start_date", "stop_date", "in_clinical_trial"]
    list_select_related = ["patient"]


@admin.register(ConsentGrant)
class ConsentGrantAdmin(StaffReadOnlyAdmin):
    list_display = ["patient", "purpose", "document", "granted_on", "withdrawn_on"]
    list_filter = ["purpose"]
    list_select_related = ["patient", "document"]


@admin.register(Site)
class SiteAdmin(StaffEditableAdmin):
    list_display = ["code", "name", "country"]


@admin.register(ConsentDocument)
class ConsentDocumentAdmin(StaffEditableAdmin):
    list_display = ["code", "version", "title", "effective_from"]

    def has_change_permission(self, request, obj=None):
        # A document in use is never edited: a new wording is a new version.
        return super().has_change_permission(request, obj) and not (obj and obj.grants.exists())


@admin.register(StaffSiteScope)
class StaffSiteScopeAdmin(StaffEditableAdmin):
    """Which sites a staff member is limited to (docs/sites.md). Staff without a scope are foundation-wide.

    Taking sites away never widens access: a scope left with no site sees no patient. Deleting the
    scope is what makes a member foundation-wide, and is allowed here, as only foundation-wide staff
    (or a superuser) reach the admin at all.
    """

    list_display = ["user", "site_list"]
    list_select_related = ["user"]
    search_fields = ["user__username"]
    filter_horizontal = ["sites"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("sites")

    @admin.display(description="sites")
    def site_list(self, scope) -> str:
        return ", ".join(sorted(site.code for site in scope.sites.all())) or "none: sees no patient"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":  # only staff members have a scope to set
            kwargs["queryset"] = get_user_model().objects.filter(groups__name=STAFF).order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return may_use_admin(request.user)
