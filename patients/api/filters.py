import django_filters

from patients.models import Diagnosis, Genotype, Patient, Treatment


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
    variant = django_filters.CharFilter(method="filter_variant", help_text="Current c. or p. name of either allele.")

    class Meta:
        model = Genotype
        fields = ["patient", "zygosity"]

    def filter_variant(self, queryset, name, value):
        from django.db.models import Q

        return queryset.filter(
            Q(allele1__name=value) | Q(allele2__name=value) | Q(allele1__protein=value) | Q(allele2__protein=value)
        )


class TreatmentFilter(PatientRecordFilter):
    class Meta:
        model = Treatment
        fields = ["patient", "kind", "in_clinical_trial"]
