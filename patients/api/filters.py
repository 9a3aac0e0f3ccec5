import django_filters
from django.db.models import Q
from rest_framework.exceptions import ValidationError

from patients.models import Diagnosis, Genotype, Patient, Treatment
from patients.variants import VariantError, parse_variant


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
