"""Repeated functional assessments, and the disease milestones derived from them."""

from django.conf import settings
from django.db import models

from patients.models import Patient
from registry.models import DatePrecision, RegistryRecord


class Source(models.TextChoices):
    PATIENT = "patient", "Patient self-report"
    CLINICIAN = "clinician", "Clinician"
    IMPORTED = "imported", "Imported"


class AmbulationClass(models.IntegerChoices):
    """Ordinal mobility stage; each step from AFO on is also a milestone."""

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


class Assessment(RegistryRecord):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="assessments")
    assessment_date = models.DateField()
    source = models.CharField(max_length=10, choices=Source.choices)
    ibmfrs_version = models.CharField(max_length=30, blank=True, default="IBMFRS 2008")

    falls_count = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Falls since the last report.")
    injurious_falls_count = models.PositiveSmallIntegerField(null=True, blank=True)
    fractures_count = models.PositiveSmallIntegerField(null=True, blank=True)

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
    grip_left_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    grip_right_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    fvc_percent_predicted = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    ck_u_per_l = models.PositiveIntegerField(null=True, blank=True)
    hhd_upper_composite_kg = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True, editable=False)
    hhd_lower_composite_kg = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True, editable=False)

    review_flags = models.JSONField(default=list, blank=True, editable=False)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)

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


class MilestoneKind(models.TextChoices):
    """In the order of progression; each matches the ambulation class of the same rank."""

    AFO = "afo", "First ankle-foot orthoses"
    CANE = "cane", "First cane or crutch"
    WALKER = "walker", "First walker"
    WHEELCHAIR_PART_TIME = "wheelchair_part_time", "First part-time wheelchair"
    WHEELCHAIR_FULL_TIME = "wheelchair_full_time", "Full-time wheelchair (loss of ambulation)"


MILESTONE_ORDER = list(MilestoneKind)
MILESTONE_STAGE = {
    MilestoneKind.AFO: AmbulationClass.AFO_ONLY,
    MilestoneKind.CANE: AmbulationClass.CANE,
    MilestoneKind.WALKER: AmbulationClass.WALKER,
    MilestoneKind.WHEELCHAIR_PART_TIME: AmbulationClass.WHEELCHAIR_PART_TIME,
    MilestoneKind.WHEELCHAIR_FULL_TIME: AmbulationClass.WHEELCHAIR_FULL_TIME,
}


class MilestoneSource(models.TextChoices):
    DERIVED = "derived", "Derived from assessments"
    REPORTED = "reported", "Reported retrospectively"


class Milestone(RegistryRecord):
    """A step of progression: derived (first assessment at that stage or beyond) or reported.

    A derived date is "first observed at or beyond this stage", an upper bound; a reported one is
    what the patient or their records say. Both are kept; readers prefer the reported one.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="milestones")
    kind = models.CharField(max_length=30, choices=MilestoneKind.choices)
    source = models.CharField(max_length=10, choices=MilestoneSource.choices)
    date = models.DateField(null=True, blank=True)
    date_precision = models.CharField(max_length=5, choices=DatePrecision.choices, blank=True)
    age_years = models.PositiveSmallIntegerField(null=True, blank=True, help_text="When only the age is known.")
    skipped = models.BooleanField(default=False, help_text="This step never happened (e.g. went straight to a walker).")
    derived_from = models.ForeignKey(Assessment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "kind", "source"], name="milestone_unique_per_source"),
        ]
        ordering = ["patient_id", "date", "id"]
