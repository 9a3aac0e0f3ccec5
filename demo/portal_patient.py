"""Makes the demo patient's record ready for the patient portal, so that `make run` shows `/me/`
with a chart at once: an email to remind, active consent, and a few reports of their own.

The cohort generator records visits from the patient's enrollment on, at most twelve of them, so a
patient enrolled long ago may have none in recent years. This adds patient-reported follow-ups over
the past two years, each one through `assessment_create` (the rules every entry path obeys), with
the values the generator would record: the patient stays in the ambulation class of their latest
visit (their course never goes back), with that class's devices and wheelchair use, daily-function
answers that follow their years since onset, and falls at their class's rate.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction

from assessments.models import IBMFRS_ITEMS, AmbulationClass, Source
from assessments.services import assessment_create
from demo.cohort import CohortBuilder
from patients.models import ConsentDocument, ConsentGrant, EnrollmentStatus, Patient
from patients.services import consent_grant, patient_update
from registry.dates import today

DEMO_EMAIL = "demo.patient@example.org"
# Days before today of the reports the demo patient sends: every six months over two years.
REPORT_DAYS_AGO = (720, 540, 360, 180)
# A report closer than this to a visit already recorded is not added: one per follow-up period.
NEAREST_VISIT_DAYS = 60
# The answers a patient gives in the portal's report form (no clinic measures).
SELF_REPORT_FIELDS = (
    "assessment_date",
    "source",
    "ambulation_class",
    "wheelchair_use",
    "devices",
    "falls_count",
    "injurious_falls_count",
    "fractures_count",
    "falls_indoors_count",
    "falls_outdoors_count",
    "falls_transfer_count",
    *IBMFRS_ITEMS,
    "raise_arms_above_head",
    "rise_from_chair",
    "ibmfrs_version",
)


@transaction.atomic
def demo_patient_prepare(*, patient: Patient, account, seed: int = 2026) -> list[str]:
    """Give the demo patient an email, active consent and recent self-reports; returns what was done.

    Safe to run again (each `make run` does): what is already there is kept.
    """
    done = []
    patient = Patient.objects.select_related("identity", "diagnosis").get(pk=patient.pk)
    if not patient.identity.email:
        patient_update(patient=patient, expected_version=patient.version, data={}, identity={"email": DEMO_EMAIL})
        done.append(f"email {DEMO_EMAIL}")
    done += _consent_all_purposes(patient, account)
    if patient.status == EnrollmentStatus.ENROLLED:
        done += _recent_self_reports(patient, account, seed)
    return done


def _consent_all_purposes(patient: Patient, account) -> list[str]:
    document = (
        ConsentDocument.objects.filter(code=settings.REGISTRY_CONSENT_DOCUMENT, effective_from__lte=today())
        .order_by("-effective_from")
        .first()
    )
    if document is None:
        return []
    active = set(
        ConsentGrant.objects.filter(patient=patient, withdrawn_on__isnull=True).values_list("purpose", flat=True)
    )
    missing = [purpose for purpose in document.purposes if purpose not in active]
    if not missing:
        return []
    consent_grant(patient=patient, document=document, purposes=missing, granted_on=today(), recorded_by=account)
    return [f"consent to {', '.join(missing)}"]


def _recent_self_reports(patient: Patient, account, seed: int) -> list[str]:
    visits = list(
        patient.assessments.order_by("assessment_date").values("assessment_date", "ambulation_class", "devices")
    )
    if not visits:
        return []
    enrolled_on = patient.enrollment_events.filter(status=EnrollmentStatus.ENROLLED).order_by("effective_date").first()
    builder = CohortBuilder(seed=seed)  # the same seed, the same reports
    onset = patient.diagnosis.onset_date if getattr(patient, "diagnosis", None) else visits[0]["assessment_date"]
    afo_user = any("afo" in (visit["devices"] or []) for visit in visits)
    added = []
    for days_ago in REPORT_DAYS_AGO:
        day = today() - dt.timedelta(days=days_ago)
        if enrolled_on and day < enrolled_on.effective_date:
            continue
        if any(abs((visit["assessment_date"] - day).days) < NEAREST_VISIT_DAYS for visit in visits):
            continue
        earlier = [visit for visit in visits if visit["assessment_date"] < day]
        # The class of the latest visit before (or, for a report before every visit, the first one).
        stage = (earlier or visits)[-1 if earlier else 0]["ambulation_class"]
        stage = AmbulationClass.UNAIDED if stage is None else stage
        values = builder.assessment_values(day, stage, onset, Source.PATIENT, afo_user=afo_user)
        years_since_last = (day - earlier[-1]["assessment_date"]).days / 365.25 if earlier else 0.5
        values |= builder.falls(builder.rng, stage, years_since_last, 1.0)
        data = {name: values[name] for name in SELF_REPORT_FIELDS if name in values}
        assessment_create(patient=patient, data=data, entered_by=account)
        visits.append({"assessment_date": day, "ambulation_class": stage, "devices": data.get("devices", [])})
        visits.sort(key=lambda visit: visit["assessment_date"])
        added.append(day.isoformat())
    return [f"self-reports on {', '.join(added)}"] if added else []
