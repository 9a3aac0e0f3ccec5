"""Reads for a patient's own pages. Everything `/me/` shows comes from `patient_home`, in a fixed
number of queries whatever the number of reports: the patient with identity, diagnosis and
genotype (one join), their consents (one), their reports (one)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from assessments.models import Assessment
from patients.models import ConsentGrant, ConsentPurpose, Patient
from portal.chart import ChartPoint
from portal.followup import follow_up_due_on, reminder_email

# The columns the home page and its chart read; the rest of an assessment stays in the database.
REPORT_FIELDS = (
    "id",
    "uuid",
    "patient_id",
    "assessment_date",
    "source",
    "ambulation_class",
    "falls_count",
    "ibmfrs_total",
)


def patient_for_user(user) -> Patient | None:
    """The record a logged-in user has claimed, with what `/me/` shows of it joined; None if none."""
    if not user.is_authenticated:
        return None
    return (
        Patient.objects.select_related("account", "identity", "diagnosis", "genotype__allele1", "genotype__allele2")
        .filter(account=user)
        .first()
    )


@dataclass(frozen=True)
class ConsentState:
    """Where one consent purpose stands for a patient today."""

    purpose: str
    label: str
    active: bool
    granted_on: dt.date | None  # of the active grant, or of the last one withdrawn
    withdrawn_on: dt.date | None
    document: str


def consent_states(*, patient: Patient, on: dt.date) -> list[ConsentState]:
    """Each purpose, active or not on `on`, by the rule of `patients.selectors.consent_is_active`."""
    grants = list(ConsentGrant.objects.filter(patient=patient).select_related("document").order_by("granted_on", "id"))
    states = []
    for purpose, label in ConsentPurpose.choices:
        mine = [grant for grant in grants if grant.purpose == purpose]
        active = [
            grant
            for grant in mine
            if grant.granted_on <= on and (grant.withdrawn_on is None or grant.withdrawn_on > on)
        ]
        shown = active[-1] if active else (mine[-1] if mine else None)
        states.append(
            ConsentState(
                purpose=purpose,
                label=label,
                active=bool(active),
                granted_on=shown.granted_on if shown else None,
                withdrawn_on=None if active or not shown else shown.withdrawn_on,
                document=str(shown.document) if shown else "",
            )
        )
    return states


@dataclass(frozen=True)
class PatientHome:
    patient: Patient
    today: dt.date  # in the patient's own time zone
    consents: list[ConsentState]
    reports: list[Assessment]  # newest first
    points: list[ChartPoint]  # oldest first
    follow_up_due_on: dt.date | None
    reminder_email: str  # where the follow-up reminder goes; "" when there is nowhere to send it

    @property
    def follow_up_is_due(self) -> bool:
        return self.follow_up_due_on is not None and self.follow_up_due_on <= self.today

    @property
    def genotype(self):
        return getattr(self.patient, "genotype", None)

    @property
    def diagnosis(self):
        return getattr(self.patient, "diagnosis", None)


def patient_reports(*, patient: Patient) -> list[Assessment]:
    """The patient's assessments, newest first, with only what the home page shows."""
    return list(Assessment.objects.filter(patient=patient).only(*REPORT_FIELDS).order_by("-assessment_date", "-id"))


def patient_home(*, patient: Patient, today: dt.date) -> PatientHome:
    """Everything `/me/` shows; `patient` comes from `patient_for_user` (its one-to-ones joined)."""
    reports = patient_reports(patient=patient)
    points = [
        ChartPoint(
            day=report.assessment_date,
            ambulation_class=report.ambulation_class,
            falls=report.falls_count,
            ibmfrs_total=report.ibmfrs_total,
        )
        for report in reversed(reports)
    ]
    return PatientHome(
        patient=patient,
        today=today,
        consents=consent_states(patient=patient, on=today),
        reports=reports,
        points=points,
        follow_up_due_on=follow_up_due_on(reports[0].assessment_date if reports else None),
        reminder_email=reminder_email(patient),
    )
