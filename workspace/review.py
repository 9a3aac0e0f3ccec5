"""The data-quality queue (docs/workspace.md, "Data-quality queue"): review flags still open, and
staff decisions that resolve them.

The services store a flag ({code, field, message}) on a diagnosis, an assessment or a milestone
when data is plausible but odd; the record is kept as entered. A flag is open until a
`ReviewDecision` names it (record, code and field). Resolving writes the decision only: the flag
stays on the record, the record is unchanged (a correction goes through the record's own form,
and its service recomputes the flags), and both keep their history.
"""

from __future__ import annotations

import datetime as dt
import uuid as uuid_module
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from assessments.models import Assessment, Milestone, MilestoneKind
from patients.access import staff_site_ids
from patients.models import Diagnosis, Patient, PatientIdentity, Site
from registry.errors import RecordGoneError, ValidationError
from workspace.models import ReviewDecision, ReviewOutcome, ReviewTarget

TARGET_MODELS = {
    ReviewTarget.DIAGNOSIS: Diagnosis,
    ReviewTarget.ASSESSMENT: Assessment,
    ReviewTarget.MILESTONE: Milestone,
}

# The kinds of flag the queue can be narrowed to, by the codes the services write
# (patients.services._diagnosis_rules, assessments.services: assessment_review_flags, _check_regain,
# _reported_milestone_flags, _milestone_rules). A code not listed here is still queued, under no group.
FLAG_GROUPS = {
    "onset": (gettext_lazy("Onset outliers"), ("onset_age_unusual", "genetic_diagnosis_before_onset")),
    "mobility": (
        gettext_lazy("Contradictory mobility"),
        ("wheelchair_but_walked", "wheelchair_but_ibmfrs_walking", "ambulation_wheelchair_mismatch"),
    ),
    "order": (
        gettext_lazy("Out-of-order entries"),
        (
            "later_walking_unconfirmed",
            "before_reported_milestone",
            "after_reported_milestone",
            "milestone_before_visit_below",
        ),
    ),
    "walking_again": (gettext_lazy("Patient-reported return to walking"), ("ambulation_regained_unconfirmed",)),
}
GROUP_OF_CODE = {code: group for group, (_label, codes) in FLAG_GROUPS.items() for code in codes}
QUEUE_PAGE_SIZE = 25
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class OpenFlag:
    """One open review flag, with what the queue shows of its record and patient."""

    kind: str  # a ReviewTarget value
    record_uuid: uuid_module.UUID
    record_date: object  # the assessment or milestone date; None for a diagnosis
    milestone_kind: str
    patient_uuid: uuid_module.UUID
    patient_name: str
    site_name: str
    code: str
    field: str
    message: str

    @property
    def record_label(self) -> str:
        if self.kind == ReviewTarget.ASSESSMENT:
            return _("Assessment of %(date)s") % {"date": self.record_date}
        if self.kind == ReviewTarget.MILESTONE:
            label = MilestoneKind(self.milestone_kind).label if self.milestone_kind in MilestoneKind.values else ""
            return _("Milestone: %(kind)s") % {"kind": label}
        return _("Diagnosis")

    @property
    def group_label(self) -> str:
        group = GROUP_OF_CODE.get(self.code)
        return str(FLAG_GROUPS[group][0]) if group else ""


@dataclass(frozen=True)
class QueuePage:
    flags: list[OpenFlag]
    total: int
    number: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


@dataclass(frozen=True)
class FlagsDialect:
    """How the two supported databases unnest a record's `review_flags` and read a key of one flag.

    PostgreSQL in production and tests; SQLite for `make run`, so that the queue, the find filter
    and the patient page work on a newcomer's machine too.
    """

    unnest: str  # joined to a flagged table aliased `r`; gives the flag and its position in the list
    flag: str
    position: str
    is_list: str  # `r.review_flags` is a non-empty list

    def key(self, flag: str, name: str) -> str:
        if connection.vendor == "postgresql":
            return f"COALESCE({flag}->>'{name}', '')"
        return f"COALESCE(json_extract({flag}, '$.{name}'), '')"


def flags_dialect() -> FlagsDialect:
    if connection.vendor == "postgresql":
        return FlagsDialect(
            unnest="CROSS JOIN LATERAL jsonb_array_elements(r.review_flags) WITH ORDINALITY AS f(flag, position)",
            flag="f.flag",
            position="f.position",
            is_list="jsonb_typeof(r.review_flags) = 'array' AND r.review_flags <> '[]'::jsonb",
        )
    return FlagsDialect(
        unnest="CROSS JOIN json_each(r.review_flags) AS f",
        flag="f.value",
        position="f.key",
        is_list="json_type(r.review_flags) = 'array' AND json_array_length(r.review_flags) > 0",
    )


def flag_undecided_sql(dialect: FlagsDialect, *, kind: str, record: str, flag: str) -> str:
    """No decision resolves this flag (of a record of `kind`, whose uuid is the column `record`)."""
    decisions = ReviewDecision._meta.db_table
    return (
        f'NOT EXISTS (SELECT 1 FROM "{decisions}" d WHERE d.target_type = {kind} '
        f"AND d.target_uuid = {record} AND d.code = {dialect.key(flag, 'code')} "
        f"AND d.field = {dialect.key(flag, 'field')})"
    )


def sql_in(column: str, name: str, values, params: dict) -> str:
    """`column IN (...)` with one named parameter per value (both databases); false when empty."""
    names = [f"{name}_{index}" for index in range(len(values))]
    params.update(zip(names, values, strict=True))
    return f"{column} IN ({', '.join(f'%({n})s' for n in names)})" if names else "1 = 0"


def _flags_sql(*, where: list[str]) -> str:
    """Every flag of the three flagged tables as a row, minus those a decision resolves.

    One statement whatever the page size: the flags are unnested in SQL, so neither the records nor
    their decisions are loaded into Python to find the open ones.
    """
    dialect = flags_dialect()
    sources = []
    for kind, model in TARGET_MODELS.items():
        table = model._meta.db_table
        record_date = {"assessment": "r.assessment_date", "milestone": "r.date"}.get(kind, "CAST(NULL AS date)")
        milestone_kind = "r.kind" if kind == ReviewTarget.MILESTONE else "''"
        sources.append(
            f"SELECT '{kind}' AS kind, r.uuid AS record_uuid, r.patient_id, r.created_at, "
            f"{record_date} AS record_date, {milestone_kind} AS milestone_kind, "
            f"{dialect.flag} AS flag, {dialect.position} AS position "
            f'FROM "{table}" r {dialect.unnest} WHERE {dialect.is_list}'
        )
    conditions = [
        flag_undecided_sql(dialect, kind="flags.kind", record="flags.record_uuid", flag="flags.flag"),
        *where,
    ]
    return (
        f"WITH flags AS ({' UNION ALL '.join(sources)}) "
        "SELECT flags.kind, flags.record_uuid, flags.record_date, flags.milestone_kind, p.uuid, "
        "COALESCE(i.given_name, ''), COALESCE(i.family_name, ''), COALESCE(s.name, ''), "
        f"{dialect.key('flags.flag', 'code')}, {dialect.key('flags.flag', 'field')}, "
        f"{dialect.key('flags.flag', 'message')}, COUNT(*) OVER () "
        f'FROM flags JOIN "{Patient._meta.db_table}" p ON p.id = flags.patient_id '
        f'LEFT JOIN "{PatientIdentity._meta.db_table}" i ON i.patient_id = p.id '
        f'LEFT JOIN "{Site._meta.db_table}" s ON s.id = p.site_id '
        f"WHERE {' AND '.join(conditions)} "
        "ORDER BY flags.created_at, flags.kind, flags.record_uuid, flags.position"
    )


def _open_flags(
    *, where: list[str], params: dict, limit: int | None = None, offset: int = 0
) -> tuple[list[OpenFlag], int]:
    """The open flags matching `where` (SQL on the aliases of `_flags_sql`), and how many match in all."""
    sql = _flags_sql(where=where)
    if limit is not None:
        sql += " LIMIT %(limit)s OFFSET %(offset)s"
        params = params | {"limit": limit, "offset": offset}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    flags = [
        OpenFlag(
            kind=kind,
            # Raw rows: SQLite gives uuids and dates as text, PostgreSQL as objects.
            record_uuid=uuid_module.UUID(str(record_uuid)),
            record_date=dt.date.fromisoformat(record_date) if isinstance(record_date, str) else record_date,
            milestone_kind=milestone_kind,
            patient_uuid=uuid_module.UUID(str(patient_uuid)),
            patient_name=" ".join(part for part in (given, family) if part),
            site_name=site,
            code=code,
            field=field,
            message=message,
        )
        for (
            kind,
            record_uuid,
            record_date,
            milestone_kind,
            patient_uuid,
            given,
            family,
            site,
            code,
            field,
            message,
            _total,
        ) in rows
    ]
    total = rows[0][-1] if rows else 0
    return flags, total


def review_queue(*, user, group: str = "", site: Site | None = None, page: int = 1) -> QueuePage:
    """Open review flags of the patients `user` may see, oldest records first, one page of them.

    `group` narrows to a kind of flag (FLAG_GROUPS), `site` to one site. A page past the end is
    empty, with the total of the queue as it is now.
    """
    where, params = [], {}
    site_ids = staff_site_ids(user)
    if site_ids is not None:  # site-limited staff (docs/sites.md); an empty scope sees nothing
        where.append(sql_in("p.site_id", "site_id", sorted(site_ids), params))
    if site is not None:
        where.append("p.site_id = %(site_id)s")
        params["site_id"] = site.pk
    if group in FLAG_GROUPS:
        where.append(sql_in(flags_dialect().key("flags.flag", "code"), "code", list(FLAG_GROUPS[group][1]), params))
    # Past the end is an empty page; a page number beyond any queue is kept within what SQL's OFFSET takes.
    page = min(max(1, page), MAX_PAGE)
    flags, total = _open_flags(where=where, params=params, limit=QUEUE_PAGE_SIZE, offset=(page - 1) * QUEUE_PAGE_SIZE)
    if not flags and page > 1:
        # Past the end (the queue shrank while someone paged): count what is left, for the links.
        _first, total = _open_flags(where=where, params=params, limit=1, offset=0)
    return QueuePage(flags=flags, total=total, number=page, page_size=QUEUE_PAGE_SIZE)


def open_review_flags(*, patient: Patient) -> list[OpenFlag]:
    """Every open review flag of one patient's records, in one query (for the patient's page).

    The caller has checked that the user may see this patient (workspace.views.access).
    """
    flags, _total = _open_flags(where=["p.id = %(patient_id)s"], params={"patient_id": patient.pk})
    return flags


def record_flags(record) -> list[dict]:
    """A record's stored flags, each with the decision that resolves it (or None), in one query."""
    kind = target_kind(record)
    decisions = {
        (decision.code, decision.field): decision
        for decision in ReviewDecision.objects.filter(target_type=kind, target_uuid=record.uuid).select_related(
            "decided_by"
        )
    }
    return [
        {
            **flag,
            "field": flag.get("field") or "",
            "decision": decisions.get((flag.get("code"), flag.get("field") or "")),
        }
        for flag in _stored_flags(record)
    ]


def target_kind(record) -> str:
    for kind, model in TARGET_MODELS.items():
        if isinstance(record, model):
            return kind
    raise TypeError(f"{type(record).__name__} carries no review flags.")


def _stored_flags(record) -> list[dict]:
    flags = record.review_flags
    return [flag for flag in flags if isinstance(flag, dict)] if isinstance(flags, list) else []


@transaction.atomic
def review_flag_resolve(
    *, record, code: str, field: str, outcome: str, note: str, decided_by, replace: bool = False
) -> ReviewDecision:
    """Record staff's decision on one flag of `record`; the record and its flags are left as they are.

    The record is re-read under a row lock, so the flag is checked against what is stored now (a
    correction meanwhile may have cleared it) and two people resolving one flag go one after the
    other. A flag already decided is decided again only with `replace`: otherwise the second person
    learns someone else got there first, rather than overwriting them unawares.
    """
    kind = target_kind(record)
    locked = type(record).objects.select_for_update().filter(pk=record.pk).first()
    if locked is None:
        raise RecordGoneError()
    errors = {}
    note = (note or "").strip()
    if not note:
        errors["note"] = _("Say what you checked and why you decided so; the note is kept with the decision.")
    elif len(note) > ReviewDecision._meta.get_field("note").max_length:
        errors["note"] = _("Keep the note to %(limit)d characters.") % {
            "limit": ReviewDecision._meta.get_field("note").max_length
        }
    if outcome not in ReviewOutcome.values:
        errors["outcome"] = _("Choose a decision.")
    field = field or ""
    flag = next(
        (each for each in _stored_flags(locked) if each.get("code") == code and (each.get("field") or "") == field),
        None,
    )
    if flag is None:
        errors["__all__"] = _(
            "This flag is no longer on the record: it was corrected meanwhile, and nothing is left to resolve."
        )
    if errors:
        raise ValidationError(errors)
    key = {"target_type": kind, "target_uuid": locked.uuid, "code": code, "field": field}
    decision = ReviewDecision.objects.select_for_update(of=("self",)).filter(**key).select_related("decided_by").first()
    if decision is not None and not replace:
        raise ValidationError(
            {
                "__all__": _("%(user)s already resolved this flag on %(date)s (%(outcome)s).")
                % {
                    "user": decision.decided_by.get_username() if decision.decided_by else _("someone"),
                    "date": f"{decision.decided_at:%Y-%m-%d}",
                    "outcome": decision.get_outcome_display(),
                }
            }
        )
    decision = decision or ReviewDecision(patient_id=locked.patient_id, **key)
    decision.flag_message = str(flag.get("message") or "")
    decision.outcome = outcome
    decision.note = note
    decision.decided_by = decided_by
    decision.save()
    return decision
