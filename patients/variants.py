"""Read GNE variant descriptions, check them and name them in both numbering systems.

Two numbering systems
---------------------
GNE variants are published against two reference transcripts:

* **current**: NM_001128227.3, a 753-amino-acid protein (coding sequence 2262 nt including
  the stop codon, which is codon 754). Genetic reports use it today and the registry stores it.
* **legacy**: NM_005476 (hGNE1), a 722-amino-acid protein. Most papers before ~2014 used it,
  and the founder variants are still best known by legacy names such as "M712T".

The legacy protein lacks the first 31 amino acids of the current one, so one variant has two
names: protein positions differ by 31 and coding positions by 93
(legacy c.2135T>C p.Met712Thr is current c.2228T>C p.(Met743Thr)). Current codons 1-31
(c.1-93) have no legacy name at all.

Nothing in a bare "M712T" says which numbering was meant, and a legacy number stored as
current silently names another residue. So without a transcript, a legacy reading is taken
only when the text is the legacy name of a catalogued founder variant; any other bare short
form is refused until the caller says which numbering it is in.

No reference sequence is shipped: positions, numbering and internal consistency (c. codon
against p. position, deleted bases against the range) are checked, reference bases and
residues are not (except the start methionines, current Met1 and Met32 = legacy Met1, and
the stop codon, current codon 754 = legacy 723). The transcripts, offsets,
protein domains and the founder catalogue are data in ``data/gne_reference.json``, which
``settings.GNE_REFERENCE_PATH`` may replace.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "NUMBERINGS",
    "VARIANT_CLASSES",
    "ParsedVariant",
    "ReferenceDataError",
    "VariantError",
    "founder_catalogue",
    "gne_reference",
    "parse_variant",
    "protein_domain_for",
]

VARIANT_CLASSES = (
    "missense",
    "nonsense",
    "synonymous",
    "frameshift",
    "inframe_deletion",
    "inframe_insertion",
    "inframe_delins",
    "start_loss",
    "stop_loss",
    "splice",
    "intronic",
    "unknown",
)
NUMBERINGS = ("auto", "current", "legacy")

_DEFAULT_REFERENCE_PATH = Path(__file__).resolve().parent / "data" / "gne_reference.json"
# Far longer than any real description; it bounds the regex work and keeps digit strings
# clear of Python's int() limit (a plain ValueError we must never leak).
_MAX_INPUT_LENGTH = 200
# ASCII: without it, IGNORECASE lets the Kelvin sign match "k" and Unicode digits match \d,
# and those characters would then miss the lookup tables below.
_FLAGS = re.IGNORECASE | re.ASCII
# Intronic offsets this close to an exon are the canonical splice donor/acceptor sites.
_SPLICE_SITE_WINDOW = 2
# HGVS shifts del/dup/ins to the most 3' position and a frameshift may first change a later
# residue, so the p. position of such a change can sit a codon or two away from the c. one.
_INDEL_CODON_SLACK = 2

_EXAMPLES = "e.g. c.2228T>C, c.1235-2A>G, p.(Met743Thr), c.2228T>C p.(Met743Thr) or NM_005476:p.M712T"


class VariantError(ValueError):
    """Input that is not a valid GNE variant; str(err) is a message a person can act on."""


class ReferenceDataError(RuntimeError):
    """The reference JSON is broken: a deployment problem, not a user's typing."""


@dataclass(frozen=True)
class ParsedVariant:
    """A GNE variant in current numbering, with its legacy names and derived annotations."""

    cdna: str
    protein: str
    legacy_cdna: str
    legacy_protein: str
    legacy_short: str
    protein_position: int | None
    variant_class: str
    protein_domain: str
    numbering_entered: str
    notes: tuple[str, ...]
    # hash=False keeps instances hashable although a dict is unhashable.
    catalogue_entry: dict | None = field(hash=False)

    @property
    def name(self) -> str:
        """Canonical key: the c. name, or the p. name when no c. change is known."""
        return self.cdna or self.protein


# --- Reference data -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Transcript:
    key: str  # "current" or "legacy"
    accession: str
    version: int | None
    protein_length: int
    coding_length: int
    # Codons known to be Met without a reference sequence: each transcript's start codon, and
    # on the current one also the legacy start (current codon 32).
    methionines: tuple[int, ...] = (1,)

    @property
    def label(self) -> str:
        return f"{self.accession}.{self.version}" if self.version else self.accession

    @property
    def stop_codon(self) -> int:
        return self.protein_length + 1

    def describe(self) -> str:
        return self.label if self.key == "current" else f"legacy {self.label}"


@dataclass(frozen=True)
class _CatalogueNames:
    entry: dict
    cdna: str
    protein: str
    legacy_cdna: str
    legacy_protein: str


@dataclass(frozen=True)
class _Reference:
    data: dict
    current: _Transcript
    legacy: _Transcript
    aa_offset: int
    nt_offset: int
    domains: tuple[tuple[str, int, int], ...]
    catalogue: tuple[_CatalogueNames, ...]

    def transcript(self, key: str) -> _Transcript:
        return self.current if key == "current" else self.legacy


def gne_reference() -> dict:
    """The reference JSON (transcripts, offsets, domains, founder catalogue); a copy, so callers may mutate it."""
    return copy.deepcopy(_reference().data)


def _reference() -> _Reference:
    return _load_reference(str(_reference_path()))


def _reference_path() -> Path:
    """settings.GNE_REFERENCE_PATH when Django is configured and sets it, else the shipped file."""
    try:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
    except ImportError:  # the module is usable without Django (scripts, tests)
        return _DEFAULT_REFERENCE_PATH
    if not (settings.configured or os.environ.get("DJANGO_SETTINGS_MODULE")):
        return _DEFAULT_REFERENCE_PATH
    try:
        override = getattr(settings, "GNE_REFERENCE_PATH", "")
    except (ImproperlyConfigured, ImportError):
        return _DEFAULT_REFERENCE_PATH
    return Path(override) if override else _DEFAULT_REFERENCE_PATH


@functools.lru_cache(maxsize=4)
def _load_reference(path: str) -> _Reference:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return _build_reference(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ReferenceDataError(f"GNE reference data at {path} is unusable: {error}") from error


def _build_reference(data: dict) -> _Reference:
    aa_offset = int(data["legacy_offset"]["amino_acids"])
    nt_offset = int(data["legacy_offset"]["nucleotides"])
    specs = data["transcripts"]
    current = _transcript("current", specs["current"], methionines=(1, aa_offset + 1))
    legacy = _transcript("legacy", specs["legacy"], methionines=(1,))
    if nt_offset != 3 * aa_offset or current.protein_length - legacy.protein_length != aa_offset:
        raise ValueError("legacy offsets disagree with the transcript lengths")
    for transcript in (current, legacy):
        if transcript.coding_length != 3 * transcript.stop_codon:
            raise ValueError(f"{transcript.label}: coding length must be 3 x (amino acids + stop codon)")
    domains = tuple(
        (str(region["name"]), int(region["start"]), int(region["end"])) for region in data["domains"]["regions"]
    )
    partial = _Reference(data, current, legacy, aa_offset, nt_offset, domains, ())
    catalogue = tuple(_catalogue_names(entry, partial) for entry in data["founder_variants"])
    return _Reference(data, current, legacy, aa_offset, nt_offset, domains, catalogue)


def _transcript(key: str, spec: dict, *, methionines: tuple[int, ...]) -> _Transcript:
    return _Transcript(
        key=key,
        accession=str(spec["accession"]).upper(),
        version=spec.get("version"),
        protein_length=int(spec["protein_length"]),
        coding_length=int(spec["coding_length"]),
        methionines=methionines,
    )


def _catalogue_names(entry: dict, ref: _Reference) -> _CatalogueNames:
    """Canonical current and legacy names of one catalogue entry, checked for consistency."""
    cdna, protein = _parse_cdna(entry["cdna"].removeprefix("c.")), _parse_protein_text(entry["protein"])
    try:
        _check_cdna_range(cdna, ref.current)
        _check_protein_range(protein, ref.current)
        _check_codons_agree(cdna, protein)
    except VariantError as error:
        raise ValueError(f"founder variant {entry['cdna']}: {error}") from None
    legacy_cdna = cdna.shifted(-ref.nt_offset)
    legacy_protein = protein.shifted(-ref.aa_offset)
    computed_short = _short_name(legacy_protein) if legacy_protein else ""
    if entry.get("legacy_short", "") != computed_short:
        raise ValueError(f"founder variant {entry['cdna']}: legacy_short should be {computed_short!r}")
    return _CatalogueNames(
        entry=entry,
        cdna=str(cdna),
        protein=str(protein),
        legacy_cdna=str(legacy_cdna) if legacy_cdna else "",
        legacy_protein=str(legacy_protein) if legacy_protein else "",
    )


def protein_domain_for(position: int) -> str:
    """The reference domain containing a current-numbering codon, or "unknown"."""
    for name, start, end in _reference().domains:
        if start <= position <= end:
            return name
    return "unknown"


def founder_catalogue() -> list[ParsedVariant]:
    """Every catalogue entry, parsed (current numbering, with legacy names)."""
    return [parse_variant(f"{names.cdna} {names.protein}", numbering="current") for names in _reference().catalogue]


# --- Amino acids ------------------------------------------------------------------------------

_ONE_LETTER = {
    "Ala": "A",
    "Arg": "R",
    "Asn": "N",
    "Asp": "D",
    "Cys": "C",
    "Gln": "Q",
    "Glu": "E",
    "Gly": "G",
    "His": "H",
    "Ile": "I",
    "Leu": "L",
    "Lys": "K",
    "Met": "M",
    "Phe": "F",
    "Pro": "P",
    "Ser": "S",
    "Thr": "T",
    "Trp": "W",
    "Tyr": "Y",
    "Val": "V",
    "Ter": "*",
}
_THREE_LETTER = {one: three for three, one in _ONE_LETTER.items()} | {"X": "Ter"}  # X: older stop notation
_BY_LOWER_CODE = {three.lower(): three for three in _ONE_LETTER}


def _residue(token: str) -> str:
    """A residue token (3-letter, 1-letter, * or X) as its canonical 3-letter code."""
    return _BY_LOWER_CODE.get(token.lower()) or _THREE_LETTER[token.upper()]


# --- c. (coding DNA) changes ------------------------------------------------------------------


@dataclass(frozen=True)
class _CPos:
    base: int
    offset: int = 0  # intronic: +n after an exon's last base, -n before an exon's first

    @property
    def intronic(self) -> bool:
        return self.offset != 0

    @property
    def codon(self) -> int:
        return (self.base + 2) // 3

    def __str__(self) -> str:
        return f"{self.base}{self.offset:+d}" if self.offset else str(self.base)


@dataclass(frozen=True)
class _CChange:
    kind: str  # "sub", "del", "dup", "ins" or "delins"
    start: _CPos
    end: _CPos | None = None
    ref: str = ""  # substituted base
    alt: str = ""  # substituting or inserted bases

    @property
    def last(self) -> _CPos:
        return self.end or self.start

    @property
    def span(self) -> str:
        return f"{self.start}_{self.end}" if self.end else str(self.start)

    def shifted(self, delta: int) -> _CChange | None:
        """The same change with coding positions moved by delta; None if one falls before c.1."""
        start = _CPos(self.start.base + delta, self.start.offset)
        end = _CPos(self.end.base + delta, self.end.offset) if self.end else None
        if start.base < 1:
            return None
        return _CChange(self.kind, start, end, self.ref, self.alt)

    def __str__(self) -> str:
        if self.kind == "sub":
            return f"c.{self.span}{self.ref}>{self.alt}"
        if self.kind in ("ins", "delins"):
            return f"c.{self.span}{self.kind}{self.alt}"
        return f"c.{self.span}{self.kind}"


def _position_pattern(name: str) -> str:
    return rf"(?P<{name}_base>[0-9]+)(?:(?P<{name}_sign>[+-])(?P<{name}_offset>[0-9]+))?"


_CDNA_RE = re.compile(
    _position_pattern("start")
    + rf"(?:_{_position_pattern('end')})?"
    + r"(?:(?P<sub_ref>[ACGT])>(?P<sub_alt>[ACGT])"
    + r"|del(?P<delins_deleted>[ACGT]*)ins(?P<delins_inserted>[ACGT]+)"
    + r"|del(?P<del_deleted>[ACGT]*)"
    + r"|dup(?P<dup_duplicated>[ACGT]*)"
    + r"|ins(?P<ins_inserted>[ACGT]+))",
    _FLAGS,
)
# c.-12 (5' UTR) and c.*5 (3' UTR), alone or as either end of a range.
_UTR_RE = re.compile(r"(?:^|_)(?P<position>[-*][0-9]+(?:[+-][0-9]+)?)", _FLAGS)


def _parse_cdna(body: str) -> _CChange:
    """Parse the text after "c." (syntax only; ranges are checked per transcript later)."""
    utr = _UTR_RE.search(body)
    if utr:
        position = utr["position"]
        region = "5' untranslated region" if position.startswith("-") else "3' untranslated region"
        raise VariantError(
            f"c.{position} lies outside the coding sequence (in the {region}); "
            "the registry records coding and intronic GNE variants only."
        )
    match = _CDNA_RE.fullmatch(body)
    if not match:
        raise VariantError(f"c.{body} is not a coding DNA change this registry understands ({_EXAMPLES}).")
    start = _cdna_position(match, "start")
    end = _cdna_position(match, "end") if match["end_base"] is not None else None
    change, deleted = _cdna_change_kind(match, start, end)
    _check_cdna_shape(change, body, deleted)
    return change


def _cdna_position(match: re.Match[str], name: str) -> _CPos:
    base = int(match[f"{name}_base"])
    if base == 0:
        raise VariantError("c.0 does not exist: coding positions start at c.1, the A of the ATG start codon.")
    if match[f"{name}_offset"] is None:
        return _CPos(base)
    offset = int(match[f"{name}_offset"])
    if offset == 0:
        raise VariantError(f"c.{base}{match[f'{name}_sign']}0 is not a position: an intronic offset starts at 1.")
    return _CPos(base, -offset if match[f"{name}_sign"] == "-" else offset)


def _cdna_change_kind(match: re.Match[str], start: _CPos, end: _CPos | None) -> tuple[_CChange, str]:
    """The change, plus any bases the text names as deleted or duplicated (for a length check)."""
    if match["sub_ref"] is not None:
        return _CChange("sub", start, end, match["sub_ref"].upper(), match["sub_alt"].upper()), ""
    if match["delins_inserted"] is not None:
        return _CChange("delins", start, end, alt=match["delins_inserted"].upper()), match["delins_deleted"]
    if match["del_deleted"] is not None:
        return _CChange("del", start, end), match["del_deleted"]
    if match["dup_duplicated"] is not None:
        return _CChange("dup", start, end), match["dup_duplicated"]
    return _CChange("ins", start, end, alt=match["ins_inserted"].upper()), ""


def _check_cdna_shape(change: _CChange, body: str, named_bases: str) -> None:
    """Checks that need no transcript: one position per substitution, ordered ranges, lengths."""
    start, end = change.start, change.end
    if change.kind == "sub":
        if end is not None:
            raise VariantError(f"c.{body}: a substitution names one position, not a range.")
        if change.ref == change.alt:
            raise VariantError(f"c.{body} changes {change.ref} to itself, so it is not a variant.")
        return
    if end is not None and (end.base, end.offset) <= (start.base, start.offset):
        raise VariantError(f"c.{body}: a range must run from the lower to the higher position.")
    if change.kind == "ins" and (end is None or not _adjacent(start, end)):
        raise VariantError(
            f"c.{body}: an insertion names the two neighbouring positions it lies between, e.g. c.12_13insA."
        )
    length = _span_length(start, end)
    if named_bases and length is not None and len(named_bases) != length:
        raise VariantError(f"c.{body} names {len(named_bases)} bases but the range covers {length}.")


def _adjacent(left: _CPos, right: _CPos) -> bool:
    if left.base == right.base:
        return right.offset - left.offset == 1
    return not (left.intronic or right.intronic) and right.base == left.base + 1


def _span_length(start: _CPos, end: _CPos | None) -> int | None:
    """Nucleotides in a range, when both ends are in the same exon or intron stretch."""
    if end is None:
        return 1
    if not (start.intronic or end.intronic):
        return end.base - start.base + 1
    if start.base == end.base and (start.offset > 0) == (end.offset > 0):
        return end.offset - start.offset + 1
    return None  # crosses an exon-intron boundary: exon lengths are not shipped


# --- p. (protein) changes ---------------------------------------------------------------------


@dataclass(frozen=True)
class _PChange:
    # "sub", "syn", "unknown" (Met1?), "fs", "del", "dup", "ins", "delins" or "ext"
    kind: str
    ref: str
    pos: int
    end_ref: str = ""
    end_pos: int | None = None
    alt: tuple[str, ...] = ()
    new_stop: str = ""  # fs/ext: codons to the new stop, "?" unknown, "" not stated

    def residues(self) -> list[tuple[str, int]]:
        named = [(self.ref, self.pos)]
        if self.end_pos is not None:
            named.append((self.end_ref, self.end_pos))
        return named

    def shifted(self, delta: int) -> _PChange | None:
        """The same change with positions moved by delta; None if one falls before residue 1."""
        if self.pos + delta < 1:
            return None
        end_pos = self.end_pos + delta if self.end_pos is not None else None
        return _PChange(self.kind, self.ref, self.pos + delta, self.end_ref, end_pos, self.alt, self.new_stop)

    def __str__(self) -> str:
        first = f"{self.ref}{self.pos}"
        span = f"{first}_{self.end_ref}{self.end_pos}" if self.end_pos is not None else first
        stop = f"Ter{self.new_stop}" if self.new_stop else ""
        inserted = "".join(self.alt)
        text = {
            "sub": f"{first}{inserted}",
            "syn": f"{first}=",
            "unknown": f"{first}?",
            "fs": f"{first}{inserted}fs{stop}",
            "ext": f"{first}{inserted}ext{stop}",
            "ins": f"{span}ins{inserted}",
            "delins": f"{span}delins{inserted}",
        }.get(self.kind, f"{span}{self.kind}")
        return f"p.({text})"


def _protein_patterns(residue: str) -> list[tuple[str, re.Pattern[str]]]:
    """The protein grammar for one residue notation (3-letter or 1-letter codes)."""
    stop = r"(?:Ter|\*|X)"
    first = rf"(?P<ref>{residue})(?P<pos>[0-9]+)"
    span = rf"{first}(?:_(?P<end_ref>{residue})(?P<end_pos>[0-9]+))?"
    new_stop = rf"(?:{stop}(?P<new_stop>[0-9]+|\?))?"
    patterns = [
        ("ext", rf"(?P<ref>{stop})(?P<pos>[0-9]+)(?P<alt>{residue})ext{new_stop}"),
        ("fs", rf"{first}(?P<alt>{residue})?fs{new_stop}"),
        ("delins", rf"{span}delins(?P<seq>(?:{residue})+)"),
        ("del", rf"{span}del"),
        ("dup", rf"{span}dup"),
        ("ins", rf"{first}_(?P<end_ref>{residue})(?P<end_pos>[0-9]+)ins(?P<seq>(?:{residue})+)"),
        ("sub", rf"{first}(?P<alt>{residue}|=|\?)"),
    ]
    return [(kind, re.compile(pattern, _FLAGS)) for kind, pattern in patterns]


_THREE_LETTER_RESIDUE = "|".join(_ONE_LETTER) + r"|\*|X"
_ONE_LETTER_RESIDUE = r"[ACDEFGHIKLMNPQRSTVWY*X]"
# 3-letter first: "Ser" read as 1-letter would be Ser-Glu-Arg.
_PROTEIN_GRAMMARS = [
    (re.compile(_THREE_LETTER_RESIDUE, _FLAGS), _protein_patterns(_THREE_LETTER_RESIDUE)),
    (re.compile(_ONE_LETTER_RESIDUE, _FLAGS), _protein_patterns(_ONE_LETTER_RESIDUE)),
]
_P_TEXT_RE = re.compile(r"p\.(?:\((?P<inner>[^()]+)\)|(?P<bare>[^()]+))", _FLAGS)


def _parse_protein_text(text: str) -> _PChange:
    """Parse "p.(...)" or "p...." (used for catalogue entries)."""
    match = _P_TEXT_RE.fullmatch(text)
    if not match:
        raise VariantError(f"{text} is not a protein change this registry understands ({_EXAMPLES}).")
    return _parse_protein(match["inner"] or match["bare"])


def _parse_protein(body: str) -> _PChange:
    """Parse a protein change without its "p." and parentheses (syntax only)."""
    for residue_re, patterns in _PROTEIN_GRAMMARS:
        for kind, pattern in patterns:
            match = pattern.fullmatch(body)
            if match:
                return _protein_change(kind, match, residue_re)
    raise VariantError(f"p.{body} is not a protein change this registry understands ({_EXAMPLES}).")


def _protein_change(kind: str, match: re.Match[str], residue_re: re.Pattern[str]) -> _PChange:
    groups = match.groupdict()
    ref, pos = _residue(groups["ref"]), int(groups["pos"])
    end_ref = _residue(groups["end_ref"]) if groups.get("end_ref") else ""
    end_pos = int(groups["end_pos"]) if groups.get("end_pos") else None
    new_stop = groups.get("new_stop") or ""
    if new_stop not in ("", "?") and int(new_stop) < 1:
        raise VariantError(f"p.{match.string}: the new stop codon must be at least 1 codon away.")
    if kind in ("ins", "delins"):
        inserted = tuple(_residue(token) for token in residue_re.findall(groups["seq"]))
        if kind == "delins" and end_pos is None and len(inserted) == 1:
            # p.Ala57delinsPhe is HGVS's p.Ala57Phe
            return _substitution(ref, pos, inserted[0], match.string)
        return _PChange(kind, ref, pos, end_ref, end_pos, inserted)
    if kind == "sub":
        return _substitution(ref, pos, groups["alt"], match.string)
    alt = (_residue(groups["alt"]),) if groups.get("alt") else ()
    if kind == "ext":
        if alt == ("Ter",):
            raise VariantError(f"p.{match.string}: a stop codon replaced by a stop codon is not an extension.")
        return _PChange("ext", "Ter", pos, alt=alt, new_stop=new_stop or "?")
    if kind == "fs" and alt == ("Ter",):
        raise VariantError(
            f"p.{match.string}: a frameshift whose first new residue is a stop is written {ref}{pos}Ter."
        )
    return _PChange(kind, ref, pos, end_ref, end_pos, alt, new_stop)


def _substitution(ref: str, pos: int, alt_token: str, text: str) -> _PChange:
    if alt_token == "=":
        return _PChange("syn", ref, pos)
    if alt_token == "?":
        return _PChange("unknown", ref, pos)
    alt = _residue(alt_token)
    if alt == ref:
        return _PChange("syn", ref, pos)
    if ref == "Ter":
        # HGVS writes a lost stop as an extension of unknown length unless it is given.
        return _PChange("ext", ref, pos, alt=(alt,), new_stop="?")
    return _PChange("sub", ref, pos, alt=(alt,))


def _short_name(change: _PChange) -> str:
    """One-letter short name (M712T) for a single-residue substitution, else ""."""
    if change.kind != "sub":
        return ""
    return f"{_ONE_LETTER[change.ref]}{change.pos}{_ONE_LETTER[change.alt[0]]}"


# --- Checks against a transcript --------------------------------------------------------------


def _check_cdna_range(change: _CChange, transcript: _Transcript) -> None:
    for position in (change.start, change.last):
        if position.base > transcript.coding_length:
            raise VariantError(
                f"c.{position.base} is beyond the {transcript.coding_length}-nucleotide coding sequence "
                f"of {transcript.describe()}."
            )


def _check_protein_range(change: _PChange, transcript: _Transcript) -> None:
    length, stop = transcript.protein_length, transcript.stop_codon
    for residue, position in change.residues():
        if position < 1:
            raise VariantError("Amino-acid positions start at 1.")
        if position > stop or (position == stop and residue != "Ter"):
            extra = f"; codon {stop} is the stop codon, written Ter{stop}" if position == stop else ""
            raise VariantError(
                f"position {position} is beyond GNE's {length} amino acids ({transcript.describe()}){extra}."
            )
        if residue == "Ter" and position != stop:
            raise VariantError(
                f"Ter{position} cannot be: the stop codon of {transcript.describe()} is codon {stop}, "
                f"after GNE's {length} amino acids."
            )
        if position in transcript.methionines and residue != "Met":
            raise VariantError(
                f"{residue}{position} cannot be: residue {position} of GNE ({transcript.describe()}) is a "
                f"start methionine, Met{position}."
            )
    if change.end_pos is not None and change.end_pos <= change.pos:
        raise VariantError(f"{change}: a range must run from the lower to the higher position.")
    if change.kind == "ins" and change.end_pos != change.pos + 1:
        raise VariantError(f"{change}: an insertion lies between two neighbouring residues, e.g. p.Lys10_Ala11insGly.")
    if change.kind == "unknown" and change.pos not in transcript.methionines:
        raise VariantError(f"{change}: '?' as the new residue is only used for a start codon, e.g. p.(Met1?).")


def _check_codons_agree(cdna: _CChange, protein: _PChange) -> None:
    """The c. change must lie in (or, for indels, next to) the codon the p. change names."""
    if cdna.start.intronic or cdna.last.intronic:
        return  # a splice change acts on the protein at a distance
    first, last = cdna.start.codon, cdna.last.codon
    slack = _INDEL_CODON_SLACK if cdna.kind in ("del", "dup", "ins") else 0
    if first - slack <= protein.pos <= last + slack:
        return
    if first == last:
        where = f"c.{cdna.start.base} lies in codon {first}"
    else:
        where = f"c.{cdna.span} spans codons {first}-{last}"
    raise VariantError(f"{where} but the protein change names codon {protein.pos}.")


# --- Classification ---------------------------------------------------------------------------


def _variant_class(cdna: _CChange | None, protein: _PChange | None) -> str:
    """From the protein change when there is one; else what the c. change alone tells."""
    if protein:
        return _class_from_protein(protein)
    return _class_from_cdna(cdna) if cdna else "unknown"


def _class_from_protein(change: _PChange) -> str:
    if change.kind == "ext":
        return "stop_loss"
    if change.pos == 1 and change.kind in ("sub", "unknown", "del", "delins"):
        return "start_loss"
    if change.kind == "sub":
        return "nonsense" if change.alt == ("Ter",) else "missense"
    if change.kind == "delins" and change.alt[0] == "Ter":
        return "nonsense"
    return {
        "syn": "synonymous",
        "fs": "frameshift",
        "del": "inframe_deletion",
        "dup": "inframe_insertion",
        "ins": "inframe_insertion",
        "delins": "inframe_delins",
    }.get(change.kind, "unknown")


def _class_from_cdna(change: _CChange) -> str:
    if change.start.intronic or change.last.intronic:
        return "splice" if _touches_splice_site(change) else "intronic"
    if _hits_start_codon(change):
        return "start_loss"
    if change.kind == "sub":
        return "unknown"  # missense, nonsense or synonymous: needs the reference codon
    length = _span_length(change.start, change.end) or 0
    net_change, inframe_class = {
        "del": (length, "inframe_deletion"),
        "dup": (length, "inframe_insertion"),
        "ins": (len(change.alt), "inframe_insertion"),
        "delins": (len(change.alt) - length, "inframe_delins"),
    }[change.kind]
    return inframe_class if net_change % 3 == 0 else "frameshift"


def _touches_splice_site(change: _CChange) -> bool:
    start, end = change.start, change.last
    if start.intronic != end.intronic:
        return True  # runs across an exon-intron boundary
    same_intron = (start.base == end.base and (start.offset > 0) == (end.offset > 0)) or (
        end.base == start.base + 1 and start.offset > 0 > end.offset
    )
    if not same_intron:
        return True  # removes at least one whole exon boundary
    return min(abs(start.offset), abs(end.offset)) <= _SPLICE_SITE_WINDOW


def _hits_start_codon(change: _CChange) -> bool:
    """Whether an exonic change alters the ATG at c.1-3."""
    if change.kind == "ins":
        return change.last.base <= 3  # inserted between two bases of the ATG
    if change.kind == "dup":
        return change.last.base <= 2  # the copy goes in after the range
    return change.start.base <= 3


# --- Reading the text -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entered:
    text: str
    transcript_key: str | None
    cdna: _CChange | None
    protein: _PChange | None
    protein_is_bare: bool  # a protein change typed without "p.", e.g. M712T
    notes: tuple[str, ...]


_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2212"), "-")
_TRANSCRIPT_RE = re.compile(
    r"(?P<accession>[A-Z]{2}_[0-9]+|ENS[A-Z]*[0-9]+|LRG_[0-9]+(?:t[0-9]+)?)"
    r"(?:\.(?P<version>[0-9]+))?"
    r"(?:\((?P<gene>[^()]*)\))?"
    r"(?::|\s+|$)",
    _FLAGS,
)
_GENE_PREFIX_RE = re.compile(r"GNE(?::|\s+)", _FLAGS)
_C_PART_RE = re.compile(r"c\.(?P<body>[^\s(),;/]+)", _FLAGS)
_OTHER_LEVEL_RE = re.compile(r"(?P<level>[gnrm])\.", _FLAGS)


def _normalise_text(text: str) -> str:
    text = re.sub(r"\s+", " ", text.translate(_DASHES)).strip()
    # Glue back what people space out: "NM_005476 : c. 2135 T > C".
    text = re.sub(r" ?([>_:]) ?", r"\1", text)
    text = re.sub(r"\b([cpgnrm])\. ", r"\1.", text, flags=_FLAGS)
    text = re.sub(r"(?<=[0-9]) (?=(?:[ACGT]>|del|dup|ins))", "", text, flags=_FLAGS)
    return re.sub(r"\( ?(.*?) ?\)", r"(\1)", text)


def _read(text: str, reference: _Reference) -> _Entered:
    if not isinstance(text, str):
        raise VariantError("A variant must be given as text.")
    if len(text) > _MAX_INPUT_LENGTH:
        raise VariantError(f"That is too long for one variant (over {_MAX_INPUT_LENGTH} characters).")
    normalised = _normalise_text(text)
    if not normalised:
        raise VariantError(f"Enter a GNE variant, {_EXAMPLES}.")
    transcript_key, notes, rest = _take_transcript(normalised, reference)
    if not rest:
        raise VariantError(f"{normalised} names a transcript but no change; add the c. or p. change.")
    cdna_body, protein_body, bare = _split_changes(rest, normalised)
    cdna = _parse_cdna(cdna_body) if cdna_body is not None else None
    protein = None
    if protein_body == "?":
        if cdna is None:
            raise VariantError("p.? (effect unknown) names no variant on its own; enter the c. change.")
    elif protein_body is not None:
        protein = _parse_bare_protein(protein_body, normalised) if bare else _parse_protein(protein_body)
    return _Entered(normalised, transcript_key, cdna, protein, bare and cdna is None, tuple(notes))


def _take_transcript(text: str, reference: _Reference) -> tuple[str | None, list[str], str]:
    """Strip a transcript (or "GNE") prefix; return the numbering it implies, notes and the rest."""
    match = _TRANSCRIPT_RE.match(text)
    if not match:
        gene = _GENE_PREFIX_RE.match(text)
        return None, [], text[gene.end() :].strip() if gene else text
    accession, version, gene = match["accession"].upper(), match["version"], match["gene"]
    if gene is not None and gene.strip().upper() != "GNE":
        raise VariantError(f"{match.group().rstrip(': ')} names gene {gene.strip()}; this registry records GNE only.")
    notes = []
    for transcript in (reference.current, reference.legacy):
        if accession != transcript.accession:
            continue
        if version and transcript.version and int(version) != transcript.version:
            notes.append(
                f"{accession}.{version} was given; its coding numbering is taken to be that of {transcript.label}."
            )
        return transcript.key, notes, text[match.end() :].strip()
    given = f"{accession}.{version}" if version else accession
    raise VariantError(
        f"{given} is not a GNE transcript this registry accepts: use {reference.current.label} "
        f"(current numbering) or {reference.legacy.label} (legacy numbering)."
    )


def _split_changes(rest: str, whole: str) -> tuple[str | None, str | None, bool]:
    """Split "c.X p.(Y)", "c.X (p.Y)", "c.X", "p.Y" or a bare "M712T" into (c. body, p. body, bare)."""
    other = _OTHER_LEVEL_RE.match(rest)
    if other:
        level = other["level"].lower()
        raise VariantError(
            f"{level}. descriptions are not accepted; enter the coding (c.) or protein (p.) change on "
            "NM_001128227.3 as the genetic report gives it."
        )
    cdna_body = None
    cdna = _C_PART_RE.match(rest)
    if cdna:
        cdna_body = cdna["body"]
        rest = rest[cdna.end() :].lstrip(" ,;/")
    if not rest:
        if cdna_body is None:
            raise _unrecognised(whole)
        return cdna_body, None, False
    if rest.startswith("(") and rest.endswith(")"):
        rest = rest[1:-1].strip()  # report style: c.2228T>C (p.Met743Thr)
    protein = _P_TEXT_RE.fullmatch(rest)
    if protein:
        return cdna_body, (protein["inner"] or protein["bare"]).strip(), False
    if rest[:2].lower() == "p." or re.search(r"[\s()]", rest):
        raise _unrecognised(whole)
    return cdna_body, rest, True


def _parse_bare_protein(body: str, whole: str) -> _PChange:
    try:
        return _parse_protein(body)
    except VariantError:
        raise _unrecognised(whole) from None


def _unrecognised(text: str) -> VariantError:
    return VariantError(f"'{text}' is not a GNE variant description this registry understands ({_EXAMPLES}).")


# --- Choosing the numbering -------------------------------------------------------------------


def _choose_numbering(entered: _Entered, requested: str, reference: _Reference) -> tuple[str, list[str]]:
    """Which numbering the text is in, and notes explaining any assumption."""
    if entered.transcript_key:
        if requested not in ("auto", entered.transcript_key):
            transcript = reference.transcript(entered.transcript_key)
            raise VariantError(
                f"{transcript.label} is the {entered.transcript_key} transcript, but {requested} numbering was "
                "chosen; remove the transcript or choose the matching numbering."
            )
        return entered.transcript_key, []
    if requested != "auto":
        return requested, []
    legacy_match = _catalogue_match(entered, reference, legacy=True)
    if legacy_match and not _catalogue_match(entered, reference, legacy=False):
        return "legacy", [
            f"No transcript was given; {_typed_name(entered)} is the legacy NM_005476 name of founder variant "
            f"{legacy_match.cdna} {legacy_match.protein}, so legacy numbering was assumed."
        ]
    if entered.protein_is_bare:
        raise VariantError(_ambiguous_short_form_message(entered, reference))
    return "current", [f"No transcript was given; current numbering ({reference.current.label}) was assumed."]


def _catalogue_match(entered: _Entered, reference: _Reference, *, legacy: bool) -> _CatalogueNames | None:
    cdna = str(entered.cdna) if entered.cdna else None
    protein = str(entered.protein) if entered.protein else None
    for names in reference.catalogue:
        known_cdna, known_protein = (names.legacy_cdna, names.legacy_protein) if legacy else (names.cdna, names.protein)
        if (cdna and cdna == known_cdna) or (protein and protein == known_protein):
            return names
    return None


def _typed_name(entered: _Entered) -> str:
    if entered.protein_is_bare and entered.protein:
        return _short_name(entered.protein) or str(entered.protein)
    return str(entered.cdna or entered.protein)


def _ambiguous_short_form_message(entered: _Entered, reference: _Reference) -> str:
    typed = entered.text
    message = (
        f"'{typed}' does not say which numbering it uses: papers before ~2014 used legacy "
        f"{reference.legacy.label} ({reference.legacy.protein_length} amino acids), "
        f"reports now use {reference.current.label} "
        f"({reference.current.protein_length} amino acids), and positions differ by {reference.aa_offset}. "
        f"Choose the numbering, or add the transcript: {reference.legacy.label}:p.{typed} (legacy) or "
        f"{reference.current.label}:p.{typed} (current)."
    )
    current_match = _catalogue_match(entered, reference, legacy=False)
    if current_match:
        message += f" In current numbering it would be founder variant {current_match.cdna} {current_match.protein}."
    return message


# --- Putting it together ----------------------------------------------------------------------


def parse_variant(text: str, *, numbering: str = "auto") -> ParsedVariant:
    """Read one GNE variant as typed and return it in current numbering with its legacy names.

    numbering: "auto" (transcript prefix, else catalogue legacy names, else current),
    "current" or "legacy". Raises VariantError, with a message for the person typing,
    for anything that is not a valid GNE variant.
    """
    if numbering not in NUMBERINGS:
        raise VariantError(f"numbering must be one of {', '.join(NUMBERINGS)}, not {numbering!r}.")
    reference = _reference()
    entered = _read(text, reference)
    numbering_entered, notes = _choose_numbering(entered, numbering, reference)
    transcript = reference.transcript(numbering_entered)
    cdna, protein = entered.cdna, entered.protein
    if cdna:
        _check_cdna_range(cdna, transcript)
    if protein:
        _check_protein_range(protein, transcript)
    if cdna and protein:
        _check_codons_agree(cdna, protein)
    if numbering_entered == "legacy":
        notes.append(_conversion_note(entered, reference))
        cdna = cdna.shifted(reference.nt_offset) if cdna else None
        protein = protein.shifted(reference.aa_offset) if protein else None
    return _describe(cdna, protein, numbering_entered, [*entered.notes, *notes], reference)


def _conversion_note(entered: _Entered, reference: _Reference) -> str:
    legacy_name = (_short_name(entered.protein) if entered.protein else "") or str(entered.cdna or entered.protein)
    amounts = f"+{reference.aa_offset} amino acids"
    if entered.cdna:
        amounts = f"+{reference.nt_offset} nucleotides, {amounts}"
    return f"Entered in legacy NM_005476 numbering ({legacy_name}); converted to current numbering ({amounts})."


def _describe(
    cdna: _CChange | None,
    protein: _PChange | None,
    numbering_entered: str,
    notes: list[str],
    reference: _Reference,
) -> ParsedVariant:
    """Derive legacy names, class, position, domain and catalogue entry for a current-numbered change."""
    names = _catalogue_names_for(cdna, protein, reference)
    if names and protein is None:
        # The catalogue knows the protein change of a founder c. change; nothing else here can.
        protein = _parse_protein_text(names.protein)
        notes.append(f"Protein change {names.protein} taken from the founder catalogue.")
    legacy_cdna = cdna.shifted(-reference.nt_offset) if cdna else None
    legacy_protein = protein.shifted(-reference.aa_offset) if protein else None
    position = _protein_position(cdna, protein)
    if protein and legacy_protein is None:
        notes.append(
            f"Codon {protein.pos} lies in the {reference.aa_offset} N-terminal amino acids that legacy "
            "NM_005476 lacks, so there is no legacy name."
        )
    variant_class = _variant_class(cdna, protein)
    if variant_class == "unknown" and cdna and cdna.kind == "sub" and not protein:
        notes.append(
            "No protein change was given and no reference sequence is shipped, so the class cannot be derived; "
            "add the p. change from the report."
        )
    domain_codon = position or (cdna.start.codon if cdna else None)
    entry = names.entry if names else None
    if entry:
        notes.append(_catalogue_note(entry))
    return ParsedVariant(
        cdna=str(cdna) if cdna else "",
        protein=str(protein) if protein else "",
        legacy_cdna=str(legacy_cdna) if legacy_cdna else "",
        legacy_protein=str(legacy_protein) if legacy_protein else "",
        legacy_short=_short_name(legacy_protein) if legacy_protein else "",
        protein_position=position,
        variant_class=variant_class,
        protein_domain=protein_domain_for(domain_codon) if domain_codon else "unknown",
        numbering_entered=numbering_entered,
        notes=tuple(notes),
        catalogue_entry=copy.deepcopy(entry) if entry else None,
    )


def _protein_position(cdna: _CChange | None, protein: _PChange | None) -> int | None:
    """First affected codon: from the p. change, else from the first exonic end of the c. change."""
    if protein:
        return protein.pos
    if cdna is None:
        return None
    for position in (cdna.start, cdna.last):
        if not position.intronic:
            return position.codon
    return None  # wholly intronic: no codon is changed directly


def _catalogue_names_for(
    cdna: _CChange | None, protein: _PChange | None, reference: _Reference
) -> _CatalogueNames | None:
    # With a c. change, only the same nucleotide change is the founder allele; another change
    # giving the same amino acid is a different variant.
    for names in reference.catalogue:
        if (cdna and str(cdna) == names.cdna) or (not cdna and protein and str(protein) == names.protein):
            return names
    return None


def _catalogue_note(entry: dict) -> str:
    label = entry.get("legacy_short") or entry["cdna"]
    populations = ", ".join(entry.get("populations") or []) or "population unverified"
    if entry.get("founder_status") == "established":
        return f"Catalogued founder variant {label} ({populations})."
    return f"Catalogued variant {label} ({populations}); founder status unverified."
