import django_filters
from django.db.models import Q
from rest_framework.exceptions import ValidationError

from patients.models import ConsentDocument, ConsentGrant, ConsentPurpose, Diagnosis, Genotype, Patient, Treatment
from patients.selectors import consent_grants_active
from patients.variants import VariantError, parse_variant
from registry.dates import today


class PatientFilter(django_filters.FilterSet):
    site = django_filters.CharFilter(field_name="site__code")

    class Meta:
        model = Patient
        fields = ["status", "sex", "country", "site"]


class PatientRecordFilter(django_filters.FilterSet):
    """Filters shared by the records that hang off one patient."""

    patient = django_filters.UUIDFilter(field_name="patient__uuid")


class DiagnosisFilter(PatientRecordFilter):
    class Meta:
        model = Diagnosis
        fields = ["patient", "genetically_confirmed", "first_symptom"]


class GenotypeFilter(PatientRecordFilter):
    variant = django_filters.CharFilter(
        method="filter_variant", help_text="A variant of either allele, in either numbering (e.g. M712T or c.2228T>C)."
    )

    class Meta:
        model = Genotype
        fields = ["patient", "zygosity"]

    def filter_variant(self, queryset, name, value):
        """Match either allele, in either numbering; by protein change when one is known."""
        try:
            parsed = parse_variant(value)
        except VariantError as error:
            raise ValidationError({"variant": str(error)}) from None
        if parsed.protein:
            return queryset.filter(Q(allele1__protein=parsed.protein) | Q(allele2__protein=parsed.protein))
        return queryset.filter(Q(allele1__name=parsed.name) | Q(allele2__name=parsed.name))


class TreatmentFilter(PatientRecordFilter):
    class Meta:
        model = Treatment
        fields = ["patient", "kind", "in_clinical_trial"]


class ConsentDocumentFilter(django_filters.FilterSet):
    class Meta:
        model = ConsentDocument
        fields = ["code", "requires_reconsent"]


class ConsentGrantFilter(PatientRecordFilter):
    purpose = django_filters.ChoiceFilter(choices=ConsentPurpose.choices)
    document = django_filters.NumberFilter(field_name="document_id")
    active = django_filters.BooleanFilter(
        method="filter_active", help_text="Given and not withdrawn as of today (true), or not (false)."
    )

    class Meta:
        model = ConsentGrant
        fields = ["patient", "purpose", "document", "active"]

    def filter_active(self, queryset, name, value):
        active = consent_grants_active(today())
        return queryset.filter(active) if value else queryset.exclude(active)
