"""Bulk import of a legacy registry spreadsheet saved as CSV (docs/import.md).

One line per visit: a patient with three assessments has three lines that repeat their identity,
diagnosis and genotype columns, grouped by `legacy_id`. Every record is written through the
one-by-one services (`patient_create`, `patient_change_status`, `diagnosis_create`,
`genotype_create`, `assessment_create`), so an imported row meets exactly the rules of the API and
the pages; this module only reads the file, turns cells into typed values, and says on which line
and in which column a service refused something.

A check ("dry run") and an import take the same path inside one transaction: the check always rolls
it back, the import rolls it back when any line has a problem. A file with one bad line therefore
changes nothing, and a check finds every problem an import would meet, including those only the
database-backed rules can see (an assessment before the onset the file itself gives).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import DataError, IntegrityError, connection, models, transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django_countries import countries

from assessments.models import Assessment, Device, Source
from assessments.services import ASSESSMENT_FIELDS, assessment_create
from patients.access import staff_site_ids
from patients.models import (
    AcmgClass,
    Ancestry,
    Diagnosis,
    EnrollmentStatus,
    FirstSymptom,
    Misdiagnosis,
    PatientIdentity,
    Sex,
    Site,
    TreatmentKind,
)
from patients.services import diagnosis_create, genotype_create, patient_change_status, patient_create
from registry.audit import EventKind, Via, audit_context, audit_log
from registry.dates import PartialDate
from registry.errors import ValidationError
from registry.models import YesNoUnknown

# --- Cells --------------------------------------------------------------------------------------

YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}
LIST_SEPARATORS = (";", "|", ",")


class CellError(ValueError):
    """A cell that cannot be read as its column's type; the message says what was expected."""


def _text(max_length: int) -> Callable[[str], str]:
    def read(cell: str) -> str:
        if len(cell) > max_length:
            raise CellError(
                _("Keep this to %(limit)d characters (it has %(length)d).")
                % {
                    "limit": max_length,
                    "length": len(cell),
                }
            )
        return cell

    return read


def _date(cell: str) -> dt.date:
    try:
        return dt.date.fromisoformat(cell)
    except ValueError:
        raise CellError(_("Enter a full date as YYYY-MM-DD, e.g. 1984-05-17.")) from None


def _partial_date(cell: str) -> PartialDate:
    try:
        return PartialDate.parse(cell)
    except ValueError as error:
        raise CellError(str(error)) from None


def _whole_number(cell: str) -> int:
    if not cell.isdigit():
        raise CellError(_("Enter a whole number of 0 or more, e.g. 12."))
    return int(cell)


def _whole_number_for(model_field: models.Field) -> Callable[[str], int]:
    """A whole number that fits the column it is stored in (the services check plausible ranges;
    this keeps a typing slip such as 99999 falls from reaching the database as an error)."""
    _low, high = connection.ops.integer_field_range(model_field.get_internal_type())

    def read(cell: str) -> int:
        number = _whole_number(cell)
        if number > high:
            raise CellError(_("Enter a whole number up to %(high)d.") % {"high": high})
        return number

    return read


def _decimal(cell: str) -> Decimal:
    try:
        number = Decimal(cell.replace(",", "."))  # a decimal comma, as European spreadsheets write it
    except InvalidOperation:
        raise CellError(_("Enter a number, e.g. 12.5.")) from None
    if not number.is_finite():
        raise CellError(_("Enter a number, e.g. 12.5."))
    return number


def _yes_no(cell: str) -> bool:
    word = cell.casefold()
    if word in YES:
        return True
    if word in NO:
        return False
    raise CellError(_("Enter yes or no."))


def _choice(choices: list[tuple]) -> Callable[[str], object]:
    """A code from `choices`, or its label, in any letter case."""
    by_word = {str(code).casefold(): code for code, _label in choices}
    by_word |= {str(label).casefold(): code for code, label in choices}

    def read(cell: str):
        try:
            return by_word[cell.casefold()]
        except KeyError:
            codes = ", ".join(str(code) for code, _label in choices)
            raise CellError(_("Enter one of: %(codes)s.") % {"codes": codes}) from None

    return read


def _code_list(choices: list[tuple]) -> Callable[[str], list]:
    """Several codes in one cell, separated by semicolons (or | or commas), each once."""
    read_one = _choice(choices)

    def read(cell: str) -> list:
        separator = next((mark for mark in LIST_SEPARATORS if mark in cell), None)
        words = [word.strip() for word in cell.split(separator)] if separator else [cell]
        codes = [read_one(word) for word in words if word]
        if len(set(codes)) != len(codes):
            raise CellError(_("List each code once."))
        return codes

    return read


def _country(cell: str) -> str:
    code = cell.upper() if cell.upper() in countries else countries.by_name(cell)
    if not code:
        raise CellError(_("Enter a two-letter country code (ISO 3166), e.g. GB or IL."))
    return code


def _email(cell: str) -> str:
    try:
        validate_email(cell)
    except DjangoValidationError:
        raise CellError(_("Enter an email address, e.g. name@example.org.")) from None
    return _text(PatientIdentity._meta.get_field("email").max_length)(cell)


def _identity_text(name: str) -> Callable[[str], str]:
    max_length = PatientIdentity._meta.get_field(name).max_length
    return _text(max_length) if max_length else (lambda cell: cell)


def _assessment_reader(name: str) -> Callable[[str], object]:
    """How to read an assessment column, from the model field of the same name."""
    model_field = Assessment._meta.get_field(name)
    if name == "devices":
        return _code_list(Device.choices)
    if name == "treatments_taken":
        return _code_list(TreatmentKind.choices)
    if model_field.choices:
        return _choice(model_field.choices)
    if isinstance(model_field, models.BooleanField):
        return _yes_no
    if isinstance(model_field, models.DecimalField):
        return _decimal
    if isinstance(model_field, models.IntegerField):
        return _whole_number_for(model_field)
    if isinstance(model_field, models.DateField):
        return _date
    return _text(model_field.max_length or 10_000)


# --- Columns -------------------------------------------------------------------------------------

# Columns describing the patient: repeated on each of their lines (or left blank after the first).
PATIENT_COLUMNS: dict[str, Callable[[str], object]] = {
    "legacy_id": _text(64),
    "site": _text(40),  # a site code, resolved against the sites in the registry
    "given_name": _identity_text("given_name"),
    "family_name": _identity_text("family_name"),
    "date_of_birth": _date,
    "date_of_death": _date,
    "sex": _choice(Sex.choices),
    "country": _country,
    "ancestry": _code_list(Ancestry.choices),
    "consanguinity": _choice(YesNoUnknown.choices),
    "affected_relatives": _choice(YesNoUnknown.choices),
    "email": _email,
    "phone": _identity_text("phone"),
    "postal_address": _identity_text("postal_address"),
    "national_id": _identity_text("national_id"),
    "hospital_id": _identity_text("hospital_id"),
    "enrolled_on": _date,
}
DIAGNOSIS_COLUMNS: dict[str, Callable[[str], object]] = {
    "genetically_confirmed": _yes_no,
    "onset_date": _partial_date,
    "onset_age": _whole_number_for(Diagnosis._meta.get_field("onset_age")),
    "first_symptom": _choice(FirstSymptom.choices),
    "genetic_diagnosis_date": _partial_date,
    "prior_misdiagnoses": _code_list(Misdiagnosis.choices),
    "biopsy_done": _choice(YesNoUnknown.choices),
    "rimmed_vacuoles": _choice(YesNoUnknown.choices),
    "ck_at_diagnosis": _whole_number_for(Diagnosis._meta.get_field("ck_at_diagnosis")),
}
NUMBERING_CHOICES = [("auto", "auto"), ("current", "current"), ("legacy", "legacy")]
GENOTYPE_COLUMNS: dict[str, Callable[[str], object]] = {
    "allele1": _text(200),
    "allele1_numbering": _choice(NUMBERING_CHOICES),
    "allele1_acmg_class": _choice(AcmgClass.choices),
    "allele2": _text(200),
    "allele2_numbering": _choice(NUMBERING_CHOICES),
    "allele2_acmg_class": _choice(AcmgClass.choices),
    "second_allele_not_found": _yes_no,
}
# One visit per line; every assessment value the API takes, except `source` (always "imported").
ASSESSMENT_COLUMNS: dict[str, Callable[[str], object]] = {
    name: _assessment_reader(name) for name in ASSESSMENT_FIELDS if name != "source"
}
VISIT_VALUE_COLUMNS = set(ASSESSMENT_COLUMNS) - {"assessment_date"}
# Everything about the patient, as opposed to the visit of one line.
PER_PATIENT_COLUMNS = PATIENT_COLUMNS | DIAGNOSIS_COLUMNS | GENOTYPE_COLUMNS
ALL_COLUMNS = PER_PATIENT_COLUMNS | ASSESSMENT_COLUMNS
REQUIRED_COLUMNS = ("legacy_id", "site", "given_name", "family_name", "date_of_birth", "country")
IDENTITY_COLUMNS = ("given_name", "family_name", "date_of_birth", "date_of_death", "email", "phone")
IDENTITY_COLUMNS += ("postal_address", "national_id", "hospital_id")

# Where a service's field lands in the file, when its name is not a column of its own.
SERVICE_FIELD_COLUMNS = {
    "status": "enrolled_on",
    "effective_date": "enrolled_on",
    "onset_date_precision": "onset_date",
    "genetic_diagnosis_date_precision": "genetic_diagnosis_date",
}


# --- The report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """What is wrong, where: `line` is the file's own line number (the header is line 1), None for
    the file as a whole; `column` is a header name, or "" for the line as a whole."""

    line: int | None
    column: str
    message: str


@dataclass
class ImportReport:
    dry_run: bool
    rows: int = 0
    patients: int = 0
    enrollments: int = 0
    diagnoses: int = 0
    genotypes: int = 0
    assessments: int = 0
    legacy_variants: int = 0  # alleles entered in legacy NM_005476 numbering, stored in current numbering
    problems: list[Problem] = field(default_factory=list)
    created: list[uuid.UUID] = field(default_factory=list)  # patients, when imported (not for a check)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        names = ("rows", "patients", "enrollments", "diagnoses", "genotypes", "assessments", "legacy_variants")
        return {name: getattr(self, name) for name in names}


class _RollBack(Exception):
    """Leaves the import's transaction, undoing everything written in it."""


# --- Reading the file ----------------------------------------------------------------------------


@dataclass
class _Line:
    number: int
    cells: dict[str, str]  # column -> cell as typed (stripped), blank cells left out
    values: dict[str, object] = field(default_factory=dict)  # column -> typed value
    bad_columns: set[str] = field(default_factory=set)


@dataclass
class _PatientLines:
    legacy_id: str
    lines: list[_Line]
    values: dict[str, object] = field(default_factory=dict)  # per-patient column -> typed value
    source_line: dict[str, int] = field(default_factory=dict)  # per-patient column -> line it came from
    readable: bool = True  # False when a per-patient cell could not be read: no service is called

    @property
    def first_line(self) -> int:
        return self.lines[0].number

    def line_of(self, column: str) -> int:
        return self.source_line.get(column, self.first_line)


def _decode(content: bytes, report: ImportReport) -> str | None:
    if not content.strip():
        report.problems.append(Problem(None, "", _("The file is empty.")))
        return None
    if b"\x00" in content:
        report.problems.append(
            Problem(None, "", _("This is not a text file. Save the spreadsheet as CSV (UTF-8) and upload that."))
        )
        return None
    try:
        return content.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a byte order mark
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        report.problems.append(
            Problem(
                line,
                "",
                _("The file is not UTF-8 text. In your spreadsheet, save it as “CSV UTF-8” and upload that."),
            )
        )
        return None


def _delimiter(header_line: str) -> str:
    """Comma, semicolon (spreadsheets set to a decimal comma) or tab: whichever splits the header most."""
    return max((",", ";", "\t"), key=header_line.count)


def _normalise_header(cell: str) -> str:
    return "_".join(cell.strip().casefold().replace("-", " ").split())


def _read_lines(text: str, report: ImportReport) -> list[_Line] | None:
    """The data lines of the file with their cells by column, or None when the file cannot be read at all."""
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        header = []
    columns = [_normalise_header(cell) for cell in header]
    if not any(column in ALL_COLUMNS for column in columns):
        report.problems.append(
            Problem(
                1,
                "",
                _("The first line must name the columns (%(required)s, ...); it names none the import knows.")
                % {"required": ", ".join(REQUIRED_COLUMNS)},
            )
        )
        return None
    header_ok = _check_header(columns, report)
    lines: list[_Line] = []
    max_rows = settings.REGISTRY_IMPORT_MAX_ROWS
    previous_end = reader.line_num
    try:
        for cells in reader:
            number, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # blank lines, often left at the end by spreadsheets
            if len(lines) == max_rows:
                report.problems.append(
                    Problem(
                        number,
                        "",
                        _("The file has more than %(limit)d lines of data; split it into smaller files.")
                        % {"limit": max_rows},
                    )
                )
                return None
            lines.append(_line(number, columns, cells, report))
    except csv.Error as error:
        report.problems.append(
            Problem(previous_end + 1, "", _("This line cannot be read as CSV: %(error)s.") % {"error": error})
        )
        return None
    report.rows = len(lines)
    if not lines:
        report.problems.append(Problem(None, "", _("The file has a header line but no data.")))
    return lines if header_ok else None


def _check_header(columns: list[str], report: ImportReport) -> bool:
    ok = True
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        report.problems.append(
            Problem(1, "", _("Required columns are missing: %(columns)s.") % {"columns": ", ".join(missing)})
        )
        ok = False
    seen = set()
    for position, column in enumerate(columns, start=1):
        if not column:
            continue  # an unnamed column: fine as long as it stays empty (checked per line)
        if column not in ALL_COLUMNS:
            report.problems.append(
                Problem(
                    1,
                    column,
                    _("Column %(position)d is not a column the import knows; rename or delete it (docs/import.md).")
                    % {"position": position},
                )
            )
            ok = False
        elif column in seen:
            report.problems.append(Problem(1, column, _("This column is named twice.")))
            ok = False
        seen.add(column)
    return ok


def _line(number: int, columns: list[str], cells: list[str], report: ImportReport) -> _Line:
    line = _Line(number=number, cells={})
    if len(cells) > len(columns) and any(cell.strip() for cell in cells[len(columns) :]):
        report.problems.append(
            Problem(
                number,
                "",
                _("This line has %(cells)d cells but the header names %(columns)d columns.")
                % {"cells": len(cells), "columns": len(columns)},
            )
        )
    for column, cell in zip(columns, cells, strict=False):
        cell = cell.strip()
        if not cell:
            continue
        if not column:
            report.problems.append(Problem(number, "", _("A cell is filled in under a column with no name.")))
            continue
        line.cells[column] = cell
        reader = ALL_COLUMNS.get(column)
        if reader is None:
            continue  # reported once, on the header
        try:
            line.values[column] = reader(cell)
        except CellError as error:
            report.problems.append(Problem(number, column, str(error)))
            line.bad_columns.add(column)
    return line


def _group_by_patient(lines: list[_Line], report: ImportReport) -> list[_PatientLines]:
    """Lines grouped by legacy_id, in the order patients first appear; per-patient columns must agree."""
    groups: dict[str, _PatientLines] = {}
    for line in lines:
        legacy_id = line.cells.get("legacy_id")
        if not legacy_id:
            report.problems.append(Problem(line.number, "legacy_id", _("Enter the patient's legacy id.")))
            continue
        if set(line.cells) & VISIT_VALUE_COLUMNS and "assessment_date" not in line.cells:
            report.problems.append(
                Problem(line.number, "assessment_date", _("Enter the date of this line's assessment."))
            )
        group = groups.setdefault(legacy_id, _PatientLines(legacy_id=legacy_id, lines=[]))
        group.lines.append(line)
        for column in PER_PATIENT_COLUMNS:
            if column in line.bad_columns:
                group.readable = False
            if column not in line.values:
                continue
            if column not in group.values:
                group.values[column], group.source_line[column] = line.values[column], line.number
            elif group.values[column] != line.values[column]:
                report.problems.append(
                    Problem(
                        line.number,
                        column,
                        _("Differs from line %(line)d of patient %(legacy_id)s; leave it blank or repeat it.")
                        % {"line": group.source_line[column], "legacy_id": legacy_id},
                    )
                )
                group.readable = False
    for group in groups.values():
        for column in REQUIRED_COLUMNS:
            if column not in group.values and not any(column in line.bad_columns for line in group.lines):
                report.problems.append(Problem(group.first_line, column, _("This value is required.")))
                group.readable = False
    return list(groups.values())


# --- Checks across patients -----------------------------------------------------------------------


def _check_sites(groups: list[_PatientLines], user, report: ImportReport) -> None:
    """Resolve site codes; a site-limited staff member imports only their own sites' patients (docs/sites.md)."""
    sites = {site.code.casefold(): site for site in Site.objects.all()}
    allowed = staff_site_ids(user)
    for group in groups:
        code = group.values.get("site")
        if code is None:
            continue
        site = sites.get(str(code).casefold())
        if site is None:
            message = _("No site has the code %(code)s. Sites: %(codes)s.") % {
                "code": code,
                "codes": ", ".join(sorted(site.code for site in sites.values())) or _("none yet"),
            }
        elif allowed is not None and site.pk not in allowed:
            message = _("You may import patients of your own sites only; %(code)s is not one of them.") % {
                "code": site.code
            }
        else:
            group.values["site"] = site
            continue
        report.problems.append(Problem(group.line_of("site"), "site", message))
        group.readable = False


def _name_key(values: dict) -> tuple | None:
    names = (values.get("given_name"), values.get("family_name"), values.get("date_of_birth"))
    if not all(names):
        return None
    return (str(names[0]).casefold(), str(names[1]).casefold(), names[2])


def _check_duplicates(groups: list[_PatientLines], report: ImportReport) -> None:
    """A patient already in the registry, or twice in the file, is reported rather than entered again.

    Same hospital id, or same names and date of birth (letter case aside). Two queries for the
    whole file, whatever its size.
    """
    hospital_ids = {group.values["hospital_id"] for group in groups if group.values.get("hospital_id")}
    births = {group.values["date_of_birth"] for group in groups if group.values.get("date_of_birth")}
    stored = PatientIdentity.objects.filter(Q(hospital_id__in=hospital_ids) | Q(date_of_birth__in=births))
    stored_ids = set(stored.exclude(hospital_id="").values_list("hospital_id", flat=True))
    stored_names = {
        (given.casefold(), family.casefold(), born)
        for given, family, born in stored.values_list("given_name", "family_name", "date_of_birth")
    }
    seen_ids: dict[str, int] = {}
    seen_names: dict[tuple, int] = {}
    for group in groups:
        hospital_id, name_key = group.values.get("hospital_id"), _name_key(group.values)
        if hospital_id in stored_ids:
            problem = Problem(
                group.line_of("hospital_id"),
                "hospital_id",
                _("A patient with this hospital id is already in the registry; it is not imported twice."),
            )
        elif name_key in stored_names:
            problem = Problem(
                group.line_of("family_name"),
                "family_name",
                _("A patient with these names and date of birth is already in the registry; it is not imported twice."),
            )
        elif hospital_id and hospital_id in seen_ids:
            problem = Problem(
                group.line_of("hospital_id"),
                "hospital_id",
                _("Line %(line)d has the same hospital id under another legacy id.") % {"line": seen_ids[hospital_id]},
            )
        elif name_key and name_key in seen_names:
            problem = Problem(
                group.line_of("family_name"),
                "family_name",
                _("Line %(line)d has the same names and date of birth under another legacy id.")
                % {"line": seen_names[name_key]},
            )
        else:
            problem = None
        if hospital_id:
            seen_ids.setdefault(hospital_id, group.line_of("hospital_id"))
        if name_key:
            seen_names.setdefault(name_key, group.line_of("family_name"))
        if problem:
            report.problems.append(problem)
            group.readable = False


# --- Writing through the services -----------------------------------------------------------------


def _service_problems(error: Exception, *, line: Callable[[str], int], fallback: str) -> list[Problem]:
    """A service's refusal as problems at the file's columns (`line` says where each column came from)."""
    if isinstance(error, (IntegrityError, DataError)):
        return [Problem(line(fallback), "", _("The database refused this record; check the values on this line."))]
    if not hasattr(error, "error_dict"):
        return [Problem(line(fallback), "", message) for message in error.messages]
    problems = []
    for name, messages in error.message_dict.items():
        column = name.removeprefix("identity.")
        column = SERVICE_FIELD_COLUMNS.get(column, column)
        if column not in ALL_COLUMNS:
            column = fallback
        problems += [Problem(line(column), column, message) for message in messages]
    return problems


def _call(report: ImportReport, write: Callable[[], object], *, line: Callable[[str], int], fallback: str):
    """Run one service call; on refusal, record where and why and return None.

    Each service is atomic, which inside the import's transaction is a savepoint of its own: a
    refused record leaves nothing behind, and the next one can still be checked.
    """
    try:
        return write()
    except (ValidationError, IntegrityError, DataError) as error:
        report.problems += _service_problems(error, line=line, fallback=fallback)
        return None


def _pick(values: dict, columns) -> dict:
    return {name: values[name] for name in columns if name in values}


def _partial_dates(values: dict) -> dict:
    """Partial date columns as the model stores them: first possible day and precision."""
    stored = {}
    for name, value in values.items():
        if isinstance(value, PartialDate):
            stored[name], stored[f"{name}_precision"] = value.date, value.precision
        else:
            stored[name] = value
    return stored


def _import_patient(group: _PatientLines, user, report: ImportReport) -> None:
    values = group.values
    data = _pick(values, ("sex", "country", "ancestry", "consanguinity", "affected_relatives", "site"))
    identity = _pick(values, IDENTITY_COLUMNS)
    patient = _call(
        report,
        lambda: patient_create(data=data, identity=identity, recorded_by=user),
        line=group.line_of,
        fallback="legacy_id",
    )
    if patient is None:
        return
    report.patients += 1
    report.created.append(patient.uuid)

    if "enrolled_on" in values:
        enrolled = _call(
            report,
            lambda: patient_change_status(
                patient=patient,
                status=EnrollmentStatus.ENROLLED,
                effective_date=values["enrolled_on"],
                reason="Imported",
                recorded_by=user,
            ),
            line=group.line_of,
            fallback="enrolled_on",
        )
        report.enrollments += enrolled is not None

    diagnosis = _partial_dates(_pick(values, DIAGNOSIS_COLUMNS))
    if diagnosis:
        created = _call(
            report,
            lambda: diagnosis_create(patient=patient, data=diagnosis),
            line=group.line_of,
            fallback="onset_date",
        )
        report.diagnoses += created is not None

    genotype = _pick(values, GENOTYPE_COLUMNS)
    if genotype:
        created = _call(
            report, lambda: genotype_create(patient=patient, data=genotype), line=group.line_of, fallback="allele1"
        )
        if created is not None:
            stored = created[0]
            report.genotypes += 1
            numberings = (stored.allele1_entered_numbering, stored.allele2_entered_numbering)
            report.legacy_variants += numberings.count("legacy")

    # In date order, as they happened: the rules about walking again after a wheelchair, and
    # the milestones derived, read the visits before each one.
    visits = [line for line in group.lines if "assessment_date" in line.values]
    for line in sorted(visits, key=lambda line: line.values["assessment_date"]):
        if line.bad_columns & set(ASSESSMENT_COLUMNS):
            continue  # a cell of this visit could not be read; already reported
        data = _pick(line.values, ASSESSMENT_COLUMNS) | {"source": Source.IMPORTED}
        created = _call(
            report,
            lambda data=data: assessment_create(patient=patient, data=data, entered_by=user),
            line=lambda column, number=line.number: number,
            fallback="assessment_date",
        )
        report.assessments += created is not None


# Key of the PostgreSQL advisory lock that imports take ("IMP"); other advisory locks use two-part keys.
IMPORT_LOCK_KEY = 0x49_4D_50


def _one_import_at_a_time() -> None:
    """Wait for any other import to end before this one checks for duplicates.

    Two imports running at once (the same file sent twice, two staff members) would each miss the
    other's patients in the duplicate check. The lock is released with the transaction. SQLite
    (`make run`) lets one writer in at a time anyway.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [IMPORT_LOCK_KEY])


def spreadsheet_import(*, content: bytes, user, dry_run: bool) -> ImportReport:
    """Check, and unless `dry_run` import, a legacy spreadsheet (docs/import.md); all or nothing.

    Returns the report: every problem found with its line and column, and what was (or would be)
    created. Nothing is written when `dry_run` is set or any problem is found.
    """
    report = ImportReport(dry_run=dry_run)
    text = _decode(content, report)
    lines = _read_lines(text, report) if text is not None else None
    if lines is None:
        return report
    groups = _group_by_patient(lines, report)
    try:
        with audit_context(via=Via.IMPORT, user=user), transaction.atomic():
            if not dry_run:
                _one_import_at_a_time()
            _check_sites(groups, user, report)
            _check_duplicates(groups, report)
            for group in groups:
                if group.readable:
                    _import_patient(group, user, report)
            if dry_run or report.problems:
                raise _RollBack
            audit_log(EventKind.IMPORT, user=user, detail=report.counts())
    except _RollBack:
        report.created = []
    report.problems.sort(key=lambda problem: problem.line or 0)  # stable: within a line, as found
    return report
