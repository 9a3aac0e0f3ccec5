from django.contrib import admin

from patients.models import (
    ConsentDocument,
    ConsentGrant,
    Diagnosis,
    EnrollmentEvent,
    Genotype,
    Patient,
    PatientIdentity,
    Site,
    Treatment,
    Variant,
)
from registry.admin import ReadOnlyInlineMixin, StaffEditableAdmin, StaffReadOnlyAdmin


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
