"""Repeated functional assessments, and the disease milestones derived from them."""

from django.conf import settings
from django.db import models

from patients.models import Patient
from registry.audit import audited_history
from registry.models import DatePrecision, RegistryRecord


class Source(models.TextChoices):
    PATIENT = "patient", "Patient self-report"
    CLINICIAN = "clinician", "Clinician"
    IMPORTED = "imported", "Imported"


class AmbulationClass(models.IntegerChoices):
    """Mobility class of one visit. AFO_ONLY means no walking aid, with orthoses. Milestones are
    derived from this with the devices and wheelchair use (assessments.services.milestone_reached)."""

    UNAIDED = 0, "Walks unaided"
    AFO_ONLY = 1, "Walks with ankle-foot orthoses only"
    CANE = 2, "Walks with cane or crutch"
    WALKER = 3, "Walks with walker or rollator"
    WHEELCHAIR_PART_TIME = 4, "Part-time wheelchair"
    WHEELCHAIR_FULL_TIME = 5, "Full-time wheelchair (non-ambulant)"


class WheelchairUse(models.TextChoices):
    NONE = "none", "None"
    PART_TIME = "part_time", "Part-time"
    FULL_TIME = "full_time", "Full-time"


class Device(models.TextChoices):
    AFO = "afo", "Ankle-foot orthoses"
    CANE = "cane", "Cane or crutch"
    WALKER = "walker", "Walker or rollator"
    MANUAL_WHEELCHAIR = "manual_wheelchair", "Manual wheelchair"
    POWER_WHEELCHAIR = "power_wheelchair", "Power wheelchair"
    SCOOTER = "scooter", "Mobility scooter"


class Ability(models.TextChoices):
    ABLE = "able", "Without difficulty"
    WITH_DIFFICULTY = "with_difficulty", "With difficulty or help"
    UNABLE = "unable", "Unable"


class SixMinuteWalk(models.TextChoices):
    DONE = "done", "Done"
    UNABLE = "unable", "Unable to walk (a result, not missing)"


class TimedTestStatus(models.TextChoices):
    DONE = "done", "Done"
    UNABLE = "unable", "Unable to do the test (a result, not missing)"


class FvcReference(models.TextChoices):
    """The reference equation the lab used for FVC % predicted (stored as the lab reported it)."""

    GLI_2012 = "gli_2012", "GLI-2012"
    GLI_GLOBAL_2022 = "gli_global_2022", "GLI Global 2022 (race-neutral)"
    OTHER = "other", "Other"


# IBMFRS: ten items scored 0-4 (4 = normal), total 0-40. Field name -> label.
IBMFRS_ITEMS = {
    "ibmfrs_swallowing": "Swallowing",
    "ibmfrs_handwriting": "Handwriting",
    "ibmfrs_cutting_food": "Cutting food and handling utensils",
    "ibmfrs_fine_motor": "Fine motor tasks",
    "ibmfrs_dressing": "Dressing",
    "ibmfrs_hygiene": "Hygiene",
    "ibmfrs_turning_in_bed": "Turning in bed and adjusting covers",
    "ibmfrs_sit_to_stand": "Sit to stand",
    "ibmfrs_walking": "Walking",
    "ibmfrs_climbing_stairs": "Climbing stairs",
}
IBMFRS_MAX_ITEM_SCORE = 4
# Upper bounds of measured values: beyond them an entry is a typing error (docs/clinical-rules.md, rule 5).
SIX_MINUTE_WALK_MAX_M = 900
DYNAMOMETRY_MAX_KG = 150
PINCH_MAX_KG = 30
FVC_MAX_LITRES = 10
ABC_MAX_PERCENT = 100
STAIR_CLIMB_MAX_STEPS = 20
# Timed function tests (docs/clinical-rules.md, "Measures"): status field -> seconds field. As for the
# 6-minute walk, "unable" is a result: a time is required when done and forbidden when unable.
TIMED_TESTS = {
    "ten_metre_walk_status": "ten_metre_walk_s",
    "timed_up_and_go_status": "timed_up_and_go_s",
    "stair_climb_status": "stair_climb_s",
}
TIMED_TEST_RANGE_S = (1, 300)
# Falls by circumstance; indoors and outdoors exclude each other, a transfer happens in either.
FALL_CIRCUMSTANCES = ("falls_indoors_count", "falls_outdoors_count", "falls_transfer_count")


class Assessment(RegistryRecord):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="assessments")
    assessment_date = models.DateField()
    source = models.CharField(max_length=10, choices=Source.choices)
    ibmfrs_version = models.CharField(max_length=30, blank=True, default="IBMFRS 2008")

    falls_count = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Falls since the last report.")
    injurious_falls_count = models.PositiveSmallIntegerField(null=True, blank=True)
    fractures_count = models.PositiveSmallIntegerField(null=True, blank=True)
    falls_indoors_count = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Of the falls, indoors.")
    falls_outdoors_count = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Of the falls, outdoors.")
    falls_transfer_count = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Of the falls, during a transfer (bed, chair, toilet, car)."
    )

    devices = models.JSONField(default=list, blank=True)
    ambulation_class = models.PositiveSmallIntegerField(choices=AmbulationClass.choices, null=True, blank=True)
    wheelchair_use = models.CharField(max_length=10, choices=WheelchairUse.choices, blank=True)
    ambulation_regain_confirmed = models.BooleanField(
        default=False, help_text="A clinician confirms walking again after full-time wheelchair use."
    )

    ibmfrs_swallowing = models.PositiveSmallIntegerField(null=True, blank=True)
    ibmfrs_handwriting = models.PositiveSmallIntegerField(null=True, blank=True)
    ibmfrs_cutting_food = models.PositiveSmallIntegerField(null=True, blank=True)
    ibmfrs_fine_motor = models.PositiveSmallIntegerField(null=True, blank=True)
    ibmfrs_dressing = models.PositiveSmallIntegerField(null=True, blank=True)
    ibmfrs_hygiene = models.PositiveSmallIntegerField(null=True, blank=True)
    ibmfrs_turning_in_bed = models.PositiveSmallIntegerField(null=True, blank=True)
    ibmfrs_sit_to_stand = models.PositiveSmallIntegerField(null=True, blank=True)
    ibmfrs_walking = models.PositiveSmallIntegerField(null=True, blank=True)
    ibmfrs_climbing_stairs = models.PositiveSmallIntegerField(null=True, blank=True)
    ibmfrs_total = models.PositiveSmallIntegerField(
        null=True, blank=True, editable=False, help_text="Computed when all ten items are scored."
    )
    raise_arms_above_head = models.CharField(max_length=20, choices=Ability.choices, blank=True)
    rise_from_chair = models.CharField(max_length=20, choices=Ability.choices, blank=True)

    six_minute_walk_status = models.CharField(max_length=10, choices=SixMinuteWalk.choices, blank=True)
    six_minute_walk_m = models.PositiveSmallIntegerField(null=True, blank=True)
    ten_metre_walk_status = models.CharField(max_length=10, choices=TimedTestStatus.choices, blank=True)
    ten_metre_walk_s = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    timed_up_and_go_status = models.CharField(max_length=10, choices=TimedTestStatus.choices, blank=True)
    timed_up_and_go_s = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    stair_climb_status = models.CharField(max_length=10, choices=TimedTestStatus.choices, blank=True)
    stair_climb_s = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    stair_climb_steps = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Steps in the timed stair climb; protocols differ, so it is recorded."
    )
    grip_left_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    grip_right_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    pinch_left_kg = models.DecimalField(
        max_digits=4, decimal_places=1, null=True, blank=True, help_text="Key (lateral) pinch."
    )
    pinch_right_kg = models.DecimalField(
        max_digits=4, decimal_places=1, null=True, blank=True, help_text="Key (lateral) pinch."
    )
    fvc_percent_predicted = models.DecimalField(
        max_digits=5, decimal_places=1, null=True, blank=True, help_text="As reported by the lab; not computed."
    )
    fvc_litres = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    fvc_reference_equation = models.CharField(max_length=20, choices=FvcReference.choices, blank=True)
    abc_total_percent = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="Activities-specific Balance Confidence total (mean of the 16 items), from the licensed form.",
    )
    ck_u_per_l = models.PositiveIntegerField(null=True, blank=True)
    hhd_upper_composite_kg = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True, editable=False)
    hhd_lower_composite_kg = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True, editable=False)
    mmt_sum_score = models.PositiveSmallIntegerField(
        null=True, blank=True, editable=False, help_text="Computed: MRC grades summed over REGISTRY_MMT_SUM_MUSCLES."
    )

    treatments_taken = models.JSONField(
        default=list, blank=True, help_text="Treatments taken since the last report (patients.TreatmentKind codes)."
    )
    comment = models.TextField(
        blank=True, max_length=2000, help_text="The patient's own words. Free text: never exported for research."
    )

    review_flags = models.JSONField(default=list, blank=True, editable=False)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)

    history = audited_history()

    class Meta:
        ordering = ["patient_id", "assessment_date", "id"]
        indexes = [models.Index(fields=["patient", "assessment_date"]), models.Index(fields=["assessment_date"])]
        # The services give field-level messages for these; the database keeps them true for any
        # other way in (a shell, a bulk import, a future migration).
        constraints = [
            *(
                models.CheckConstraint(
                    condition=models.Q(**{f"{item}__lte": IBMFRS_MAX_ITEM_SCORE}), name=f"assessment_{item}_range"
                )
                for item in IBMFRS_ITEMS
            ),
            models.CheckConstraint(
                condition=models.Q(six_minute_walk_m__lte=SIX_MINUTE_WALK_MAX_M), name="assessment_6mwt_range"
            ),
            models.CheckConstraint(
                condition=models.Q(injurious_falls_count__lte=models.F("falls_count")),
                name="assessment_injurious_falls_within_falls",
            ),
            models.CheckConstraint(
                condition=models.Q(fractures_count__lte=models.F("injurious_falls_count")),
                name="assessment_fractures_within_injurious_falls",
            ),
            models.CheckConstraint(
                condition=~models.Q(six_minute_walk_status="unable", six_minute_walk_m__gt=0),
                name="assessment_6mwt_unable_has_no_distance",
            ),
            *(
                models.CheckConstraint(
                    condition=models.Q(
                        **{f"{seconds}__gte": TIMED_TEST_RANGE_S[0], f"{seconds}__lte": TIMED_TEST_RANGE_S[1]}
                    ),
                    name=f"assessment_{seconds}_range",
                )
                for seconds in TIMED_TESTS.values()
            ),
            *(
                models.CheckConstraint(
                    condition=~models.Q(**{status: "unable", f"{seconds}__isnull": False}),
                    name=f"assessment_{seconds}_unable_has_no_time",
                )
                for status, seconds in TIMED_TESTS.items()
            ),
            *(
                models.CheckConstraint(
                    condition=~models.Q(**{status: "done", f"{seconds}__isnull": True}),
                    name=f"assessment_{seconds}_done_has_time",
                )
                for status, seconds in TIMED_TESTS.items()
            ),
            models.CheckConstraint(
                condition=models.Q(stair_climb_steps__gte=1, stair_climb_steps__lte=STAIR_CLIMB_MAX_STEPS),
                name="assessment_stair_climb_steps_range",
            ),
            models.CheckConstraint(
                condition=~models.Q(stair_climb_status="done", stair_climb_steps__isnull=True),
                name="assessment_stair_climb_done_has_steps",
            ),
            *(
                models.CheckConstraint(
                    condition=models.Q(**{f"{name}__gte": 0, f"{name}__lte": high}), name=f"assessment_{name}_range"
                )
                for name, high in (
                    ("pinch_left_kg", PINCH_MAX_KG),
                    ("pinch_right_kg", PINCH_MAX_KG),
                    ("fvc_litres", FVC_MAX_LITRES),
                    ("abc_total_percent", ABC_MAX_PERCENT),
                )
            ),
            *(
                models.CheckConstraint(
                    condition=models.Q(**{f"{name}__lte": models.F("falls_count")}),
                    name=f"assessment_{name}_within_falls",
                )
                for name in FALL_CIRCUMSTANCES
            ),
            models.CheckConstraint(
                condition=models.Q(falls_indoors_count__lte=models.F("falls_count") - models.F("falls_outdoors_count")),
                name="assessment_falls_indoors_and_outdoors_within_falls",
            ),
        ]


class MuscleGroup(models.TextChoices):
    SHOULDER_ABDUCTION = "shoulder_abduction", "Shoulder abduction"
    ELBOW_FLEXION = "elbow_flexion", "Elbow flexion"
    ELBOW_EXTENSION = "elbow_extension", "Elbow extension"
    WRIST_EXTENSION = "wrist_extension", "Wrist extension"
    HIP_FLEXION = "hip_flexion", "Hip flexion"
    HIP_EXTENSION = "hip_extension", "Hip extension"
    HIP_ABDUCTION = "hip_abduction", "Hip abduction"
    HIP_ADDUCTION = "hip_adduction", "Hip adduction"
    KNEE_FLEXION = "knee_flexion", "Knee flexion"
    KNEE_EXTENSION = "knee_extension", "Knee extension"
    ANKLE_DORSIFLEXION = "ankle_dorsiflexion", "Ankle dorsiflexion"


class Side(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"


class DynamometryMeasurement(models.Model):
    """Hand-held dynamometry, kg per muscle group and side; composites are computed from these."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="dynamometry")
    muscle_group = models.CharField(max_length=30, choices=MuscleGroup.choices)
    side = models.CharField(max_length=5, choices=Side.choices)
    kg = models.DecimalField(max_digits=5, decimal_places=1)

    history = audited_history()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assessment", "muscle_group", "side"], name="dynamometry_unique"),
            models.CheckConstraint(
                condition=models.Q(kg__gte=0, kg__lte=DYNAMOMETRY_MAX_KG), name="dynamometry_kg_range"
            ),
        ]
        ordering = ["assessment_id", "muscle_group", "side"]

    def __str__(self):
        return f"{self.muscle_group} {self.side}: {self.kg} kg"


class MmtMuscle(models.TextChoices):
    """Movements graded by manual muscle testing; neck ones are graded once (side "midline")."""

    NECK_FLEXION = "neck_flexion", "Neck flexion"
    NECK_EXTENSION = "neck_extension", "Neck extension"
    SHOULDER_ABDUCTION = "shoulder_abduction", "Shoulder abduction"
    SHOULDER_FLEXION = "shoulder_flexion", "Shoulder flexion"
    ELBOW_FLEXION = "elbow_flexion", "Elbow flexion"
    ELBOW_EXTENSION = "elbow_extension", "Elbow extension"
    WRIST_FLEXION = "wrist_flexion", "Wrist flexion"
    WRIST_EXTENSION = "wrist_extension", "Wrist extension"
    FINGER_FLEXION = "finger_flexion", "Finger flexion"
    FINGER_EXTENSION = "finger_extension", "Finger extension"
    FINGER_ABDUCTION = "finger_abduction", "Finger abduction"
    HIP_FLEXION = "hip_flexion", "Hip flexion"
    HIP_EXTENSION = "hip_extension", "Hip extension"
    HIP_ABDUCTION = "hip_abduction", "Hip abduction"
    HIP_ADDUCTION = "hip_adduction", "Hip adduction"
    KNEE_FLEXION = "knee_flexion", "Knee flexion"
    KNEE_EXTENSION = "knee_extension", "Knee extension"
    ANKLE_DORSIFLEXION = "ankle_dorsiflexion", "Ankle dorsiflexion"
    ANKLE_PLANTAR_FLEXION = "ankle_plantar_flexion", "Ankle plantar flexion"
    GREAT_TOE_EXTENSION = "great_toe_extension", "Great toe extension"


AXIAL_MUSCLES = (MmtMuscle.NECK_FLEXION, MmtMuscle.NECK_EXTENSION)


class MmtSide(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    MIDLINE = "midline", "Midline (neck)"


# The MRC scale, 0-5, with the MRC's own subdivision of grade 4 (4-, 4, 4+: against slight, moderate
# and strong resistance). Stored as written; sums count each grade as its whole number
# (docs/clinical-rules.md, "Measures").
MRC_GRADES = ("0", "1", "2", "3", "4-", "4", "4+", "5")
MRC_WHOLE_GRADE = {grade: int(grade[0]) for grade in MRC_GRADES}


class ManualMuscleTest(models.Model):
    """One MRC grade for one movement and side of one assessment; the summed score is computed from these."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="manual_muscle_tests")
    muscle = models.CharField(max_length=30, choices=MmtMuscle.choices)
    side = models.CharField(max_length=7, choices=MmtSide.choices)
    grade = models.CharField(max_length=2, choices=[(grade, grade) for grade in MRC_GRADES])

    history = audited_history()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assessment", "muscle", "side"], name="mmt_unique"),
            models.CheckConstraint(condition=models.Q(grade__in=MRC_GRADES), name="mmt_grade_mrc_scale"),
            models.CheckConstraint(
                condition=models.Q(muscle__in=AXIAL_MUSCLES, side=MmtSide.MIDLINE)
                | (~models.Q(muscle__in=AXIAL_MUSCLES) & ~models.Q(side=MmtSide.MIDLINE)),
                name="mmt_midline_only_for_neck",
            ),
        ]
        ordering = ["assessment_id", "muscle", "side"]

    def __str__(self):
        return f"{self.muscle} {self.side}: MRC {self.grade}"


class MilestoneKind(models.TextChoices):
    """Milestones of mobility; the stored codes are unchanged, the labels say what each one means.

    Cane, walker, part-time and full-time wheelchair are cumulative ("this much support or more"):
    a patient first seen with a walker has already reached "cane or more". The ankle-foot orthosis
    is a device worn alongside any stage, not a step of that order (docs/clinical-rules.md,
    "Milestones").
    """

    AFO = "afo", "First ankle-foot orthoses"
    CANE = "cane", "Cane or more walking support"
    WALKER = "walker", "Walker or more walking support"
    WHEELCHAIR_PART_TIME = "wheelchair_part_time", "Part-time wheelchair or more"
    WHEELCHAIR_FULL_TIME = "wheelchair_full_time", "Full-time wheelchair (loss of ambulation)"


# Reaching a stage means having reached these too, so none of them can come later. Walking aids
# and wheelchair use are two scales: a part-time wheelchair says nothing about a cane or a walker;
# full-time wheelchair use (no walking at all) is beyond every walking aid. AFO takes no part.
MILESTONE_IMPLIES: dict[str, tuple[str, ...]] = {
    MilestoneKind.AFO: (),
    MilestoneKind.CANE: (),
    MilestoneKind.WALKER: (MilestoneKind.CANE,),
    MilestoneKind.WHEELCHAIR_PART_TIME: (),
    MilestoneKind.WHEELCHAIR_FULL_TIME: (
        MilestoneKind.CANE,
        MilestoneKind.WALKER,
        MilestoneKind.WHEELCHAIR_PART_TIME,
    ),
}


class MilestoneCensoring(models.TextChoices):
    """What is known of when a milestone happened (docs/clinical-rules.md, "Milestones")."""

    INTERVAL = "interval", "Interval: after the lower bound, by the date"
    LEFT = "left", "Left-censored: already reached at the first informative visit"
    EXACT = "exact", "Exact: on the day given"


class MilestoneSource(models.TextChoices):
    DERIVED = "derived", "Derived from assessments"
    REPORTED = "reported", "Reported retrospectively"


class Milestone(RegistryRecord):
    """A step of progression: derived from the assessments, or reported retrospectively.

    A derived milestone is an interval: reached after `lower_bound_date` (the last visit seen below
    the stage) and no later than `date` (the first visit seen at or beyond it, `derived_from`).
    When the first informative visit already shows the stage, it is left-censored: no lower bound.
    A reported one is what the patient or their records say, as a partial date or an age. Both are
    kept; readers prefer a consistent reported one (assessments.selectors.milestone_intervals).
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="milestones")
    kind = models.CharField(max_length=30, choices=MilestoneKind.choices)
    source = models.CharField(max_length=10, choices=MilestoneSource.choices)
    date = models.DateField(null=True, blank=True)
    date_precision = models.CharField(max_length=5, choices=DatePrecision.choices, blank=True)
    lower_bound_date = models.DateField(
        null=True,
        blank=True,
        editable=False,
        help_text="Derived: the last visit seen below this stage before `date`; empty when none (left-censored).",
    )
    censoring = models.CharField(max_length=8, choices=MilestoneCensoring.choices, blank=True, editable=False)
    age_years = models.PositiveSmallIntegerField(null=True, blank=True, help_text="When only the age is known.")
    skipped = models.BooleanField(default=False, help_text="This step never happened (e.g. went straight to a walker).")
    derived_from = models.ForeignKey(Assessment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    review_flags = models.JSONField(default=list, blank=True, editable=False)

    history = audited_history()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "kind", "source"], name="milestone_unique_per_source"),
            models.CheckConstraint(
                condition=models.Q(lower_bound_date__isnull=True)
                | models.Q(date__isnull=False, lower_bound_date__lte=models.F("date")),
                name="milestone_lower_bound_not_after_date",
            ),
            models.CheckConstraint(
                condition=~models.Q(censoring="left", lower_bound_date__isnull=False),
                name="milestone_left_censored_has_no_lower_bound",
            ),
        ]
        ordering = ["patient_id", "date", "id"]
