"""Writes to patient records. Every entry path (API, admin, forms, imports, seeding) comes here,
so the validation rules of docs/clinical-rules.md hold whichever way data arrives."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Min

from patients.access import staff_site_ids
from patients.models import (
    ConsentDocument,
    ConsentGrant,
    ConsentPurpose,
    Diagnosis,
    EnrollmentEvent,
    EnrollmentStatus,
    Genotype,
    Patient,
    PatientIdentity,
    Treatment,
    Variant,
    Zygosity,
)
from patients.selectors import diagnosis_timeline, patient_date_limits
from patients.variants import ParsedVariant, VariantError, parse_variant
from registry.dates import MAX_AGE_YEARS, PartialDate, age_in_years, life_date_error, today
from registry.errors import ValidationError
from registry.records import apply_changes, lock_for_update
from registry.roles import is_staff_member

PATIENT_FIELDS = ("sex", "country", "ancestry", "consanguinity", "affected_relatives", "site")
IDENTITY_FIELDS = (
    "given_name",
    "family_name",
    "date_of_birth",
    "date_of_death",
    "email",
    "phone",
    "postal_address",
    "national_id",
    "hospital_id",
)

# Which status may follow which. Death is final; withdrawal can be reversed by re-enrolling.
STATUS_TRANSITIONS = {
    EnrollmentStatus.CANDIDATE: {EnrollmentStatus.ENROLLED, EnrollmentStatus.WITHDRAWN, EnrollmentStatus.DECEASED},
    EnrollmentStatus.ENROLLED: {
        EnrollmentStatus.LOST_TO_FOLLOW_UP,
        EnrollmentStatus.WITHDRAWN,
        EnrollmentStatus.DECEASED,
    },
    EnrollmentStatus.LOST_TO_FOLLOW_UP: {
        EnrollmentStatus.ENROLLED,
        EnrollmentStatus.WITHDRAWN,
        EnrollmentStatus.DECEASED,
    },
    EnrollmentStatus.WITHDRAWN: {EnrollmentStatus.ENROLLED, EnrollmentStatus.DECEASED},
    EnrollmentStatus.DECEASED: set(),
}


# --- Patients ---------------------------------------------------------------------------------


def patient_lock(*, patient_id: int) -> Patient:
    """Lock one patient's row (identity and diagnosis read alongside) for a write to their clinical record.

    Writes to one patient's assessments and milestones are serialised by this lock, because derived
    milestones and the ordering rules depend on all of that patient's records. Only the patient
    row is locked (`of=("self",)`): PostgreSQL cannot lock the optional side of the identity join.
    """
    return Patient.objects.select_for_update(of=("self",)).select_related("identity", "diagnosis").get(pk=patient_id)


def _check_identity_dates(identity: dict) -> None:
    errors = {}
    birth, death = identity.get("date_of_birth"), identity.get("date_of_death")
    if birth and birth > today():
        errors["date_of_birth"] = "Date of birth cannot be in the future."
    elif birth and age_in_years(birth, today()) > MAX_AGE_YEARS:
        errors["date_of_birth"] = f"Date of birth gives an age over {MAX_AGE_YEARS}."
    if death and death > today():
        errors["date_of_death"] = "Date of death cannot be in the future."
    elif death and birth and death < birth:
        errors["date_of_death"] = "Date of death is before the date of birth."
    if errors:
        raise ValidationError({f"identity.{key}": message for key, message in errors.items()})


def _check_site_for(user, site) -> None:
    """A staff member limited to some sites registers patients at, and moves them between, those sites only.

    A site must be given: a patient without one would at once be hidden from the member who entered
    them. docs/sites.md.
    """
    if user is None or not is_staff_member(user):
        return
    site_ids = staff_site_ids(user)
    if site_ids is None:  # foundation-wide
        return
    if site is None:
        raise ValidationError({"site": "Choose one of your sites: a patient without a site would be hidden from you."})
    if site.pk not in site_ids:
        raise ValidationError({"site": "You can only place patients at the sites you work for."})


@transaction.atomic
def patient_create(*, data: dict, identity: dict, recorded_by=None) -> Patient:
    """Register a patient as a candidate; enrollment is a status change of its own.

    `recorded_by` limited to some sites must place the patient at one of them (docs/sites.md).
    """
    _check_site_for(recorded_by, data.get("site"))
    _check_identity_dates(identity)
    patient = Patient.objects.create(**{key: data[key] for key in PATIENT_FIELDS if key in data})
    PatientIdentity.objects.create(patient=patient, **identity)
    EnrollmentEvent.objects.create(
        patient=patient,
        status=EnrollmentStatus.CANDIDATE,
        effective_date=today(),
        reason="Registered",
        recorded_by=recorded_by,
    )
    return patient


@transaction.atomic
def patient_update(
    *, patient: Patient, expected_version: int, data: dict, identity: dict | None = None, changed_by=None
) -> Patient:
    """Change a patient's record and identity. `changed_by` limited to some sites may move the patient
    only to another of their sites (docs/sites.md); that they may see the patient at all is the caller's check."""
    if "site" in data:
        _check_site_for(changed_by, data["site"])
    patient = lock_for_update(patient, expected_version)
    if identity:
        current = PatientIdentity.objects.select_for_update().get(patient=patient)
        merged = {name: getattr(current, name) for name in IDENTITY_FIELDS} | identity
        _check_identity_dates(merged)
        _check_clinical_dates_within_life(patient, merged["date_of_birth"], merged["date_of_death"])
        apply_changes(current, identity)
        current.save()
    apply_changes(patient, {key: data[key] for key in PATIENT_FIELDS if key in data})
    patient.version += 1
    patient.save()
    return patient


def _check_clinical_dates_within_life(patient: Patient, birth: dt.date | None, death: dt.date | None) -> None:
    """A corrected birth or death date must still enclose the assessments and the partial dates
    already recorded (the same whole-interval rule as on entry)."""
    dates = list(patient.assessments.values_list("assessment_date", flat=True).order_by("assessment_date"))
    if dates and birth and dates[0] < birth:
        raise ValidationError({"identity.date_of_birth": f"An assessment on {dates[0]} is before this date of birth."})
    if dates and death and dates[-1] > death:
        raise ValidationError({"identity.date_of_death": f"An assessment on {dates[-1]} is after this date of death."})
    for label, partial in _partial_dates_on_record(patient) if birth or death else ():
        if birth and partial.latest < birth:  # "2005" is still possible for a birth on 2005-12-31
            raise ValidationError({"identity.date_of_birth": f"The {label} ({partial}) is before this date of birth."})
        if death and partial.earliest > death:
            raise ValidationError({"identity.date_of_death": f"The {label} ({partial}) is after this date of death."})


def _partial_dates_on_record(patient: Patient) -> list[tuple[str, PartialDate]]:
    """Stored partial dates checked against the date of birth when entered: diagnosis, treatments,
    reported milestones (derived ones carry assessment dates, checked above)."""
    found = []
    diagnosis = Diagnosis.objects.filter(patient=patient).first()
    if diagnosis:
        found += [
            ("onset date", PartialDate.from_stored(diagnosis.onset_date, diagnosis.onset_date_precision)),
            (
                "genetic diagnosis date",
                PartialDate.from_stored(diagnosis.genetic_diagnosis_date, diagnosis.genetic_diagnosis_date_precision),
            ),
        ]
    for start, start_precision, stop, stop_precision in patient.treatments.values_list(
        "start_date", "start_date_precision", "stop_date", "stop_date_precision"
    ):
        found += [
            ("start of a treatment", PartialDate.from_stored(start, start_precision)),
            ("stop of a treatment", PartialDate.from_stored(stop, stop_precision)),
        ]
    reported = patient.milestones.filter(source="reported", date__isnull=False)
    for kind, date, precision in reported.values_list("kind", "date", "date_precision"):
        found.append((f"reported {kind} milestone", PartialDate.from_stored(date, precision)))
    return [(label, partial) for label, partial in found if partial]


@transaction.atomic
def patient_change_status(
    *, patient: Patient, status: str, effective_date: dt.date, reason: str = "", recorded_by=None
) -> EnrollmentEvent:
    """Move a patient to a new enrollment status from a given date (dated history is kept).

    The history is in date order: a change cannot be dated before the previous one. The one
    exception is the first change after registration, which may carry its real, earlier date
    (a patient enrolled in 2005 and entered today): the registration is then dated to that day,
    since a patient is a candidate no later than they enroll.

    The effective day of a withdrawal or death is the last day of participation: assessments may
    be dated on it, not after it. A withdrawal ends every active consent grant on that day, so no
    later export or contact includes the patient; re-enrolling asks for consent again.
    """
    patient = Patient.objects.select_for_update(of=("self",)).select_related("identity").get(pk=patient.pk)
    birth = patient_date_limits(patient).birth
    _check_status_change(current=patient.status, status=status, effective_date=effective_date, birth=birth)
    history = list(patient.enrollment_events.order_by("effective_date", "id"))
    redated = _order_status_change(history, effective_date)
    if redated:
        redated.save(update_fields=["effective_date"])
    if status in (EnrollmentStatus.WITHDRAWN, EnrollmentStatus.DECEASED):
        later = patient.assessments.filter(assessment_date__gt=effective_date).order_by("assessment_date").first()
        if later:
            raise ValidationError(
                {"effective_date": f"An assessment is recorded on {later.assessment_date}, after this date."}
            )
    event = EnrollmentEvent.objects.create(
        patient=patient, status=status, effective_date=effective_date, reason=reason, recorded_by=recorded_by
    )
    if status == EnrollmentStatus.WITHDRAWN:
        _consent_end_all(patient=patient, on=effective_date)
    if status == EnrollmentStatus.DECEASED:
        # Saved, not updated through a queryset: only a save writes the identity's history row (who
        # set the date of death, through which path, and its value before). A date already recorded
        # is kept.
        identity = PatientIdentity.objects.select_for_update().filter(patient=patient).first()
        if identity is not None and identity.date_of_death is None:
            identity.date_of_death = effective_date
            identity.save(update_fields=["date_of_death"])
    patient.status = status
    patient.version += 1
    patient.save(update_fields=["status", "version", "updated_at"])
    return event


def _check_status_change(*, current: str, status: str, effective_date: dt.date, birth: dt.date | None) -> None:
    """Whether `status` may follow `current` on that day (STATUS_TRANSITIONS, not in the future, not before birth)."""
    allowed = STATUS_TRANSITIONS[EnrollmentStatus(current)]
    if status not in allowed:
        names = ", ".join(sorted(allowed)) or "none (the record is closed)"
        raise ValidationError({"status": f"A {current} patient cannot become {status}; allowed: {names}."})
    if effective_date > today():
        raise ValidationError({"effective_date": "The effective date cannot be in the future."})
    if birth and effective_date < birth:
        raise ValidationError({"effective_date": f"The effective date is before the date of birth ({birth})."})


def _order_status_change(history: list[EnrollmentEvent], effective_date: dt.date) -> EnrollmentEvent | None:
    """The date-order rule of `patient_change_status` on a history in date order, without queries.

    Returns the registration event, re-dated in memory (the caller saves it), when the first change
    after registration is dated before it; None when the change simply follows; raises otherwise.
    """
    last = history[-1] if history else None
    if not last or effective_date >= last.effective_date:
        return None
    if not _is_registration_only(history):
        raise ValidationError(
            {
                "effective_date": f"The previous status change ({last.status}) was on {last.effective_date}; "
                "a new one cannot be dated earlier."
            }
        )
    last.effective_date = effective_date
    return last


def _is_registration_only(history: list[EnrollmentEvent]) -> bool:
    """Whether the history holds nothing but the candidate event made when the patient was registered."""
    return len(history) == 1 and history[0].status == EnrollmentStatus.CANDIDATE


def _consent_end_all(*, patient: Patient, on: dt.date) -> None:
    """End every active consent grant of a withdrawing patient on the day the withdrawal takes effect."""
    active = ConsentGrant.objects.select_for_update().filter(patient=patient, withdrawn_on=None)
    granted_later = active.filter(granted_on__gt=on).order_by("granted_on").first()
    if granted_later:
        raise ValidationError(
            {
                "effective_date": f"Consent for {granted_later.purpose} was given on {granted_later.granted_on}, "
                "after this withdrawal date; date the withdrawal on or after it."
            }
        )
    _end_grants(list(active), on=on)


# --- Diagnosis --------------------------------------------------------------------------------


def _diagnosis_check(patient: Patient, values: dict) -> list[dict]:
    """Apply docs/clinical-rules.md (rules 1 and 6) to a diagnosis; return review flags, raise on hard errors."""
    limits = patient_date_limits(patient)
    first_assessment = patient.assessments.aggregate(first=Min("assessment_date"))["first"]
    return _diagnosis_rules(values, birth=limits.birth, death=limits.death, first_assessment=first_assessment)


def _diagnosis_rules(
    values: dict, *, birth: dt.date | None, death: dt.date | None = None, first_assessment: dt.date | None
) -> list[dict]:
    """The diagnosis rules on given facts, without queries (`_diagnosis_check` reads them for one patient).

    `values` may gain the computed `onset_age`. Returns review flags; raises ValidationError on hard errors.
    """
    errors: dict[str, str] = {}
    flags: list[dict] = []
    onset: PartialDate | None = PartialDate.from_stored(values.get("onset_date"), values.get("onset_date_precision"))
    genetic: PartialDate | None = PartialDate.from_stored(
        values.get("genetic_diagnosis_date"), values.get("genetic_diagnosis_date_precision")
    )
    for name, partial in (("onset_date", onset), ("genetic_diagnosis_date", genetic)):
        error = partial and life_date_error(partial, birth=birth, death=death)
        if error:
            errors[name] = error

    onset_age = values.get("onset_age")
    if onset and birth and not errors.get("onset_date"):
        # "2010" for someone born in May 1985 is age 24 or 25: a stated age must be one of them,
        # and a computed one is the age in the middle of the interval (docs/clinical-rules.md,
        # "Partial dates").
        youngest = age_in_years(birth, max(onset.earliest, birth))
        oldest = age_in_years(birth, onset.latest)
        if onset_age is not None and not youngest <= onset_age <= oldest:
            possible = str(youngest) if youngest == oldest else f"{youngest} to {oldest}"
            errors["onset_age"] = f"The onset date ({onset}) gives age {possible}, not {onset_age}."
        if onset_age is None:
            values["onset_age"] = onset_age = age_in_years(birth, max(onset.midpoint, birth))
    if onset_age is not None and birth and onset_age > age_in_years(birth, today()):
        errors["onset_age"] = "Age at onset is above the patient's current age."

    if onset and first_assessment and onset.earliest > first_assessment:
        errors["onset_date"] = f"Onset is after the first assessment ({first_assessment})."
    elif (
        not onset
        and onset_age is not None
        and birth
        and first_assessment
        and onset_age > age_in_years(birth, first_assessment)
    ):
        errors["onset_age"] = f"Age at onset is above the age at the first assessment ({first_assessment})."

    if values.get("rimmed_vacuoles") == "yes" and values.get("biopsy_done") != "yes":
        errors["rimmed_vacuoles"] = "Rimmed vacuoles can only be recorded when a biopsy was done."
    if errors:
        raise ValidationError(errors)

    timeline = diagnosis_timeline(onset=onset, onset_age=onset_age, genetic_diagnosis=genetic, birth=birth)
    if timeline.diagnosis_before_onset:
        # Possible (a relative tested before symptoms), so flagged rather than refused.
        flags.append(
            {
                "code": "genetic_diagnosis_before_onset",
                "field": "genetic_diagnosis_date",
                "message": f"The genetic diagnosis ({genetic}) is before symptom onset; "
                "correct the dates, or confirm a diagnosis made before symptoms.",
            }
        )
    low, high = settings.REGISTRY_ONSET_REVIEW_MIN_AGE, settings.REGISTRY_ONSET_REVIEW_MAX_AGE
    if onset_age is not None and not low <= onset_age <= high:
        flags.append(
            {
                "code": "onset_age_unusual",
                "field": "onset_age",
                "message": f"Onset at age {onset_age} is outside the usual {low}-{high}; please confirm.",
            }
        )
    return flags


DIAGNOSIS_FIELDS = (
    "genetically_confirmed",
    "onset_date",
    "onset_date_precision",
    "onset_age",
    "first_symptom",
    "genetic_diagnosis_date",
    "genetic_diagnosis_date_precision",
    "prior_misdiagnoses",
    "biopsy_done",
    "rimmed_vacuoles",
    "ck_at_diagnosis",
)


@transaction.atomic
def diagnosis_create(*, patient: Patient, data: dict) -> Diagnosis:
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if Diagnosis.objects.filter(patient=patient).exists():
        raise ValidationError({"patient": "This patient already has a diagnosis record; update it instead."})
    values = {name: data.get(name) for name in DIAGNOSIS_FIELDS if name in data}
    flags = _diagnosis_check(patient, values)
    return Diagnosis.objects.create(patient=patient, review_flags=flags, **values)


@transaction.atomic
def diagnosis_update(*, diagnosis: Diagnosis, expected_version: int, data: dict) -> Diagnosis:
    diagnosis = lock_for_update(diagnosis, expected_version)
    values = {name: getattr(diagnosis, name) for name in DIAGNOSIS_FIELDS}
    values |= {name: data[name] for name in DIAGNOSIS_FIELDS if name in data}
    if "onset_date" in data and "onset_age" not in data:
        values["onset_age"] = None  # recomputed from the new date
    diagnosis.review_flags = _diagnosis_check(diagnosis.patient, values)
    apply_changes(diagnosis, values)
    diagnosis.version += 1
    diagnosis.save()
    return diagnosis


# --- Genotype ---------------------------------------------------------------------------------


def variant_for(parsed: ParsedVariant) -> Variant:
    """The stored row for a parsed variant, created on first use."""
    catalogue = parsed.catalogue_entry or {}
    variant, _ = Variant.objects.get_or_create(
        name=parsed.name,
        defaults={
            "cdna": parsed.cdna,
            "protein": parsed.protein,
            "legacy_cdna": parsed.legacy_cdna,
            "legacy_protein": parsed.legacy_protein,
            "legacy_short": parsed.legacy_short,
            "protein_position": parsed.protein_position,
            "variant_class": parsed.variant_class,
            "protein_domain": parsed.protein_domain,
            "is_founder": bool(catalogue),
            "founder_populations": catalogue.get("populations", []),
        },
    )
    return variant


def _parse_allele(field: str, text: str, numbering: str) -> ParsedVariant:
    try:
        return parse_variant(text, numbering=numbering)
    except VariantError as error:
        raise ValidationError({field: str(error)}) from None


def same_variant(first: ParsedVariant, second: ParsedVariant) -> bool:
    """Whether two alleles name one variant (docs/clinical-rules.md, rule 4: homozygous means allele 2 = allele 1).

    A report that gives only the protein change (often a legacy name such as M712T) matches a full
    c. name with the same protein change: the DNA change is unstated there, not different.
    """
    if first.name == second.name:
        return True
    one_lacks_cdna = not (first.cdna and second.cdna)
    return one_lacks_cdna and bool(first.protein) and first.protein == second.protein


GENOTYPE_INPUT_FIELDS = (
    "allele1",
    "allele1_numbering",
    "allele1_acmg_class",
    "allele2",
    "allele2_numbering",
    "allele2_acmg_class",
    "second_allele_not_found",
)


def _genotype_values(data: dict) -> tuple[dict, list[str]]:
    """Parse both alleles and derive zygosity; return model values and notes for the person entering."""
    allele1_text = (data.get("allele1") or "").strip()
    allele2_text = (data.get("allele2") or "").strip()
    not_found = bool(data.get("second_allele_not_found"))
    if not allele1_text:
        raise ValidationError({"allele1": "Enter the first GNE variant."})
    if allele2_text and not_found:
        raise ValidationError({"second_allele_not_found": "A second variant was entered; it cannot also be not found."})
    if not allele2_text and not not_found:
        raise ValidationError(
            {
                "allele2": "Enter the second GNE variant (the same one again if homozygous), "
                "or mark the second allele as not found."
            }
        )
    first = _parse_allele("allele1", allele1_text, data.get("allele1_numbering") or "auto")
    second = _parse_allele("allele2", allele2_text, data.get("allele2_numbering") or "auto") if allele2_text else None

    if second is None:
        zygosity = Zygosity.SINGLE_VARIANT
    elif same_variant(first, second):
        zygosity = Zygosity.HOMOZYGOUS
    else:
        zygosity = Zygosity.COMPOUND_HETEROZYGOUS
    values = {
        "allele1": variant_for(first),
        "allele1_entered_as": allele1_text,
        "allele1_entered_numbering": first.numbering_entered,
        "allele1_acmg_class": data.get("allele1_acmg_class") or "",
        "allele2": variant_for(second) if second else None,
        "allele2_entered_as": allele2_text,
        "allele2_entered_numbering": second.numbering_entered if second else "",
        "allele2_acmg_class": (data.get("allele2_acmg_class") or "") if second else "",
        "second_allele_not_found": not_found,
        "zygosity": zygosity,
    }
    notes = list(first.notes) + (list(second.notes) if second else [])
    return values, notes


@transaction.atomic
def genotype_create(*, patient: Patient, data: dict) -> tuple[Genotype, list[str]]:
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if Genotype.objects.filter(patient=patient).exists():
        raise ValidationError({"patient": "This patient already has a genotype; update it instead."})
    values, notes = _genotype_values(data)
    return Genotype.objects.create(patient=patient, **values), notes


@transaction.atomic
def genotype_update(*, genotype: Genotype, expected_version: int, data: dict) -> tuple[Genotype, list[str]]:
    genotype = lock_for_update(genotype, expected_version)
    current = {
        "allele1": genotype.allele1_entered_as,
        "allele1_numbering": genotype.allele1_entered_numbering,
        "allele1_acmg_class": genotype.allele1_acmg_class,
        "allele2": genotype.allele2_entered_as,
        "allele2_numbering": genotype.allele2_entered_numbering or "auto",
        "allele2_acmg_class": genotype.allele2_acmg_class,
        "second_allele_not_found": genotype.second_allele_not_found,
    }
    merged = current | {key: data[key] for key in GENOTYPE_INPUT_FIELDS if key in data}
    if "allele1" in data and "allele1_numbering" not in data:
        merged["allele1_numbering"] = "auto"
    if "allele2" in data and "allele2_numbering" not in data:
        merged["allele2_numbering"] = "auto"
    values, notes = _genotype_values(merged)
    apply_changes(genotype, values)
    genotype.version += 1
    genotype.save()
    return genotype, notes


def genotypes_build(entries: list[tuple[Patient, dict]]) -> list[Genotype]:
    """Unsaved genotypes for new patients, by the rules of `genotype_create`, for a bulk insert.

    Each entry is a saved patient without a genotype and the same input as `genotype_create`
    takes. Parsing and zygosity come from `_genotype_values`, as on every other entry path;
    identical inputs are worked out once, so a cohort with a few dozen distinct genotypes costs a
    few dozen variant look-ups rather than two per patient. The caller saves them (`bulk_create`).
    """
    built: dict[tuple, dict] = {}
    genotypes = []
    for patient, data in entries:
        key = tuple(data.get(name) for name in GENOTYPE_INPUT_FIELDS)
        if key not in built:
            built[key] = _genotype_values(data)[0]
        genotypes.append(Genotype(patient=patient, **built[key]))
    return genotypes


# --- Treatments -------------------------------------------------------------------------------

TREATMENT_FIELDS = (
    "kind",
    "in_clinical_trial",
    "trial_registration",
    "start_date",
    "start_date_precision",
    "stop_date",
    "stop_date_precision",
)


def _treatment_check(patient: Patient, values: dict) -> None:
    limits = patient_date_limits(patient)
    _treatment_rules(values, birth=limits.birth, death=limits.death)


def _treatment_rules(values: dict, *, birth: dt.date | None, death: dt.date | None = None) -> None:
    """The treatment rules on given dates of birth and death, without queries; raises ValidationError."""
    start = PartialDate.from_stored(values.get("start_date"), values.get("start_date_precision"))
    stop = PartialDate.from_stored(values.get("stop_date"), values.get("stop_date_precision"))
    errors = {}
    for name, partial in (("start_date", start), ("stop_date", stop)):
        error = partial and life_date_error(partial, birth=birth, death=death)
        if error:
            errors[name] = error
    if start and stop and stop.latest < start.earliest:
        errors["stop_date"] = f"The treatment stops ({stop}) before it starts ({start})."
    if values.get("trial_registration") and not values.get("in_clinical_trial"):
        errors["in_clinical_trial"] = "A trial registration number was given; mark the treatment as part of a trial."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def treatment_create(*, patient: Patient, data: dict) -> Treatment:
    values = {name: data[name] for name in TREATMENT_FIELDS if name in data}
    _treatment_check(patient, values)
    return Treatment.objects.create(patient=patient, **values)


@transaction.atomic
def treatment_update(*, treatment: Treatment, expected_version: int, data: dict) -> Treatment:
    treatment = lock_for_update(treatment, expected_version)
    values = {name: getattr(treatment, name) for name in TREATMENT_FIELDS}
    values |= {name: data[name] for name in TREATMENT_FIELDS if name in data}
    _treatment_check(treatment.patient, values)
    apply_changes(treatment, values)
    treatment.version += 1
    treatment.save()
    return treatment


@transaction.atomic
def treatment_delete(*, treatment: Treatment, expected_version: int) -> None:
    lock_for_update(treatment, expected_version).delete()


# --- Consent ----------------------------------------------------------------------------------


CONSENT_DOCUMENT_FIELDS = ("code", "version", "title", "effective_from", "purposes", "text", "requires_reconsent")


@transaction.atomic
def consent_document_create(*, data: dict) -> ConsentDocument:
    """Publish a version of a consent document.

    Documents are never edited: patients consented to the words they read, so a change of wording
    is a new version (docs/consent.md). Versions of one code are ordered by `effective_from`,
    which is why two versions cannot take effect on the same day.
    """
    values = {name: data[name] for name in CONSENT_DOCUMENT_FIELDS if name in data}
    code, version = values["code"], values["version"]
    purposes = values.get("purposes") or []
    unknown = sorted(set(purposes) - set(ConsentPurpose.values))
    if not purposes or unknown:
        raise ValidationError(
            {"purposes": "Name the purposes this document asks consent for, from: " + ", ".join(ConsentPurpose.values)}
        )
    values["purposes"] = [purpose for purpose in ConsentPurpose.values if purpose in purposes]
    versions = list(ConsentDocument.objects.filter(code=code).order_by("effective_from"))
    errors = {}
    if any(document.version == version for document in versions):
        errors["version"] = f"Version {version} of {code} already exists; a change of wording is a new version."
    same_day = next((d for d in versions if d.effective_from == values["effective_from"]), None)
    if same_day:
        errors["effective_from"] = f"Version {same_day.version} of {code} already takes effect on that day."
    if values.get("requires_reconsent") and not any(d.effective_from < values["effective_from"] for d in versions):
        errors["requires_reconsent"] = (
            f"No earlier version of {code} takes effect before this one; nobody can re-consent."
        )
    if errors:
        raise ValidationError(errors)
    return ConsentDocument.objects.create(**values)


@transaction.atomic
def consent_grant(
    *, patient: Patient, document: ConsentDocument, purposes: list[str], granted_on: dt.date, recorded_by=None
) -> list[ConsentGrant]:
    """Record consent to some of a document's purposes (each purpose is granted separately)."""
    if patient.erased_at is not None:
        # docs/consent.md, "Erasure": there is nobody left to have consented.
        raise ValidationError({"patient": "This patient's record was erased on request; consent cannot be recorded."})
    _check_consent_grant(document, purposes, granted_on)
    grants = []
    for purpose in purposes:
        grant, created = ConsentGrant.objects.get_or_create(
            patient=patient,
            document=document,
            purpose=purpose,
            defaults={"granted_on": granted_on, "recorded_by": recorded_by},
        )
        if not created and grant.withdrawn_on is None:
            raise ValidationError({"purposes": f"Consent for {purpose} under {document} is already active."})
        if not created:  # re-consent after a withdrawal under the same document
            grant.granted_on, grant.withdrawn_on, grant.recorded_by = granted_on, None, recorded_by
            grant.save()
        grants.append(grant)
    return grants


def _check_consent_grant(document: ConsentDocument, purposes: list[str], granted_on: dt.date) -> None:
    unknown = sorted(set(purposes) - set(document.purposes))
    if unknown:
        raise ValidationError({"purposes": f"{document} does not ask consent for: {', '.join(unknown)}."})
    if granted_on > today():
        raise ValidationError({"granted_on": "Consent cannot be dated in the future."})
    if granted_on < document.effective_from:
        raise ValidationError({"granted_on": f"{document} was not in use before {document.effective_from}."})


def _check_consent_withdrawal(withdrawn_on: dt.date, granted_on: dt.date | None = None) -> None:
    if withdrawn_on > today():
        raise ValidationError({"withdrawn_on": "A withdrawal cannot be dated in the future."})
    if granted_on and withdrawn_on < granted_on:
        raise ValidationError({"withdrawn_on": f"Consent was only granted on {granted_on}."})


@transaction.atomic
def consent_withdraw(*, patient: Patient, purpose: str, withdrawn_on: dt.date, require_active: bool = False) -> int:
    """Withdraw every active grant of a purpose; returns how many were active.

    With `require_active`, having nothing to withdraw is an error: staff recording a withdrawal
    from paper should learn that the registry held no such consent, rather than see it accepted.
    """
    _check_consent_withdrawal(withdrawn_on)
    active = ConsentGrant.objects.select_for_update().filter(patient=patient, purpose=purpose, withdrawn_on=None)
    grants = list(active)
    if require_active and not grants:
        raise ValidationError({"purpose": f"The patient has no active consent for {purpose} to withdraw."})
    for grant in grants:
        _check_consent_withdrawal(withdrawn_on, grant.granted_on)
    _end_grants(grants, on=withdrawn_on)
    return len(grants)


def _end_grants(grants: list[ConsentGrant], *, on: dt.date) -> None:
    """Saved one by one, not with a queryset update: each withdrawal gets its row in the audit
    trail (docs/audit.md), which a bulk update would bypass. A patient has a handful of grants."""
    for grant in grants:
        grant.withdrawn_on = on
        grant.save(update_fields=["withdrawn_on"])


# --- Bulk inserts of new patients (the demo cohort) ---------------------------------------------
#
# Unsaved records for new patients, checked by the same rules as the one-record services (the
# `_check_*` / `_*_rules` helpers above and below), with the same computed values and review flags,
# but without a query per patient: facts those services read from the database (date of birth,
# first assessment) come from the objects in memory. The caller saves them (`bulk_create`).


def _life_in_memory(patient: Patient) -> tuple[dt.date | None, dt.date | None]:
    """Dates of birth and death from the identity attached to `patient` (`identity_build`), without a query."""
    identity = getattr(patient, "identity", None)
    return (identity.date_of_birth, identity.date_of_death) if identity else (None, None)


def identity_build(*, patient: Patient, data: dict) -> PatientIdentity:
    """An unsaved identity checked as `patient_create` checks it; it is attached to `patient` too."""
    _check_identity_dates(data)
    return PatientIdentity(patient=patient, **data)


def enrollment_events_build(
    *, patient: Patient, history: list[tuple[str, dt.date]], reason: str = ""
) -> list[EnrollmentEvent]:
    """A new patient's unsaved enrollment history, each change checked as `patient_change_status` checks it.

    `history` is (status, effective date) in the order entered, starting with the registration as a
    candidate. Sets `patient.status` to the last status, and a death date on the attached identity
    when it has none, as the service does. A withdrawal's end of consent is `consent_grants_build`'s
    `withdrawn_on`; assessments after a withdrawal or death are refused by `assessments_build`.
    """
    birth, _ = _life_in_memory(patient)
    (first_status, registered_on), *changes = history
    if first_status != EnrollmentStatus.CANDIDATE:
        raise ValidationError({"status": f"A new patient is registered as a candidate, not {first_status}."})
    if registered_on > today() or (birth and registered_on < birth):
        raise ValidationError(
            {"effective_date": f"The registration date {registered_on} is not in the patient's life."}
        )
    events = [EnrollmentEvent(patient=patient, status=first_status, effective_date=registered_on, reason=reason)]
    for status, effective_date in changes:
        _check_status_change(current=events[-1].status, status=status, effective_date=effective_date, birth=birth)
        _order_status_change(events, effective_date)  # may re-date the registration, in memory
        events.append(EnrollmentEvent(patient=patient, status=status, effective_date=effective_date, reason=reason))
        identity = getattr(patient, "identity", None)
        if status == EnrollmentStatus.DECEASED and identity and identity.date_of_death is None:
            identity.date_of_death = effective_date
    patient.status = events[-1].status
    return events


def diagnosis_build(*, patient: Patient, data: dict, first_assessment: dt.date | None = None) -> Diagnosis:
    """An unsaved diagnosis by the rules of `diagnosis_create` (errors, computed onset age, review flags).

    `patient` has its identity attached; `first_assessment` is the date of the earliest visit that will
    be stored with it (what `_diagnosis_check` would read). The diagnosis is attached to `patient`.
    """
    values = {name: data.get(name) for name in DIAGNOSIS_FIELDS if name in data}
    birth, death = _life_in_memory(patient)
    flags = _diagnosis_rules(values, birth=birth, death=death, first_assessment=first_assessment)
    return Diagnosis(patient=patient, review_flags=flags, **values)


def treatments_build(*, patient: Patient, entries: list[dict]) -> list[Treatment]:
    """Unsaved treatments, each checked as `treatment_create` checks it; `patient` has its identity attached."""
    birth, death = _life_in_memory(patient)
    built = []
    for data in entries:
        values = {name: data[name] for name in TREATMENT_FIELDS if name in data}
        _treatment_rules(values, birth=birth, death=death)
        built.append(Treatment(patient=patient, **values))
    return built


def consent_grants_build(
    *,
    patient: Patient,
    document: ConsentDocument,
    purposes: list[str],
    granted_on: dt.date,
    withdrawn_on: dt.date | None = None,
) -> list[ConsentGrant]:
    """Unsaved grants checked as `consent_grant` checks them, ended on `withdrawn_on` when given.

    A withdrawal from the registry ends every consent on its effective day (`patient_change_status`);
    pass that day as `withdrawn_on`, checked as `consent_withdraw` checks a withdrawal.
    """
    _check_consent_grant(document, purposes, granted_on)
    if withdrawn_on is not None:
        _check_consent_withdrawal(withdrawn_on, granted_on)
    grants = []
    for purpose in purposes:
        if any(grant.purpose == purpose for grant in grants):
            raise ValidationError({"purposes": f"Consent for {purpose} under {document} is already active."})
        grants.append(
            ConsentGrant(
                patient=patient, document=document, purpose=purpose, granted_on=granted_on, withdrawn_on=withdrawn_on
            )
        )
    return grants


# --- The patient's own settings ---------------------------------------------------------------


@transaction.atomic
def patient_set_time_zone(*, patient: Patient, time_zone: str) -> Patient:
    """Set the IANA time zone in which the patient's "today" is judged; blank means the registry's own."""
    import zoneinfo  # only this setting needs it

    time_zone = (time_zone or "").strip()
    if time_zone and time_zone not in zoneinfo.available_timezones():
        raise ValidationError({"time_zone": f"{time_zone!r} is not a time zone name such as Europe/London."})
    patient = Patient.objects.select_for_update(of=("self",)).get(pk=patient.pk)
    if patient.time_zone != time_zone:
        patient.time_zone = time_zone
        patient.version += 1
        patient.save(update_fields=["time_zone", "version", "updated_at"])
    return patient
