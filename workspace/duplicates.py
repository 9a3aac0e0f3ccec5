"""Enrolling a patient without making a second record of someone already registered (docs/workspace.md,
"Enrolling a patient").

`duplicate_candidates` finds the records that may be the same person: the same email or hospital
id, or the same name and date of birth, allowing for near spellings ("Cohen" and "Kohen", "Müller"
and "Muller") and given and family names swapped. A record of another site is found too, but
`patient_enroll` and the page say only that it exists: a site-limited member learns no identity
outside their sites.

Near spellings are compared in Python, on names folded to lower case without accents or
punctuation, over a bounded set of rows read in one query: those with the same date of birth, email,
hospital id, or the same family name. A trigram index would find more, but needs a PostgreSQL
extension, and the registry also runs on SQLite for `make run`.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Case, Q, When

from patients.access import can_see_patient
from patients.models import EnrollmentStatus, Patient
from patients.services import patient_change_status, patient_create
from registry.audit import EventKind, audit_log

# The most rows read to compare; far more than one person has duplicates, and it keeps a very
# common name (or a shared clinic email) from reading the whole table.
MAX_ROWS_COMPARED = 200


class Reason:
    """Why a record may be the same person; the codes go into the audit event, the labels on the page."""

    SAME_EMAIL = "same_email"
    SAME_HOSPITAL_ID = "same_hospital_id"
    SAME_NAME_AND_BIRTH = "same_name_and_birth"
    SIMILAR_NAME_AND_BIRTH = "similar_name_and_birth"
    SAME_NAME_OTHER_BIRTH = "same_name_other_birth"


@dataclass(frozen=True)
class DuplicateCandidate:
    patient: Patient  # with identity and site joined
    reasons: tuple[str, ...]
    visible: bool  # whether the member may see this record (and so be told who it is)


def fold(text: str) -> str:
    """A name as compared: lower case, accents and everything but letters and digits taken out."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if char.isalnum() and not unicodedata.combining(char))


def edit_distance(first: str, second: str, *, limit: int) -> int:
    """Levenshtein distance, or `limit + 1` as soon as it is certainly more than `limit`."""
    if abs(len(first) - len(second)) > limit:
        return limit + 1
    previous = list(range(len(second) + 1))
    for i, a in enumerate(first, start=1):
        current = [i]
        for j, b in enumerate(second, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _near(first: str, second: str) -> bool:
    """The same name give or take a typing slip: one edit in a short name, two in a longer one."""
    if not first or not second:
        return False
    limit = 1 if min(len(first), len(second)) <= 5 else 2
    return edit_distance(first, second, limit=limit) <= limit


def _name_match(given: str, family: str, other_given: str, other_family: str) -> str:
    """ "same", "similar" or "" for two folded names, given and family names possibly swapped."""
    if not (given or family) or not (other_given or other_family):
        return ""
    pairs = [(given, family, other_given, other_family), (given, family, other_family, other_given)]
    if any(g1 == g2 and f1 == f2 for g1, f1, g2, f2 in pairs):
        return "same"
    if any(_near(g1, g2) and _near(f1, f2) for g1, f1, g2, f2 in pairs):
        return "similar"
    # One of the two names left out on one record ("Noa" / "Noa Levi"): the other must agree.
    if (not given or not other_given) and family and _near(family, other_family):
        return "similar"
    return ""


def duplicate_candidates(
    *,
    user,
    given_name: str,
    family_name: str,
    date_of_birth: dt.date | None,
    email: str = "",
    hospital_id: str = "",
) -> list[DuplicateCandidate]:
    """Records that may be the person about to be enrolled, most certain first. Two queries at most:
    the rows compared, and the member's sites (read once per request)."""
    given, family = fold(given_name), fold(family_name)
    email, hospital_id = email.strip(), hospital_id.strip()
    close = Q()  # the same birth date, email or hospital id: read first
    if date_of_birth:
        close |= Q(identity__date_of_birth=date_of_birth)
    if email:
        close |= Q(identity__email__iexact=email)
    if hospital_id:
        close |= Q(identity__hospital_id__iexact=hospital_id)
    wanted = close
    if family_name.strip():
        # The same family name with another date of birth may be a typing slip in the date; a
        # brother or sister (common in a recessive disease) has another given name and is left out below.
        wanted |= Q(identity__family_name__iexact=family_name.strip())
    if not wanted:
        return []
    rows = Patient.objects.filter(wanted, erased_at__isnull=True).select_related("identity", "site")
    order = ["id"]
    if close:
        # A common family name must not crowd the same birth date out of the rows compared.
        rows = rows.annotate(close_match=Case(When(close, then=0), default=1))
        order = ["close_match", "id"]
    rows = rows.order_by(*order)[:MAX_ROWS_COMPARED]
    candidates = []
    for patient in rows:
        identity = patient.identity
        reasons = []
        if email and identity.email.strip().casefold() == email.casefold():
            reasons.append(Reason.SAME_EMAIL)
        if hospital_id and identity.hospital_id.strip().casefold() == hospital_id.casefold():
            reasons.append(Reason.SAME_HOSPITAL_ID)
        name = _name_match(given, family, fold(identity.given_name), fold(identity.family_name))
        same_birth = bool(date_of_birth) and identity.date_of_birth == date_of_birth
        if name == "same" and same_birth:
            reasons.append(Reason.SAME_NAME_AND_BIRTH)
        elif name == "similar" and same_birth:
            reasons.append(Reason.SIMILAR_NAME_AND_BIRTH)
        elif name == "same":
            reasons.append(Reason.SAME_NAME_OTHER_BIRTH)
        if reasons:
            candidates.append(DuplicateCandidate(patient, tuple(reasons), can_see_patient(user, patient)))
    certainty = [
        Reason.SAME_NAME_AND_BIRTH,
        Reason.SAME_EMAIL,
        Reason.SAME_HOSPITAL_ID,
        Reason.SIMILAR_NAME_AND_BIRTH,
        Reason.SAME_NAME_OTHER_BIRTH,
    ]
    return sorted(candidates, key=lambda c: (min(certainty.index(r) for r in c.reasons), c.patient.pk))


@transaction.atomic
def patient_enroll(
    *,
    data: dict,
    identity: dict,
    status: str,
    effective_date: dt.date,
    recorded_by,
    overridden: list[DuplicateCandidate] = (),
) -> Patient:
    """Register a patient from the enroll page (`patients.services.patient_create`), move them to
    `status` from `effective_date` when it is not "candidate", and log a duplicate warning that the
    member overrode, with the records' ids and the reasons but no names (the trail outlives an erasure).
    """
    patient = patient_create(data=data, identity=identity, recorded_by=recorded_by)
    if status != EnrollmentStatus.CANDIDATE:
        patient_change_status(
            patient=patient, status=status, effective_date=effective_date, reason="Enrolled", recorded_by=recorded_by
        )
        patient.refresh_from_db()
    if overridden:
        audit_log(
            EventKind.DUPLICATE_OVERRIDE,
            user=recorded_by,
            target=patient,
            detail={
                "candidates": [
                    {"patient": str(candidate.patient.uuid), "reasons": list(candidate.reasons)}
                    for candidate in overridden
                ]
            },
        )
    return patient
