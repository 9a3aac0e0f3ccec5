"""Reads for the staff workspace (docs/workspace.md): finding patients, a patient's page, and the
follow-up list.

Every read starts from `patients.access.visible_patients`, so a site-limited member finds, lists
and opens only their sites' patients. Each page reads a fixed number of queries whatever the
cohort and the page size: a list finds its page's ids first, then reads those rows with what they
show joined (`select_related`) or annotated (scalar subqueries through the patient indexes), never
row by row.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import BooleanField, Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL

from assessments.models import Assessment, Milestone, MilestoneKind
from assessments.selectors import MilestoneInterval, milestone_intervals
from patients.access import limit_to_visible_patients, staff_site_ids, visible_patients
from patients.models import (
    ConsentDocument,
    ConsentGrant,
    ConsentPurpose,
    Diagnosis,
    EnrollmentEvent,
    EnrollmentStatus,
    Patient,
    Site,
    Treatment,
    Variant,
)
from patients.selectors import (
    DiagnosisTimeline,
    diagnosis_timeline,
    patients_needing_reconsent,
    reconsent_purposes,
)
from patients.variants import ParsedVariant
from portal.followup import add_months, follow_up_due_on
from registry.dates import PartialDate
from registry.history import HistoryEntry, record_history
from workspace.models import ReviewTarget
from workspace.review import flag_undecided_sql, flags_dialect, open_review_flags

# A registry id typed in whole or in part: hex digits and dashes (the short form shown is 8 digits).
_REGISTRY_ID_PREFIX = re.compile(r"^[0-9a-f][0-9a-f-]{3,35}$", re.IGNORECASE)
# More words than this in the search box add nothing but cost: each is one more condition.
_MAX_SEARCH_WORDS = 5


# --- Follow-up due dates, in SQL -------------------------------------------------------------------


def follow_up_cutoff(today: dt.date) -> dt.date:
    """The latest last-assessment date whose next follow-up is due on or before `today`.

    `portal.followup.follow_up_due_on` adds REGISTRY_FOLLOW_UP_MONTHS calendar months, clamping to
    the month's last day (31 August + 6 months = 28 February). So on the last day of a month every
    assessment of the whole month N months back is due, not only those up to the same day number:
    subtracting the months from today alone would miss 29-31 August on 28 February.
    """
    cutoff = add_months(today, -settings.REGISTRY_FOLLOW_UP_MONTHS)
    if today.day == calendar.monthrange(today.year, today.month)[1]:
        cutoff = cutoff.replace(day=calendar.monthrange(cutoff.year, cutoff.month)[1])
    return cutoff


def follow_up_overdue_q(today: dt.date) -> Q:
    """Enrolled, not erased, and the next follow-up due by `today`; needs `latest_assessment_on`.

    The same rule as the patient's own page and the reminder emails (portal.followup): a patient
    with no assessment yet has no due date.
    """
    return Q(
        status=EnrollmentStatus.ENROLLED, erased_at__isnull=True, latest_assessment_on__lte=follow_up_cutoff(today)
    )


def _latest_assessments() -> QuerySet:
    return Assessment.objects.filter(patient=OuterRef("pk")).order_by("-assessment_date", "-id")


def with_latest_assessment(patients: QuerySet) -> QuerySet:
    """Annotate the date of each patient's latest assessment, and the latest ambulation class recorded."""
    latest = _latest_assessments()
    return patients.annotate(
        latest_assessment_on=Subquery(latest.values("assessment_date")[:1]),
        # A self-report may leave the class out: the latest visit that records one says how they walk.
        latest_ambulation_class=Subquery(latest.filter(ambulation_class__isnull=False).values("ambulation_class")[:1]),
    )


# The records that carry review flags, by the kind a review decision names them with.
_FLAGGED_MODELS = {
    ReviewTarget.DIAGNOSIS.value: Diagnosis,
    ReviewTarget.ASSESSMENT.value: Assessment,
    ReviewTarget.MILESTONE.value: Milestone,
}


def _open_flags_sql(*, patient_column: str = "") -> str:
    """Patient ids of records with a review flag no decision resolves (workspace.review: a flag is
    open until a `ReviewDecision` names its record, code and field).

    The flags are read inside SQL, so no record is loaded to decide. With `patient_column`, only
    that patient's records (a correlated subquery for one row).
    """
    dialect = flags_dialect()
    sources = []
    for kind, model in _FLAGGED_MODELS.items():
        of_patient = f" AND r.patient_id = {patient_column}" if patient_column else ""
        undecided = flag_undecided_sql(dialect, kind=f"'{kind}'", record="r.uuid", flag=dialect.flag)
        sources.append(
            f'SELECT r.patient_id FROM "{model._meta.db_table}" r {dialect.unnest} '
            f"WHERE {dialect.is_list}{of_patient} AND {undecided}"
        )
    return " UNION ALL ".join(sources)


def review_flags_q() -> Q:
    """Patients with an open review flag on their diagnosis, an assessment or a milestone."""
    return Q(pk__in=RawSQL(_open_flags_sql(), []))


def has_review_flags():
    """`review_flags_q` as a column of each row shown: one subquery per row, through each table's
    patient index (evaluated for the page's rows only)."""
    patient_id = f'"{Patient._meta.db_table}"."id"'
    return RawSQL(f"EXISTS ({_open_flags_sql(patient_column=patient_id)})", [], output_field=BooleanField())


def open_flag_keys(*, patient: Patient) -> set[tuple[str, str, str]]:
    """(record id, code, field) of one patient's open review flags, in one query."""
    return {(str(flag.record_uuid), flag.code, flag.field) for flag in open_review_flags(patient=patient)}


@dataclass(frozen=True)
class ShownFlag:
    code: str
    field: str
    message: str
    open: bool  # False once a review decision resolved it (workspace.review)


def _shown_flags(record, open_keys: set) -> list[ShownFlag]:
    flags = record.review_flags if isinstance(record.review_flags, list) else []
    shown = []
    for flag in flags:
        if not isinstance(flag, dict):
            continue
        code, field_name = flag.get("code") or "", flag.get("field") or ""
        is_open = (str(record.uuid), code, field_name) in open_keys
        shown.append(ShownFlag(code, field_name, flag.get("message") or code, is_open))
    return shown


# --- Find ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientSearch:
    """What the find form asked for; empty values filter nothing."""

    text: str = ""
    status: str = ""
    site: Site | None = None
    country: str = ""
    variant: ParsedVariant | None = None
    ambulation_class: int | None = None
    follow_up_overdue: bool = False
    review_flags: bool = False


def sites_for(user) -> QuerySet[Site]:
    """The sites a member may choose from: their own, or every site for foundation-wide staff."""
    site_ids = staff_site_ids(user)
    sites = Site.objects.order_by("name")
    return sites if site_ids is None else sites.filter(pk__in=site_ids)


def countries_of(user) -> list[str]:
    """The countries of residence of the patients a member may see (a few dozen, not every country)."""
    return list(visible_patients(user).order_by("country").values_list("country", flat=True).distinct())


def _text_q(text: str) -> Q:
    """Every word in a name, an email or the hospital id; or the whole text as a hospital id or the
    start of a registry id."""
    words = text.split()[:_MAX_SEARCH_WORDS]
    matched = Q()
    for word in words:
        matched &= (
            Q(identity__given_name__icontains=word)
            | Q(identity__family_name__icontains=word)
            | Q(identity__email__icontains=word)
            | Q(identity__hospital_id__iexact=word)
        )
    whole = text.strip()
    matched |= Q(identity__hospital_id__iexact=whole)
    if _REGISTRY_ID_PREFIX.match(whole):
        matched |= Q(uuid__istartswith=whole)
    return matched


def variant_q(parsed: ParsedVariant) -> Q:
    """Stored variants that name the same change (`patients.services.same_variant`): the same name,
    or the same protein change where one side gives no DNA change (a report of "M712T" alone)."""
    matched = Q(name=parsed.name)
    if parsed.protein:
        matched |= Q(protein=parsed.protein) if not parsed.cdna else Q(cdna="", protein=parsed.protein)
    return matched


def patients_find(*, user, search: PatientSearch, today: dt.date) -> QuerySet[Patient]:
    """The patients a member may see that match `search`, by family and given name.

    Only what the filters and the order need; `patients_page` reads the rows of one page with
    `patient_rows`.
    """
    patients = with_latest_assessment(visible_patients(user))
    if search.text.strip():
        patients = patients.filter(_text_q(search.text))
    if search.status:
        patients = patients.filter(status=search.status)
    if search.site is not None:
        patients = patients.filter(site=search.site)
    if search.country:
        patients = patients.filter(country=search.country)
    if search.variant is not None:
        variants = Variant.objects.filter(variant_q(search.variant)).values("pk")
        patients = patients.filter(Q(genotype__allele1__in=variants) | Q(genotype__allele2__in=variants))
    if search.ambulation_class is not None:
        patients = patients.filter(latest_ambulation_class=search.ambulation_class)
    if search.follow_up_overdue:
        patients = patients.filter(follow_up_overdue_q(today))
    if search.review_flags:
        patients = patients.filter(review_flags_q())
    return patients.order_by("identity__family_name", "identity__given_name", "id")


def patient_rows(user) -> QuerySet[Patient]:
    """Patients as a results row shows them: identity, site, genotype and its variants joined;
    `latest_assessment_on`, `latest_ambulation_class` and `has_review_flags` annotated."""
    return (
        with_latest_assessment(visible_patients(user))
        .annotate(has_review_flags=has_review_flags())
        .select_related("identity", "site", "genotype__allele1", "genotype__allele2")
    )


def patients_page(found: QuerySet[Patient], *, rows: QuerySet[Patient], number, per_page: int) -> tuple[Page, list]:
    """One page of `found` (ordered), its rows read from `rows`: three queries whatever the page size.

    The page's ids come first, from a narrow query (only what the filters and the order need); then
    only those rows are read with their joins and subqueries. Sorting every match with all its
    joined columns, as one query would, takes several times longer on the full cohort.
    """
    page = Paginator(found.values_list("pk", flat=True), per_page).get_page(number)
    ids = list(page.object_list)
    by_id = {patient.pk: patient for patient in rows.filter(pk__in=ids)}
    return page, [by_id[pk] for pk in ids]


def is_follow_up_overdue(patient: Patient, today: dt.date) -> bool:
    """`follow_up_overdue_q` for one annotated row, read without a query."""
    due_on = follow_up_due_on(patient.latest_assessment_on)
    return (
        patient.status == EnrollmentStatus.ENROLLED
        and patient.erased_at is None
        and due_on is not None
        and due_on <= today
    )


# --- Follow-up list --------------------------------------------------------------------------------


def follow_up_list(*, user, today: dt.date, site: Site | None = None) -> QuerySet[Patient]:
    """Enrolled patients the member may see whose next follow-up is due, the longest overdue first."""
    patients = with_latest_assessment(visible_patients(user)).filter(follow_up_overdue_q(today))
    if site is not None:
        patients = patients.filter(site=site)
    return patients.order_by("latest_assessment_on", "id")


def follow_up_counts_by_site(*, user, today: dt.date) -> list[dict]:
    """How many patients are due per site (`site_id`, `site__name`, `due`), largest first; one query."""
    return list(
        with_latest_assessment(visible_patients(user))
        .filter(follow_up_overdue_q(today))
        .values("site_id", "site__name")
        .annotate(due=Count("id"))
        .order_by("-due", "site__name")
    )


@dataclass(frozen=True)
class FollowUpRow:
    patient: Patient
    due_on: dt.date
    days_overdue: int


def follow_up_rows(patients, today: dt.date) -> list[FollowUpRow]:
    """A page of `follow_up_list` with each due date and how many days it has passed."""
    rows = []
    for patient in patients:
        due_on = follow_up_due_on(patient.latest_assessment_on)
        rows.append(FollowUpRow(patient=patient, due_on=due_on, days_overdue=(today - due_on).days))
    return rows


# --- A patient's page ------------------------------------------------------------------------------


def patient_for_page() -> QuerySet[Patient]:
    """The patient of a page, with the one-to-one records the page shows joined (one query)."""
    return Patient.objects.select_related(
        "identity", "site", "account", "diagnosis", "genotype__allele1", "genotype__allele2"
    )


@dataclass(frozen=True)
class ConsentPurposeState:
    """One purpose on a patient's record: active today or not, with every grant of it."""

    purpose: str
    label: str
    active_grant: ConsentGrant | None
    grants: list[ConsentGrant]  # oldest first, withdrawn ones included


@dataclass(frozen=True)
class MilestoneRow:
    milestone: Milestone
    interval: MilestoneInterval | None  # in years from onset, when onset is known and this one is used


@dataclass(frozen=True)
class ReconsentRequest:
    document: ConsentDocument
    purposes: list[str]  # ConsentPurpose values, in the registry's order

    @property
    def purpose_labels(self) -> list[str]:
        return [ConsentPurpose(purpose).label for purpose in self.purposes]


def reconsent_documents() -> list[ConsentDocument]:
    """The latest version of each consent document that asks for consent again, if it does.

    An older version that also asked is superseded: a patient signs the latest one.
    """
    latest = {}
    for document in ConsentDocument.objects.order_by("code", "effective_from", "id"):
        latest[document.code] = document
    return [document for document in latest.values() if document.requires_reconsent]


def reconsent_requests(patient: Patient) -> list[ReconsentRequest]:
    """The documents `patient` is asked to consent to again and has not answered (with the purposes):
    one query for the documents, one per document asking (few: one per kind of consent form)."""
    requests = []
    for document in reconsent_documents():
        row = patients_needing_reconsent(document).filter(patient_id=patient.pk).first()
        if row:
            requests.append(ReconsentRequest(document, reconsent_purposes(row)))
    return requests


def reconsent_pending(*, user, document: ConsentDocument) -> QuerySet:
    """Patients the member may see who have not yet re-consented under `document`: one row each
    (`patients.selectors.patients_needing_reconsent`), with their name and site, by family name."""
    return (
        limit_to_visible_patients(patients_needing_reconsent(document), user)
        .annotate(
            given_name=F("patient__identity__given_name"),
            family_name=F("patient__identity__family_name"),
            site_name=F("patient__site__name"),
        )
        .order_by("family_name", "given_name", "patient_id")
    )


@dataclass
class PatientPage:
    patient: Patient
    today: dt.date
    enrollment_events: list[EnrollmentEvent]
    consents: list[ConsentPurposeState]
    timeline: DiagnosisTimeline | None
    assessments: list[Assessment]  # oldest first
    milestones: list[MilestoneRow]
    treatments: list[Treatment]
    history: list[HistoryEntry]  # newest first
    follow_up_due_on: dt.date | None
    flagged_records: int = 0  # records with an open review flag
    # Consent documents this patient is asked to sign again and has not answered yet.
    reconsent: list[ReconsentRequest] = field(default_factory=list)
    # Milestones no visit shows reached yet: (label, years from onset to the last visit below it).
    right_censored: list[tuple[str, float]] = field(default_factory=list)

    @property
    def identity(self):
        return getattr(self.patient, "identity", None)

    @property
    def diagnosis(self):
        return getattr(self.patient, "diagnosis", None)

    @property
    def genotype(self):
        return getattr(self.patient, "genotype", None)

    @property
    def follow_up_is_due(self) -> bool:
        return self.follow_up_due_on is not None and self.follow_up_due_on <= self.today


# The columns the assessments table shows; the rest of each visit stays in the database.
ASSESSMENT_COLUMNS = (
    "id",
    "uuid",
    "patient_id",
    "version",
    "assessment_date",
    "source",
    "ambulation_class",
    "wheelchair_use",
    "falls_count",
    "ibmfrs_total",
    "six_minute_walk_status",
    "six_minute_walk_m",
    "ten_metre_walk_status",
    "ten_metre_walk_s",
    "grip_left_kg",
    "grip_right_kg",
    "fvc_percent_predicted",
    "hhd_upper_composite_kg",
    "hhd_lower_composite_kg",
    "review_flags",
)


def _consent_states(grants: list[ConsentGrant], today: dt.date) -> list[ConsentPurposeState]:
    states = []
    for purpose, label in ConsentPurpose.choices:
        mine = [grant for grant in grants if grant.purpose == purpose]
        # `patients.selectors.consent_is_active`, on grants already read.
        active = [g for g in mine if g.granted_on <= today and (g.withdrawn_on is None or g.withdrawn_on > today)]
        states.append(ConsentPurposeState(purpose, label, active[-1] if active else None, mine))
    return states


def patient_page(*, patient: Patient, today: dt.date) -> PatientPage:
    """Everything a patient's page shows; `patient` comes from `patient_for_page` (one-to-ones joined).

    A fixed number of queries whatever the size of the record: enrollment events, consent grants,
    assessments, treatments, milestones, the milestone intervals (three), the open review flags (when
    a record has flags), and the record history (one per audited model and per kind of record it
    refers to).
    """
    events = list(patient.enrollment_events.select_related("recorded_by").order_by("effective_date", "id"))
    grants = list(patient.consents.select_related("document").order_by("granted_on", "id"))
    assessments = list(patient.assessments.only(*ASSESSMENT_COLUMNS).order_by("assessment_date", "id"))
    treatments = list(patient.treatments.order_by("start_date", "id"))
    milestones = list(patient.milestones.order_by("kind", "source"))

    intervals = milestone_intervals(patient_ids=[patient.pk]) if milestones or assessments else []
    used = {(interval.kind, interval.source): interval for interval in intervals}
    milestone_rows = [MilestoneRow(m, used.get((m.kind, m.source))) for m in milestones]
    right_censored = [
        (MilestoneKind(interval.kind).label, interval.lower_years)
        for interval in intervals
        if interval.censoring == "right"
    ]

    identity = getattr(patient, "identity", None)
    diagnosis = getattr(patient, "diagnosis", None)
    timeline = None
    if diagnosis is not None:
        timeline = diagnosis_timeline(
            onset=PartialDate.from_stored(diagnosis.onset_date, diagnosis.onset_date_precision),
            onset_age=diagnosis.onset_age,
            genetic_diagnosis=PartialDate.from_stored(
                diagnosis.genetic_diagnosis_date, diagnosis.genetic_diagnosis_date_precision
            ),
            birth=identity.date_of_birth if identity else None,
        )
    # Each record's flags, open or resolved, as `record.shown_flags`; one query for the decisions.
    flagged_records = [record for record in [diagnosis, *assessments, *milestones] if record and record.review_flags]
    open_keys = open_flag_keys(patient=patient) if flagged_records else set()
    for record in flagged_records:
        record.shown_flags = _shown_flags(record, open_keys)
    flagged = sum(1 for record in flagged_records if any(flag.open for flag in record.shown_flags))
    return PatientPage(
        patient=patient,
        today=today,
        enrollment_events=events,
        consents=_consent_states(grants, today),
        timeline=timeline,
        assessments=assessments,
        milestones=milestone_rows,
        treatments=treatments,
        history=list(reversed(record_history(patient))),
        follow_up_due_on=follow_up_due_on(assessments[-1].assessment_date if assessments else None),
        flagged_records=flagged,
        right_censored=right_censored,
        reconsent=reconsent_requests(patient),
    )
