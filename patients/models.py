"""Patients, kept in two parts: clinical data keyed by a registry UUID, and identity on its own.

Identity (names, contact, date of birth, identifiers) lives in `PatientIdentity`, so that code
building research data never needs to touch it and access to it can be granted separately.
"""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import models
from django_countries.fields import CountryField

from registry.audit import audited_history
from registry.models import DatePrecision, RegistryRecord, YesNoUnknown


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


class Ancestry(models.TextChoices):
    """Ancestry groups that matter for GNE founder variants (several may apply to one person)."""

    MIDDLE_EASTERN_JEWISH = "middle_eastern_jewish", "Middle Eastern / Persian Jewish"
    ASHKENAZI_JEWISH = "ashkenazi_jewish", "Ashkenazi Jewish"
    MIDDLE_EASTERN = "middle_eastern", "Middle Eastern (non-Jewish)"
    SOUTH_ASIAN = "south_asian", "South Asian"
    JAPANESE = "japanese", "Japanese"
    CHINESE = "chinese", "Chinese"
    KOREAN = "korean", "Korean"
    OTHER_EAST_ASIAN = "other_east_asian", "Other East or South-East Asian"
    NORTHERN_EUROPEAN = "northern_european", "Northern European (incl. British)"
    OTHER_EUROPEAN = "other_european", "Other European"
    MARI = "mari", "Mari (Russia)"
    ROMA = "roma", "Roma"
    AFRICAN = "african", "African"
    HISPANIC_LATINO = "hispanic_latino", "Hispanic / Latino"
    INDIGENOUS_AMERICAN = "indigenous_american", "Indigenous American"
    OTHER = "other", "Other"


class EnrollmentStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate (not yet enrolled)"
    ENROLLED = "enrolled", "Enrolled"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up", "Lost to follow-up"
    WITHDRAWN = "withdrawn", "Withdrawn"
    DECEASED = "deceased", "Deceased"


class Site(models.Model):
    """The clinic or foundation office that enrolled the patient."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    country = CountryField()

    def __str__(self):
        return self.name


class Patient(RegistryRecord):
    """A registry participant's clinical record; identity is in `PatientIdentity`."""

    sex = models.CharField(max_length=10, choices=Sex.choices, default=Sex.UNKNOWN)
    country = CountryField(help_text="Country of residence.")
    ancestry = models.JSONField(default=list, blank=True, help_text="Ancestry codes; several may apply.")
    consanguinity = models.CharField(max_length=10, choices=YesNoUnknown.choices, default=YesNoUnknown.UNKNOWN)
    affected_relatives = models.CharField(max_length=10, choices=YesNoUnknown.choices, default=YesNoUnknown.UNKNOWN)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, related_name="patients")
    status = models.CharField(
        max_length=20,
        choices=EnrollmentStatus.choices,
        default=EnrollmentStatus.CANDIDATE,
        help_text="Current status; its dated history is in EnrollmentEvent.",
    )
    account = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="patient",
        help_text="The patient's own login, once they have claimed their record.",
    )
    erased_at = models.DateTimeField(
        null=True, blank=True, help_text="When identity (and, by policy, clinical data) was erased on request."
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        help_text="IANA time zone the patient lives in (e.g. Asia/Tokyo); blank means the registry's own.",
    )

    history = audited_history()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["country"])]

    def __str__(self):
        return f"Patient {self.uuid}"

    @property
    def zone(self) -> ZoneInfo:
        """The time zone in which "today" is judged for this patient's dates.

        The registry's own when none is set, or when the stored name is not a zone: the settings
        page accepts real zone names only, but the column can be written by other paths (the
        admin, an import), and a wrong value must not take the patient's pages down.
        """
        try:
            return ZoneInfo(self.time_zone or settings.TIME_ZONE)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo(settings.TIME_ZONE)


class PatientIdentity(models.Model):
    """Identifiable data. Never exported; shown to staff and to the patient themself only."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="identity")
    given_name = models.CharField(max_length=150, blank=True)
    family_name = models.CharField(max_length=150, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    date_of_death = models.DateField(null=True, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    postal_address = models.TextField(blank=True)
    national_id = models.CharField(max_length=64, blank=True)
    hospital_id = models.CharField(max_length=64, blank=True)

    history = audited_history()

    class Meta:
        verbose_name_plural = "patient identities"

    def __str__(self):
        return f"Identity of {self.patient_id}"


class EnrollmentEvent(models.Model):
    """A dated change of enrollment status; the latest one is mirrored on Patient.status."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="enrollment_events")
    status = models.CharField(max_length=20, choices=EnrollmentStatus.choices)
    effective_date = models.DateField()
    reason = models.CharField(max_length=300, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    history = audited_history()

    class Meta:
        ordering = ["patient_id", "effective_date", "id"]

    def __str__(self):
        return f"{self.status} from {self.effective_date}"


class FirstSymptom(models.TextChoices):
    FOOT_DROP = "foot_drop", "Foot drop / foot dorsiflexor weakness"
    DISTAL_LEG_WEAKNESS = "distal_leg_weakness", "Distal leg weakness"
    GAIT_CHANGE = "gait_change", "Steppage gait / change in walking"
    FALLS = "falls", "Frequent falls"
    PROXIMAL_WEAKNESS = "proximal_weakness", "Proximal (hip or shoulder) weakness"
    HAND_WEAKNESS = "hand_weakness", "Hand weakness"
    RAISED_CK = "raised_ck", "Raised CK found by chance"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


# HPO terms for first symptoms, for standard exports (docs/clinical-rules.md, "Codes for exports").
FIRST_SYMPTOM_HPO = {
    FirstSymptom.FOOT_DROP: "HP:0009027",
    FirstSymptom.DISTAL_LEG_WEAKNESS: "HP:0009053",
    FirstSymptom.GAIT_CHANGE: "HP:0003376",
    FirstSymptom.FALLS: "HP:0002359",
    FirstSymptom.PROXIMAL_WEAKNESS: "HP:0003701",
    FirstSymptom.RAISED_CK: "HP:0003236",
}


class Misdiagnosis(models.TextChoices):
    SPORADIC_IBM = "sporadic_ibm", "Sporadic inclusion body myositis"
    POLYMYOSITIS = "polymyositis", "Polymyositis / other myositis"
    CMT = "cmt", "Charcot-Marie-Tooth / neuropathy"
    MOTOR_NEURON_DISEASE = "motor_neuron_disease", "Motor neuron disease / ALS"
    LIMB_GIRDLE = "limb_girdle", "Limb-girdle muscular dystrophy"
    OTHER_DISTAL_MYOPATHY = "other_distal_myopathy", "Another distal myopathy"
    OTHER = "other", "Other"


class Diagnosis(RegistryRecord):
    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="diagnosis")
    genetically_confirmed = models.BooleanField(default=False)
    onset_date = models.DateField(null=True, blank=True, help_text="First day of the known period.")
    onset_date_precision = models.CharField(max_length=5, choices=DatePrecision.choices, blank=True)
    onset_age = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Age at symptom onset, in years: from onset_date and birth, or as reported."
    )
    first_symptom = models.CharField(max_length=30, choices=FirstSymptom.choices, default=FirstSymptom.UNKNOWN)
    genetic_diagnosis_date = models.DateField(null=True, blank=True)
    genetic_diagnosis_date_precision = models.CharField(max_length=5, choices=DatePrecision.choices, blank=True)
    prior_misdiagnoses = models.JSONField(default=list, blank=True)
    biopsy_done = models.CharField(max_length=10, choices=YesNoUnknown.choices, default=YesNoUnknown.UNKNOWN)
    rimmed_vacuoles = models.CharField(max_length=10, choices=YesNoUnknown.choices, default=YesNoUnknown.UNKNOWN)
    ck_at_diagnosis = models.PositiveIntegerField(null=True, blank=True, help_text="U/L")
    review_flags = models.JSONField(default=list, blank=True, editable=False)

    history = audited_history()

    class Meta:
        verbose_name_plural = "diagnoses"


class VariantClass(models.TextChoices):
    MISSENSE = "missense", "Missense"
    NONSENSE = "nonsense", "Nonsense"
    SYNONYMOUS = "synonymous", "Synonymous"
    FRAMESHIFT = "frameshift", "Frameshift"
    INFRAME_DELETION = "inframe_deletion", "In-frame deletion"
    INFRAME_INSERTION = "inframe_insertion", "In-frame insertion"
    INFRAME_DELINS = "inframe_delins", "In-frame deletion-insertion"
    START_LOSS = "start_loss", "Start loss"
    STOP_LOSS = "stop_loss", "Stop loss"
    SPLICE = "splice", "Splice site"
    INTRONIC = "intronic", "Intronic"
    UNKNOWN = "unknown", "Unknown"


class AcmgClass(models.TextChoices):
    PATHOGENIC = "pathogenic", "Pathogenic"
    LIKELY_PATHOGENIC = "likely_pathogenic", "Likely pathogenic"
    UNCERTAIN = "uncertain", "Uncertain significance"
    LIKELY_BENIGN = "likely_benign", "Likely benign"
    BENIGN = "benign", "Benign"


class Variant(models.Model):
    """A GNE variant in current numbering (NM_001128227.3), with its legacy NM_005476 names."""

    name = models.CharField(max_length=120, unique=True, help_text="c. name, or p. name when no c. is known.")
    cdna = models.CharField(max_length=120, blank=True)
    protein = models.CharField(max_length=120, blank=True)
    legacy_cdna = models.CharField(max_length=120, blank=True)
    legacy_protein = models.CharField(max_length=120, blank=True)
    legacy_short = models.CharField(max_length=20, blank=True)
    protein_position = models.PositiveSmallIntegerField(null=True, blank=True)
    variant_class = models.CharField(max_length=20, choices=VariantClass.choices)
    protein_domain = models.CharField(max_length=30)
    is_founder = models.BooleanField(default=False)
    founder_populations = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["protein_position", "name"]

    def __str__(self):
        return f"{self.name} {self.protein}".strip()


class Zygosity(models.TextChoices):
    HOMOZYGOUS = "homozygous", "Homozygous"
    COMPOUND_HETEROZYGOUS = "compound_heterozygous", "Compound heterozygous"
    SINGLE_VARIANT = "single_variant", "One variant found (second not found)"


class Genotype(RegistryRecord):
    """The patient's two GNE alleles. Zygosity is derived by the service, never entered."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="genotype")
    allele1 = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="+")
    allele1_entered_as = models.CharField(max_length=200, help_text="Exactly what the report said.")
    allele1_entered_numbering = models.CharField(max_length=10, default="current")
    allele1_acmg_class = models.CharField(max_length=20, choices=AcmgClass.choices, blank=True)
    allele2 = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    allele2_entered_as = models.CharField(max_length=200, blank=True)
    allele2_entered_numbering = models.CharField(max_length=10, blank=True)
    allele2_acmg_class = models.CharField(max_length=20, choices=AcmgClass.choices, blank=True)
    second_allele_not_found = models.BooleanField(default=False)
    zygosity = models.CharField(max_length=30, choices=Zygosity.choices, editable=False)

    history = audited_history()

    class Meta:
        indexes = [models.Index(fields=["allele1", "allele2"])]
        constraints = [
            # Two alleles, or one and "second not found": never both, never neither.
            models.CheckConstraint(
                condition=models.Q(allele2__isnull=True, second_allele_not_found=True)
                | models.Q(allele2__isnull=False, second_allele_not_found=False),
                name="genotype_second_allele_or_not_found",
            ),
        ]


class ConsentPurpose(models.TextChoices):
    RESEARCH = "research", "Research use of de-identified data"
    RECONTACT = "recontact", "Recontact about the registry and studies"
    TRIAL_MATCHING = "trial_matching", "Matching to clinical trials"


class ConsentDocument(models.Model):
    """A version of a consent form; a change of wording is a new version, never an edit."""

    code = models.SlugField(max_length=60)
    version = models.CharField(max_length=20)
    title = models.CharField(max_length=200)
    effective_from = models.DateField()
    purposes = models.JSONField(default=list, help_text="Purposes this document asks consent for.")
    text = models.TextField(blank=True)
    requires_reconsent = models.BooleanField(
        default=False,
        help_text="Patients who consented under an earlier version of this code must consent again to this one.",
    )

    history = audited_history()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["code", "version"], name="consent_document_version_unique")]
        ordering = ["code", "effective_from"]

    def __str__(self):
        return f"{self.title} v{self.version}"


class ConsentGrant(models.Model):
    """One purpose granted by one patient under one document version, until withdrawn."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="consents")
    document = models.ForeignKey(ConsentDocument, on_delete=models.PROTECT, related_name="grants")
    purpose = models.CharField(max_length=20, choices=ConsentPurpose.choices)
    granted_on = models.DateField()
    withdrawn_on = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    history = audited_history()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "document", "purpose"], name="consent_grant_unique"),
        ]
        indexes = [models.Index(fields=["purpose", "withdrawn_on"])]

    def __str__(self):
        return f"{self.purpose} ({self.document}), {self.granted_on} to {self.withdrawn_on or 'now'}"


class TreatmentKind(models.TextChoices):
    SIALIC_ACID = "sialic_acid", "Sialic acid (any form)"
    SIALIC_ACID_ER = "sialic_acid_er", "Sialic acid extended release (aceneuramic acid)"
    MANNAC = "mannac", "ManNAc (N-acetylmannosamine)"
    INVESTIGATIONAL = "investigational", "Other investigational product in a trial"
    OTHER = "other", "Other"


class Treatment(RegistryRecord):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="treatments")
    kind = models.CharField(max_length=20, choices=TreatmentKind.choices)
    in_clinical_trial = models.BooleanField(default=False)
    trial_registration = models.CharField(
        max_length=40, blank=True, help_text="Trial registry number, e.g. NCT02346461 or EudraCT 2014-001234-12."
    )
    start_date = models.DateField()
    start_date_precision = models.CharField(max_length=5, choices=DatePrecision.choices)
    stop_date = models.DateField(null=True, blank=True)
    stop_date_precision = models.CharField(max_length=5, choices=DatePrecision.choices, blank=True)

    history = audited_history()

    class Meta:
        ordering = ["patient_id", "start_date", "id"]


class StaffSiteScope(models.Model):
    """Limits a staff member to the patients of some sites (sites as data-access groups).

    Staff without a scope are foundation-wide. A scope with no site left sees no patient at all:
    taking the last site away must never widen access. See docs/sites.md.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="site_scope")
    sites = models.ManyToManyField(Site, blank=True, related_name="+")

    class Meta:
        verbose_name = "staff site scope"

    def __str__(self):
        return f"Sites of {self.user}"
