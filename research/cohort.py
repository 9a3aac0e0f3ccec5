"""Cohort definitions for research exports: checking one, and finding the patients it selects.

A definition is a small JSON object a researcher sends. `cohort_clean` turns it into a canonical
form (every key present, lists sorted, the variant in current numbering) so that two requests
meaning the same cohort store the same definition. `cohort_patient_ids` runs it as one SQL query
and always adds the rule no definition can switch off: research consent active on the build day.
"""

import datetime as dt

from django.db.models import Exists, OuterRef, Q, Subquery
from django_countries import countries as country_names

from assessments.models import AmbulationClass, Assessment
from patients.models import ConsentGrant, ConsentPurpose, EnrollmentStatus, Patient, Zygosity
from patients.variants import VariantError, gne_reference, parse_variant
from registry.errors import ValidationError
from research.package.deid import regions as country_regions

GENOTYPE_GROUPS = ("", "homozygous", "homozygous_founder", "compound_heterozygous", "single_variant")
DEFAULT_STATUSES = (EnrollmentStatus.ENROLLED.value, EnrollmentStatus.LOST_TO_FOLLOW_UP.value)
# Withdrawn patients left the registry, and candidates have not joined it: neither is ever exported.
EXPORTABLE_STATUSES = (*DEFAULT_STATUSES, EnrollmentStatus.DECEASED.value)
MAX_AGE = 120
FIELDS = (
    "genotype_group",
    "domain_pair",
    "variant",
    "onset_age_min",
    "onset_age_max",
    "countries",
    "regions",
    "baseline_ambulation",
    "assessed_from",
    "assessed_to",
    "statuses",
)


def region_names() -> set[str]:
    return {name for entry in country_regions().values() for name in (entry["sub_region"], entry["region"])}


def countries_in_regions(regions: list[str]) -> set[str]:
    wanted = set(regions)
    return {code for code, entry in country_regions().items() if wanted & {entry["sub_region"], entry["region"]}}


def domain_names() -> list[str]:
    return sorted(region["name"] for region in gne_reference()["domains"]["regions"])


# --- Checking a definition --------------------------------------------------------------------


def cohort_clean(data: dict) -> dict:
    """The canonical form of a cohort definition; ValidationError names each field that is wrong."""
    if not isinstance(data, dict):
        raise ValidationError({"cohort": "Send the cohort as a JSON object."})
    errors: dict[str, str] = {}
    unknown = sorted(set(data) - set(FIELDS))
    for name in unknown:
        errors[name] = f"Unknown cohort filter; the filters are: {', '.join(FIELDS)}."
    clean: dict = {}
    for name, checker in _CHECKERS.items():
        try:
            clean[name] = checker(data.get(name))
        except ValidationError as error:
            errors[name] = error.messages[0]
    if not errors:
        errors.update(_cross_field_errors(clean))
    if errors:
        raise ValidationError({f"cohort.{name}": message for name, message in errors.items()})
    return {name: clean[name] for name in FIELDS}


def _cross_field_errors(clean: dict) -> dict[str, str]:
    errors = {}
    low, high = clean["onset_age_min"], clean["onset_age_max"]
    if low is not None and high is not None and low > high:
        errors["onset_age_max"] = f"The highest onset age ({high}) is below the lowest ({low})."
    start, end = clean["assessed_from"], clean["assessed_to"]
    if start and end and start > end:
        errors["assessed_to"] = f"The period ends ({end}) before it starts ({start})."
    if clean["domain_pair"] and clean["genotype_group"] == "single_variant":
        errors["domain_pair"] = "A pair of domains needs two alleles; single-variant genotypes have one."
    return errors


def _genotype_group(value) -> str:
    value = "" if value is None else value
    if value not in GENOTYPE_GROUPS:
        raise ValidationError(f"Choose one of: {', '.join(repr(group) for group in GENOTYPE_GROUPS)}.")
    return value


def _domain_pair(value) -> str:
    """ "epimerase/kinase": the protein domains of the two alleles, in either order (stored sorted)."""
    if value in (None, ""):
        return ""
    names = domain_names()
    parts = value.split("/") if isinstance(value, str) else []
    if len(parts) != 2 or not all(part.strip().lower() in names for part in parts):
        raise ValidationError(
            f"Give two domains separated by '/', each one of {', '.join(names)} (e.g. kinase/kinase)."
        )
    return "/".join(sorted(part.strip().lower() for part in parts))


def _variant(value) -> str:
    """A variant in either numbering, stored by its current-numbering name."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise ValidationError("Give the variant as text, e.g. M712T or c.2228T>C.")
    try:
        return parse_variant(value).name
    except VariantError as error:
        raise ValidationError(str(error)) from None


def _age(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AGE:
        raise ValidationError(f"Enter an age in whole years from 0 to {MAX_AGE}.")
    return value


def _string_list(value, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(f"Give a list of {what}.")
    return value


def _countries(value) -> list[str]:
    codes = [code.strip().upper() for code in _string_list(value, 'ISO 3166 country codes, e.g. ["IL", "JP"]')]
    unknown = [code for code in codes if code not in dict(country_names)]
    if unknown:
        raise ValidationError(f"Unknown country code(s): {', '.join(unknown)}; use ISO 3166 alpha-2 codes such as IL.")
    return sorted(set(codes))


def _regions(value) -> list[str]:
    names = _string_list(value, 'UN M49 regions or sub-regions, e.g. ["Western Asia"]')
    known = region_names()
    by_lower = {name.lower(): name for name in known}
    unknown = [name for name in names if name.strip().lower() not in by_lower]
    if unknown:
        raise ValidationError(
            f"Unknown region(s): {', '.join(unknown)}; use UN M49 names such as Europe, Asia or Western Asia."
        )
    return sorted({by_lower[name.strip().lower()] for name in names})


def _ambulation(value) -> list[int]:
    if value is None:
        return []
    allowed = {choice.value for choice in AmbulationClass}
    if (
        not isinstance(value, list)
        or not all(isinstance(item, int) and not isinstance(item, bool) for item in value)
        or set(value) - allowed
    ):
        described = "; ".join(f"{choice.value} = {choice.label}" for choice in AmbulationClass)
        raise ValidationError(f"Give a list of ambulation classes: {described}.")
    return sorted(set(value))


def _date(value) -> str | None:
    if value in (None, ""):
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d").date().isoformat()
    except (TypeError, ValueError):
        raise ValidationError("Enter a date as YYYY-MM-DD.") from None


def _statuses(value) -> list[str]:
    if value is None or value == []:
        return list(DEFAULT_STATUSES)
    statuses = _string_list(value, "enrollment statuses")
    refused = sorted(set(statuses) - set(EXPORTABLE_STATUSES))
    if refused:
        raise ValidationError(
            f"Not exportable: {', '.join(refused)}. Choose from {', '.join(EXPORTABLE_STATUSES)} "
            "(withdrawn patients and candidates are never exported)."
        )
    return sorted(set(statuses))


_CHECKERS = {
    "genotype_group": _genotype_group,
    "domain_pair": _domain_pair,
    "variant": _variant,
    "onset_age_min": _age,
    "onset_age_max": _age,
    "countries": _countries,
    "regions": _regions,
    "baseline_ambulation": _ambulation,
    "assessed_from": _date,
    "assessed_to": _date,
    "statuses": _statuses,
}


# --- Selecting the patients -------------------------------------------------------------------


def research_consent_active(on: dt.date) -> Exists:
    """SQL form of patients.selectors.consent_is_active for the research purpose, for many patients at once.

    A withdrawal is dated on the patient's own calendar, which runs up to a day ahead of the
    registry's (Asia/Tokyo's morning is still yesterday in UTC). Counting withdrawals dated up to
    the day after `on` makes every withdrawal already recorded take effect at once; no withdrawal
    can be dated later than that (services refuse future dates in the patient's zone).
    """
    withdrawal_recorded_by = on + dt.timedelta(days=1)
    return Exists(
        ConsentGrant.objects.filter(patient=OuterRef("pk"), purpose=ConsentPurpose.RESEARCH, granted_on__lte=on).filter(
            Q(withdrawn_on__isnull=True) | Q(withdrawn_on__gt=withdrawal_recorded_by)
        )
    )


def cohort_patient_ids(cohort: dict, *, on: dt.date) -> list[int]:
    """Internal ids of the patients a cleaned definition selects, with research consent active `on`, sorted."""
    # Erasure ends every consent already; the erased_at filter keeps an erased patient out even if a
    # consent were recorded for them afterwards by mistake (docs/consent.md, "Erasure").
    patients = Patient.objects.filter(
        research_consent_active(on), status__in=cohort["statuses"], erased_at__isnull=True
    )
    patients = patients.filter(_genotype_filter(cohort))
    if cohort["onset_age_min"] is not None:
        patients = patients.filter(diagnosis__onset_age__gte=cohort["onset_age_min"])
    if cohort["onset_age_max"] is not None:
        patients = patients.filter(diagnosis__onset_age__lte=cohort["onset_age_max"])
    if cohort["countries"] or cohort["regions"]:
        patients = patients.filter(
            country__in=sorted(set(cohort["countries"]) | countries_in_regions(cohort["regions"]))
        )
    if cohort["baseline_ambulation"]:
        patients = patients.annotate(baseline_ambulation=_baseline_ambulation()).filter(
            baseline_ambulation__in=cohort["baseline_ambulation"]
        )
    if cohort["assessed_from"] or cohort["assessed_to"]:
        patients = patients.filter(_assessed_in(cohort["assessed_from"], cohort["assessed_to"]))
    return list(patients.order_by("pk").values_list("pk", flat=True))


def _genotype_filter(cohort: dict) -> Q:
    query = Q()
    group = cohort["genotype_group"]
    if group == "homozygous_founder":
        query &= Q(genotype__zygosity=Zygosity.HOMOZYGOUS, genotype__allele1__is_founder=True)
    elif group:
        query &= Q(genotype__zygosity=group)
    if cohort["domain_pair"]:
        first, second = cohort["domain_pair"].split("/")
        query &= Q(genotype__allele1__protein_domain=first, genotype__allele2__protein_domain=second) | Q(
            genotype__allele1__protein_domain=second, genotype__allele2__protein_domain=first
        )
    if cohort["variant"]:
        query &= _carries(cohort["variant"], "genotype__allele1") | _carries(cohort["variant"], "genotype__allele2")
    return query


def _carries(name: str, allele: str) -> Q:
    """An allele that is the variant, however it was entered.

    One variant can be stored under two names: "c.2228T>C" when the report gave the c. change,
    "p.(Met743Thr)" when only the protein change (or legacy "M712T") was typed. A c. filter
    matches the same c. change, or a record that has only the same protein change; a p. filter
    matches every record with that protein change.
    """
    parsed = parse_variant(name, numbering="current")
    if not parsed.cdna:
        return Q(**{f"{allele}__protein": parsed.protein})
    query = Q(**{f"{allele}__cdna": parsed.cdna})
    if parsed.protein:
        query |= Q(**{f"{allele}__cdna": "", f"{allele}__protein": parsed.protein})
    return query


def _baseline_ambulation() -> Subquery:
    """Ambulation class at the first assessment (the baseline), whatever later visits say."""
    first = Assessment.objects.filter(patient=OuterRef("pk")).order_by("assessment_date", "id")
    return Subquery(first.values("ambulation_class")[:1])


def _assessed_in(start: str | None, end: str | None) -> Exists:
    visits = Assessment.objects.filter(patient=OuterRef("pk"))
    if start:
        visits = visits.filter(assessment_date__gte=start)
    if end:
        visits = visits.filter(assessment_date__lte=end)
    return Exists(visits)
