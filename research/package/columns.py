"""The one definition of every table and column in an export (docs/research-exports.md, "Tables").

codebook.csv, datapackage.json and the Parquet schemas are all generated from `tables()`, so they
cannot disagree with each other or with the CSV files, whose headers are these names in this order.
"""

from dataclasses import dataclass

from assessments.models import (
    IBMFRS_ITEMS,
    Ability,
    AmbulationClass,
    Device,
    FvcReference,
    MilestoneCensoring,
    MilestoneKind,
    MilestoneSource,
    SixMinuteWalk,
    Source,
    TimedTestStatus,
    WheelchairUse,
)
from patients.models import Ancestry, FirstSymptom, Sex
from registry.models import YesNoUnknown

SUPPRESSED = "suppressed"  # one participant's value withheld by k-anonymity
ANY = "any"  # a quasi-identifier not released for anyone in this export (the top of its hierarchy)
PID_PATTERN = "^[0-9a-f]{16}$"
# Whole years 0-89, or "90+" (docs/research-exports.md, "Ages": 90 and over are top-coded).
AGE_PATTERN = r"^([0-9]|[1-8][0-9]|90\+)$"
AGE_TRANSFORMATION = "completed years on the day; 90 and over given as 90+"


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    type: str  # Frictionless field type: string, integer, number or boolean
    unit: str = ""
    enum: tuple = ()
    pattern: str = ""
    minimum: float | None = None
    maximum: float | None = None
    transformation: str = "as recorded"
    allowed_note: str = ""  # the codebook's wording, when the enum is too long to list
    source: str = ""  # the Assessment field an assessments.csv column is read from
    kind: str = ""  # how an assessments.csv value is read: int, decimal, choice, devices

    def allowed_values(self) -> str:
        if self.allowed_note:
            return self.allowed_note
        if self.enum:
            return "; ".join(str(value) for value in self.enum)
        if self.pattern:
            return f"matches {self.pattern}"
        if self.minimum is not None or self.maximum is not None:
            low = "" if self.minimum is None else _number(self.minimum)
            high = "" if self.maximum is None else _number(self.maximum)
            return f"{low} to {high}".strip()
        return ""

    def frictionless(self) -> dict:
        spec = {"name": self.name, "title": self.label, "type": self.type}
        if self.unit:
            spec["unit"] = self.unit
        if self.transformation:
            spec["description"] = self.transformation
        constraints = {}
        if self.enum:
            constraints["enum"] = list(self.enum)
        if self.pattern:
            constraints["pattern"] = self.pattern
        if self.minimum is not None:
            constraints["minimum"] = self.minimum
        if self.maximum is not None:
            constraints["maximum"] = self.maximum
        if self.name == "pid":
            constraints["required"] = True
        if constraints:
            spec["constraints"] = constraints
        return spec


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    refers_to_participants: bool = True
    missing_values: tuple[str, ...] = ("",)

    @property
    def path(self) -> str:
        return f"{self.name}.csv"

    @property
    def header(self) -> list[str]:
        return [column.name for column in self.columns]


def _pid() -> Column:
    return Column(
        "pid",
        "Pseudonymous participant id",
        "string",
        pattern=PID_PATTERN,
        transformation="first 16 hex digits of HMAC-SHA256(project key, registry UUID); stable within the project",
    )


def age_band_values(width: int) -> tuple[str, ...]:
    return (*(f"{low}-{low + width - 1}" for low in range(0, 90, width)), "90+")


_BAND_VALUES = tuple(
    sorted({value for width in (5, 10, 20) for value in age_band_values(width)}, key=lambda v: (len(v), v))
)


def _band(name: str, label: str, what: str) -> Column:
    return Column(
        name,
        label,
        "string",
        unit="years",
        enum=(*_BAND_VALUES, ANY, SUPPRESSED),
        transformation=f"{what} in 5-year bands, or 10- or 20-year bands, or '{ANY}' (not released) when "
        f"k-anonymity needed it (deid_report.json, levels); 90 and over as 90+; '{SUPPRESSED}' when suppressed "
        "for k-anonymity; empty when unknown",
        allowed_note=f"5-year bands 0-4 ... 85-89, or 10-year bands 0-9 ... 80-89, or 20-year bands 0-19 ... 80-99; "
        f"90+; {ANY}; {SUPPRESSED}",
    )


def participants_table(*, include_ancestry: bool, country_values: tuple[str, ...]) -> Table:
    columns = [
        _pid(),
        Column(
            "sex",
            "Sex",
            "string",
            enum=(*Sex.values, ANY, SUPPRESSED),
            transformation=f"as recorded; '{ANY}' when not released for k-anonymity (deid_report.json, levels); "
            f"'{SUPPRESSED}' when suppressed for k-anonymity",
        ),
        Column(
            "country",
            "Country of residence, or its world region",
            "string",
            enum=(*country_values, ANY, SUPPRESSED),
            transformation="ISO 3166-1 alpha-2 code when at least k exported patients share the country, else its "
            "UN M49 sub-region, else its region (research/package/data/regions.json); every country as its "
            f"region, or '{ANY}' (not released), when k-anonymity needed it (deid_report.json, levels); "
            f"'{SUPPRESSED}' when suppressed for k-anonymity",
            allowed_note=f"ISO 3166-1 alpha-2 code; UN M49 sub-region or region name; {ANY}; {SUPPRESSED}",
        ),
        _band("age_band_baseline", "Age at baseline (first exported assessment)", "completed years at baseline"),
        _band("onset_age_band", "Age at symptom onset", "completed years at onset"),
        Column(
            "diagnosis_delay_years",
            "Years from symptom onset to genetic diagnosis",
            "integer",
            unit="years",
            transformation="midpoints of the onset and diagnosis intervals, completed years (rounded down); "
            "negative when the genetic diagnosis came first",
        ),
        Column(
            "genotype",
            "GNE genotype, generalised",
            "string",
            transformation="the two variants (current NM_001128227.3 names) when at least k exported patients share "
            "the pair; else zygosity and protein domains; else 'other'; zygosity and domains, or zygosity only, "
            "for everyone when k-anonymity needed it (genotype_level, deid_report.json levels); empty when no "
            f"genotype is recorded; '{SUPPRESSED}' when suppressed for k-anonymity",
            allowed_note="'<variant> / <variant>'; '<zygosity>, <domain>[/<domain>]'; other; '<zygosity>'; suppressed",
        ),
        Column(
            "genotype_level",
            "How far the genotype was generalised",
            "string",
            enum=("exact", "class_domain", "other", "zygosity", SUPPRESSED, "none"),
            transformation="derived: which rule produced the genotype value (none: no genotype recorded)",
        ),
    ]
    if include_ancestry:
        columns.append(
            Column(
                "ancestry",
                "Ancestry groups",
                "string",
                transformation="sorted codes joined with ';'; a quasi-identifier (k-anonymity applies); "
                f"'{ANY}' when not released for k-anonymity; '{SUPPRESSED}' when suppressed",
                allowed_note="; ".join(Ancestry.values) + f" (joined with ';'); {ANY}; {SUPPRESSED}",
            )
        )
    columns += [
        Column("first_symptom", "First symptom", "string", enum=tuple(FirstSymptom.values)),
        Column("genetically_confirmed", "Genetically confirmed", "boolean"),
        Column("biopsy_done", "Muscle biopsy done", "string", enum=tuple(YesNoUnknown.values)),
        Column("rimmed_vacuoles", "Rimmed vacuoles on biopsy", "string", enum=tuple(YesNoUnknown.values)),
        Column(
            "ambulation_class_baseline",
            "Ambulation class at baseline",
            "integer",
            enum=tuple(AmbulationClass.values),
            transformation="; ".join(f"{value} = {label}" for value, label in AmbulationClass.choices),
        ),
    ]
    return Table(
        "participants",
        "Participants",
        "One row per participant: demographics and diagnosis, generalised for k-anonymity.",
        tuple(columns),
        primary_key=("pid",),
        refers_to_participants=False,
    )


def _measure(source: str, label: str, kind: str, **options) -> Column:
    column_type = {"int": "integer", "decimal": "number", "choice": "string", "devices": "string"}[kind]
    return Column(source, label, column_type, source=source, kind=kind, **options)


_ABILITY = {"enum": tuple(Ability.values)}
_TIMED = {"enum": tuple(TimedTestStatus.values), "transformation": "'unable' is a result, not missing"}
_COUNT = {"unit": "falls", "minimum": 0}


def assessment_measures() -> tuple[Column, ...]:
    """Every measure of an assessment that may leave: no free text, ids, dates, review flags or authors."""
    devices = "|".join(Device.values)
    return (
        _measure("falls_count", "Falls since the last report", "int", **_COUNT),
        _measure("injurious_falls_count", "Falls with injury", "int", **_COUNT),
        _measure("fractures_count", "Falls with a fracture", "int", **_COUNT),
        _measure("falls_indoors_count", "Of the falls, indoors", "int", **_COUNT),
        _measure("falls_outdoors_count", "Of the falls, outdoors", "int", **_COUNT),
        _measure("falls_transfer_count", "Of the falls, during a transfer", "int", **_COUNT),
        _measure(
            "devices",
            "Assistive devices in use",
            "devices",
            pattern=f"^({devices})(;({devices}))*$",
            transformation="device codes, sorted, joined with ';'; empty when none recorded",
            allowed_note="; ".join(Device.values) + " (joined with ';')",
        ),
        _measure(
            "ambulation_class",
            "Ambulation class",
            "int",
            enum=tuple(AmbulationClass.values),
            transformation="; ".join(f"{value} = {label}" for value, label in AmbulationClass.choices),
        ),
        _measure("wheelchair_use", "Wheelchair use", "choice", enum=tuple(WheelchairUse.values)),
        *(
            _measure(name, f"IBMFRS: {label}", "int", unit="points", minimum=0, maximum=4)
            for name, label in IBMFRS_ITEMS.items()
        ),
        _measure(
            "ibmfrs_total",
            "IBMFRS total",
            "int",
            unit="points",
            minimum=0,
            maximum=40,
            transformation="computed by the registry when all ten items are scored",
        ),
        _measure("raise_arms_above_head", "Raising arms above the head", "choice", **_ABILITY),
        _measure("rise_from_chair", "Rising from a chair", "choice", **_ABILITY),
        _measure(
            "six_minute_walk_status",
            "6-minute walk test",
            "choice",
            enum=tuple(SixMinuteWalk.values),
            transformation="'unable' is a result, not missing",
        ),
        _measure("six_minute_walk_m", "6-minute walk distance", "int", unit="m", minimum=0, maximum=900),
        _measure("ten_metre_walk_status", "10-metre walk test", "choice", **_TIMED),
        _measure("ten_metre_walk_s", "10-metre walk time", "decimal", unit="s", minimum=1, maximum=300),
        _measure("timed_up_and_go_status", "Timed up-and-go test", "choice", **_TIMED),
        _measure("timed_up_and_go_s", "Timed up-and-go time", "decimal", unit="s", minimum=1, maximum=300),
        _measure("stair_climb_status", "Timed stair climb", "choice", **_TIMED),
        _measure("stair_climb_s", "Stair climb time", "decimal", unit="s", minimum=1, maximum=300),
        _measure("stair_climb_steps", "Steps in the stair climb", "int", unit="steps", minimum=1, maximum=20),
        _measure("grip_left_kg", "Grip strength, left", "decimal", unit="kg", minimum=0, maximum=100),
        _measure("grip_right_kg", "Grip strength, right", "decimal", unit="kg", minimum=0, maximum=100),
        _measure("pinch_left_kg", "Key pinch strength, left", "decimal", unit="kg", minimum=0, maximum=30),
        _measure("pinch_right_kg", "Key pinch strength, right", "decimal", unit="kg", minimum=0, maximum=30),
        _measure(
            "fvc_percent_predicted",
            "Forced vital capacity",
            "decimal",
            unit="% predicted",
            minimum=0,
            maximum=200,
            transformation="as the lab reported it (see fvc_reference_equation)",
        ),
        _measure("fvc_litres", "Forced vital capacity", "decimal", unit="L", minimum=0, maximum=10),
        _measure("fvc_reference_equation", "FVC reference equation", "choice", enum=tuple(FvcReference.values)),
        _measure("abc_total_percent", "ABC scale total", "decimal", unit="%", minimum=0, maximum=100),
        _measure("ck_u_per_l", "Creatine kinase", "int", unit="U/L", minimum=0, maximum=100000),
        _measure(
            "hhd_upper_composite_kg",
            "Hand-held dynamometry, upper-limb composite",
            "decimal",
            unit="kg",
            minimum=0,
            transformation="computed by the registry: sum over both sides of REGISTRY_HHD_COMPOSITES groups",
        ),
        _measure(
            "hhd_lower_composite_kg",
            "Hand-held dynamometry, lower-limb composite",
            "decimal",
            unit="kg",
            minimum=0,
            transformation="computed by the registry: sum over both sides of REGISTRY_HHD_COMPOSITES groups",
        ),
        _measure(
            "mmt_sum_score",
            "Manual muscle testing sum score",
            "int",
            unit="MRC points",
            minimum=0,
            transformation="computed by the registry: MRC grades summed over REGISTRY_MMT_SUM_MUSCLES",
        ),
    )


def assessments_table() -> Table:
    return Table(
        "assessments",
        "Assessments",
        "One row per assessment, in pid and time order; no dates, free text, ids or review flags.",
        (
            _pid(),
            Column(
                "days_from_baseline",
                "Days from the participant's baseline",
                "integer",
                unit="days",
                minimum=0,
                transformation="assessment date minus the date of the participant's first exported assessment",
            ),
            Column(
                "age_at_assessment",
                "Age at the assessment",
                "string",
                unit="years",
                pattern=AGE_PATTERN,
                transformation=AGE_TRANSFORMATION
                + "; empty when unknown, and for everyone when k-anonymity suppressed "
                "the participant or widened the age bands (an exact age would undo the band)",
            ),
            Column("source", "Who reported the assessment", "string", enum=tuple(Source.values)),
            *assessment_measures(),
        ),
    )


def milestones_table() -> Table:
    kinds = "; ".join(f"{value} = {label}" for value, label in MilestoneKind.choices)
    return Table(
        "milestones",
        "Mobility milestones",
        "Time from symptom onset to each mobility milestone, as an interval and as a Kaplan-Meier pair.",
        (
            _pid(),
            Column("milestone", "Milestone", "string", enum=tuple(MilestoneKind.values), transformation=kinds),
            Column(
                "source",
                "Where the time comes from",
                "string",
                enum=tuple(MilestoneSource.values),
                transformation="reported: a consistent retrospective report; derived: the visits; "
                "empty when not reached (right-censored)",
            ),
            Column(
                "censoring",
                "What the bounds mean",
                "string",
                enum=(*MilestoneCensoring.values, "right"),
                transformation="exact: lower = upper = T; interval: lower < T <= upper; left: T <= upper; "
                "right: T > lower (not reached by the last visit)",
            ),
            Column(
                "lower_years",
                "Lower bound",
                "number",
                unit="years from onset",
                minimum=0,
                transformation="from the middle of the onset interval; rounded to 0.01 year",
            ),
            Column(
                "upper_years",
                "Upper bound",
                "number",
                unit="years from onset",
                minimum=0,
                transformation="from the middle of the onset interval; rounded to 0.01 year",
            ),
            Column(
                "years_from_onset",
                "Time for Kaplan-Meier",
                "number",
                unit="years from onset",
                minimum=0,
                transformation="upper bound for exact, interval and left-censored rows (first time known reached); "
                "lower bound for right-censored rows",
            ),
            Column(
                "event",
                "Event (1) or censored (0)",
                "integer",
                enum=(0, 1),
                transformation="1 for exact, interval and left-censored rows; 0 for right-censored rows",
            ),
        ),
    )


SUMMARY_OTHER = "no_assessment"


def summary_columns() -> tuple[str, ...]:
    return (*(f"class_{value}" for value in AmbulationClass.values), "class_unknown", SUMMARY_OTHER)


def summary_table(small_cell: int) -> Table:
    labels = dict(AmbulationClass.choices)
    count_columns = tuple(
        Column(
            name,
            labels.get(int(name.removeprefix("class_")), name) if name.removeprefix("class_").isdigit() else name,
            "integer",
            unit="patients",
            minimum=0,
            transformation=f"patients; counts 1-{small_cell} and cells that would reveal them are '{SUPPRESSED}'",
        )
        for name in summary_columns()
    )
    return Table(
        "summary_counts",
        "Patients by genotype group and ambulation class at the last assessment",
        "Aggregate counts with small-cell and complementary suppression.",
        (
            Column(
                "genotype_group",
                "Genotype, generalised as in participants.csv",
                "string",
                transformation="the participants.csv genotype value; '(not recorded)' when empty, "
                "'(suppressed)' when suppressed",
            ),
            *count_columns,
        ),
        primary_key=("genotype_group",),
        refers_to_participants=False,
        missing_values=("", SUPPRESSED),
    )


def codebook_table() -> Table:
    return Table(
        "codebook",
        "Codebook",
        "Every column of every table: label, type, unit, allowed values and the transformation applied.",
        (
            Column("table", "Table", "string"),
            Column("variable", "Column name", "string"),
            Column("label", "Label", "string"),
            Column("type", "Frictionless field type", "string"),
            Column("unit", "Unit", "string"),
            Column("allowed_values", "Allowed values", "string"),
            Column("transformation", "Transformation applied", "string"),
        ),
        refers_to_participants=False,
    )


def tables(*, include_ancestry: bool, country_values: tuple[str, ...], small_cell: int) -> list[Table]:
    """Every table of the package, in the order they are listed in datapackage.json."""
    return [
        participants_table(include_ancestry=include_ancestry, country_values=country_values),
        assessments_table(),
        milestones_table(),
        summary_table(small_cell),
        codebook_table(),
    ]


def codebook_rows(all_tables: list[Table]) -> list[list[str]]:
    return [
        [table.name, c.name, c.label, c.type, c.unit, c.allowed_values(), c.transformation]
        for table in all_tables
        for c in table.columns
    ]


def datapackage(all_tables: list[Table], *, name: str, title: str, description: str) -> dict:
    """The Frictionless Data Package descriptor: one tabular resource per table, with its schema."""
    resources = []
    for table in all_tables:
        schema = {
            "fields": [column.frictionless() for column in table.columns],
            "missingValues": list(table.missing_values),
        }
        if table.primary_key:
            schema["primaryKey"] = list(table.primary_key)
        if table.refers_to_participants:
            schema["foreignKeys"] = [{"fields": "pid", "reference": {"resource": "participants", "fields": "pid"}}]
        resources.append(
            {
                "name": table.name,
                "path": table.path,
                "title": table.title,
                "description": table.description,
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "dialect": {"delimiter": ",", "quoteChar": '"', "header": True},
                "schema": schema,
            }
        )
    return {
        "profile": "tabular-data-package",
        "name": name,
        "title": title,
        "description": description,
        "resources": resources,
    }
