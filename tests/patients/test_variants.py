"""patients.variants: reading GNE variants in either numbering (docs/gne-variants.md, "Two numbering
systems", validation rule 4). Pure Python: no database, no Django settings needed."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patients import variants
from patients.variants import (
    VARIANT_CLASSES,
    ParsedVariant,
    ReferenceDataError,
    VariantError,
    founder_catalogue,
    gne_reference,
    parse_variant,
    protein_domain_for,
)

# current cDNA, current protein, legacy cDNA, legacy protein, legacy short, domain
FOUNDERS = [
    ("c.2228T>C", "p.(Met743Thr)", "c.2135T>C", "p.(Met712Thr)", "M712T", "kinase"),
    ("c.1807G>C", "p.(Val603Leu)", "c.1714G>C", "p.(Val572Leu)", "V572L", "kinase"),
    ("c.620A>T", "p.(Asp207Val)", "c.527A>T", "p.(Asp176Val)", "D176V", "epimerase"),
    ("c.1985C>T", "p.(Ala662Val)", "c.1892C>T", "p.(Ala631Val)", "A631V", "kinase"),
    ("c.1225G>T", "p.(Asp409Tyr)", "c.1132G>T", "p.(Asp378Tyr)", "D378Y", "epimerase"),
    ("c.169_170delinsTT", "p.(Ala57Phe)", "c.76_77delinsTT", "p.(Ala26Phe)", "A26F", "epimerase"),
    ("c.2179G>A", "p.(Val727Met)", "c.2086G>A", "p.(Val696Met)", "V696M", "kinase"),
    ("c.1853T>C", "p.(Ile618Thr)", "c.1760T>C", "p.(Ile587Thr)", "I587T", "kinase"),
]
FOUNDER_IDS = [founder[4] for founder in FOUNDERS]


def error_for(text: str, **kwargs) -> str:
    with pytest.raises(VariantError) as excinfo:
        parse_variant(text, **kwargs)
    return str(excinfo.value)


# --- Founder variants, both ways --------------------------------------------------------------


@pytest.mark.parametrize(
    ("cdna", "protein", "legacy_cdna", "legacy_protein", "short", "domain"), FOUNDERS, ids=FOUNDER_IDS
)
def test_founder_current_name_gives_legacy_names(cdna, protein, legacy_cdna, legacy_protein, short, domain):
    parsed = parse_variant(f"{cdna} {protein}")

    assert (parsed.cdna, parsed.protein) == (cdna, protein)
    assert (parsed.legacy_cdna, parsed.legacy_protein, parsed.legacy_short) == (legacy_cdna, legacy_protein, short)
    assert parsed.numbering_entered == "current"
    assert parsed.variant_class == "missense"
    assert parsed.protein_domain == domain
    assert parsed.catalogue_entry is not None
    assert parsed.catalogue_entry["cdna"] == cdna


@pytest.mark.parametrize(
    ("cdna", "protein", "legacy_cdna", "legacy_protein", "short", "domain"), FOUNDERS, ids=FOUNDER_IDS
)
def test_founder_legacy_short_form_is_recognised_and_converted(
    cdna, protein, legacy_cdna, legacy_protein, short, domain
):
    parsed = parse_variant(short)

    assert parsed.numbering_entered == "legacy"
    assert parsed.protein == protein
    assert parsed.legacy_short == short
    assert parsed.protein_position == int(protein[6:-4])
    assert parsed.catalogue_entry["legacy_short"] == short
    assert any("legacy" in note and "+31 amino acids" in note for note in parsed.notes)


@pytest.mark.parametrize(
    ("cdna", "protein", "legacy_cdna", "legacy_protein", "short", "domain"), FOUNDERS, ids=FOUNDER_IDS
)
def test_founder_legacy_hgvs_without_transcript_is_recognised(
    cdna, protein, legacy_cdna, legacy_protein, short, domain
):
    by_cdna = parse_variant(legacy_cdna)
    by_protein = parse_variant(legacy_protein)

    assert by_cdna.numbering_entered == by_protein.numbering_entered == "legacy"
    assert by_cdna.cdna == cdna
    # The catalogue supplies the protein change a c. name alone cannot.
    assert by_cdna.protein == by_protein.protein == protein
    assert by_cdna.legacy_cdna == legacy_cdna
    assert any("+93 nucleotides" in note for note in by_cdna.notes)


@pytest.mark.parametrize(
    ("cdna", "protein", "legacy_cdna", "legacy_protein", "short", "domain"), FOUNDERS, ids=FOUNDER_IDS
)
def test_founder_with_legacy_transcript(cdna, protein, legacy_cdna, legacy_protein, short, domain):
    parsed = parse_variant(f"NM_005476.6:{legacy_cdna} {legacy_protein}")

    assert (parsed.cdna, parsed.protein, parsed.legacy_short) == (cdna, protein, short)
    assert parsed.numbering_entered == "legacy"


def test_founder_catalogue_lists_every_entry_parsed():
    catalogue = founder_catalogue()

    assert [(v.cdna, v.protein, v.legacy_short) for v in catalogue] == [
        (cdna, protein, short) for cdna, protein, _, _, short, _ in FOUNDERS
    ]
    assert all(isinstance(v, ParsedVariant) and v.catalogue_entry for v in catalogue)
    statuses = {v.legacy_short: v.catalogue_entry["founder_status"] for v in catalogue}
    assert statuses["V696M"] == statuses["I587T"] == "unverified"
    assert {statuses[s] for s in ("M712T", "V572L", "D176V", "A631V", "D378Y", "A26F")} == {"established"}


def test_catalogue_entry_is_a_copy():
    parse_variant("M712T").catalogue_entry["populations"].append("changed")

    assert "changed" not in parse_variant("M712T").catalogue_entry["populations"]


def test_catalogue_match_needs_the_same_nucleotide_change():
    # Another base change at the codon is not the founder allele.
    assert parse_variant("c.2228T>G").catalogue_entry is None
    assert parse_variant("p.(Met743Thr)").catalogue_entry is not None


# --- Accepted spellings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "c.2228T>C p.(Met743Thr)",
        "c.2228T>C (p.Met743Thr)",
        "c.2228T>C, p.Met743Thr",
        "c.2228T>C p.M743T",
        "c.2228T>C (M743T)",
        "NM_001128227.3:c.2228T>C p.M743T",
        "NM_001128227:c.2228T>C p.(Met743Thr)",
        "NM_001128227.3(GNE):c.2228T>C (p.Met743Thr)",
        "GNE:c.2228T>C p.(Met743Thr)",
        "  nm_001128227.3 : C.2228t>c   P.(MET743THR) ",
        "c. 2228 T > C p.( Met743Thr )",
    ],
)
def test_report_style_pairs_and_prefixes(text):
    parsed = parse_variant(text)

    assert (parsed.cdna, parsed.protein, parsed.legacy_short) == ("c.2228T>C", "p.(Met743Thr)", "M712T")
    assert parsed.numbering_entered == "current"


@pytest.mark.parametrize("prefix", ["NM_005476.6:", "NM_005476:", "nm_005476.5 "])
def test_legacy_transcript_prefixes(prefix):
    parsed = parse_variant(f"{prefix}c.2135T>C p.(Met712Thr)")

    assert (parsed.cdna, parsed.protein, parsed.numbering_entered) == ("c.2228T>C", "p.(Met743Thr)", "legacy")


def test_other_version_of_current_transcript_is_accepted_with_a_note():
    parsed = parse_variant("NM_001128227.2:c.2228T>C")

    assert parsed.cdna == "c.2228T>C"
    assert any("NM_001128227.2" in note for note in parsed.notes)


@pytest.mark.parametrize(
    ("text", "protein"),
    [
        ("p.Met743Thr", "p.(Met743Thr)"),
        ("p.(Met743Thr)", "p.(Met743Thr)"),
        ("p.M743T", "p.(Met743Thr)"),
        ("p.Met743Ter", "p.(Met743Ter)"),
        ("p.Met743*", "p.(Met743Ter)"),
        ("p.M743*", "p.(Met743Ter)"),
        ("p.M743X", "p.(Met743Ter)"),
        ("p.(Met743=)", "p.(Met743=)"),
        ("p.Met743Met", "p.(Met743=)"),
        ("p.(Arg8Glyfs*2)", "p.(Arg8GlyfsTer2)"),
        ("p.R8Gfs*2", "p.(Arg8GlyfsTer2)"),
        ("p.Arg8fs", "p.(Arg8fs)"),
        ("p.Lys10del", "p.(Lys10del)"),
        ("p.K10_A12del", "p.(Lys10_Ala12del)"),
        ("p.Lys10dup", "p.(Lys10dup)"),
        ("p.Lys10_Ala11insGlyPro", "p.(Lys10_Ala11insGlyPro)"),
        ("p.Cys28_Lys29delinsTrp", "p.(Cys28_Lys29delinsTrp)"),
        ("p.Ala57delinsPhe", "p.(Ala57Phe)"),
        ("p.Met1?", "p.(Met1?)"),
        ("p.*754Glnext*17", "p.(Ter754GlnextTer17)"),
        ("p.Ter754Gln", "p.(Ter754GlnextTer?)"),
    ],
)
def test_protein_spellings_are_normalised_to_three_letters_in_parentheses(text, protein):
    assert parse_variant(text).protein == protein


@pytest.mark.parametrize(
    ("text", "cdna"),
    [
        ("c.1234del", "c.1234del"),
        ("c.1234delA", "c.1234del"),
        ("c.1234_1236del", "c.1234_1236del"),
        ("c.1234_1236delAGT", "c.1234_1236del"),
        ("c.1234dup", "c.1234dup"),
        ("c.1234_1235dupTG", "c.1234_1235dup"),
        ("c.12_13insa", "c.12_13insA"),
        ("c.169_170delinstt", "c.169_170delinsTT"),
        ("c.169_170delGCinsTT", "c.169_170delinsTT"),
        ("c.1234+1G>A", "c.1234+1G>A"),
        ("c.1235-2A>G", "c.1235-2A>G"),
        ("c.1235\u22122A>G", "c.1235-2A>G"),  # a minus sign pasted from a PDF report
    ],
)
def test_cdna_spellings_are_normalised(text, cdna):
    assert parse_variant(text).cdna == cdna


def test_name_is_cdna_when_known_else_protein():
    assert parse_variant("c.2228T>C p.(Met743Thr)").name == "c.2228T>C"
    assert parse_variant("p.Arg100Trp").name == "p.(Arg100Trp)"


# --- Numbering: detection and conversion ------------------------------------------------------


def test_bare_short_form_not_in_catalogue_asks_for_the_numbering():
    message = error_for("R246W")

    assert "numbering" in message
    assert "NM_005476" in message and "NM_001128227.3" in message


def test_bare_current_founder_name_is_not_guessed():
    # M743T is the founder's *current* name; a bare short form is the legacy convention, so ask.
    message = error_for("M743T")

    assert "numbering" in message
    assert "c.2228T>C" in message


@pytest.mark.parametrize(("numbering", "protein"), [("legacy", "p.(Arg277Trp)"), ("current", "p.(Arg246Trp)")])
def test_stated_numbering_resolves_a_bare_short_form(numbering, protein):
    parsed = parse_variant("R246W", numbering=numbering)

    assert parsed.protein == protein
    assert parsed.numbering_entered == numbering


def test_hgvs_without_transcript_is_current_and_says_so():
    parsed = parse_variant("p.Arg246Trp")

    assert parsed.protein == "p.(Arg246Trp)"
    assert parsed.legacy_protein == "p.(Arg215Trp)"
    assert parsed.numbering_entered == "current"
    assert any("current numbering" in note and "assumed" in note for note in parsed.notes)


def test_forced_legacy_numbering_converts():
    parsed = parse_variant("c.2135T>C p.(Met712Thr)", numbering="legacy")

    assert (parsed.cdna, parsed.protein, parsed.numbering_entered) == ("c.2228T>C", "p.(Met743Thr)", "legacy")


def test_forced_current_numbering_keeps_a_legacy_looking_name_as_typed():
    parsed = parse_variant("p.Met712Thr", numbering="current")

    assert parsed.protein == "p.(Met712Thr)"
    assert parsed.legacy_protein == "p.(Met681Thr)"
    assert parsed.catalogue_entry is None


def test_transcript_contradicting_the_chosen_numbering_is_refused():
    message = error_for("NM_005476:p.Met712Thr", numbering="current")

    assert "NM_005476" in message and "current" in message


def test_unknown_numbering_argument_is_refused():
    assert "numbering" in error_for("c.2228T>C", numbering="hg19")


def test_first_31_current_codons_have_no_legacy_name():
    parsed = parse_variant("p.(Ala20Val)")

    assert (parsed.legacy_protein, parsed.legacy_short) == ("", "")
    assert any("no legacy name" in note for note in parsed.notes)


def test_ala57phe_has_computed_legacy_codon_26():
    parsed = parse_variant("c.169_170delinsTT p.(Ala57Phe)")

    assert (parsed.legacy_cdna, parsed.legacy_protein, parsed.legacy_short) == (
        "c.76_77delinsTT",
        "p.(Ala26Phe)",
        "A26F",
    )
    assert parsed.catalogue_entry["populations"] == ["Russian Mari"]


@pytest.mark.parametrize(("cdna", "legacy"), [("c.93G>A", ""), ("c.94A>G", "c.1A>G"), ("c.90_95del", "")])
def test_cdna_legacy_name_boundary(cdna, legacy):
    assert parse_variant(cdna).legacy_cdna == legacy


def test_legacy_intronic_offsets_are_kept():
    parsed = parse_variant("NM_005476:c.2135+1G>A")

    assert parsed.cdna == "c.2228+1G>A"
    assert parsed.legacy_cdna == "c.2135+1G>A"
    assert parsed.variant_class == "splice"


def test_current_intronic_gets_legacy_name():
    parsed = parse_variant("c.1235-2A>G")

    assert parsed.legacy_cdna == "c.1142-2A>G"
    assert parsed.protein_position is None
    assert parsed.protein_domain == "epimerase"  # from the neighbouring codon


def test_legacy_start_codon_is_current_met32():
    parsed = parse_variant("NM_005476:p.Met1?")

    assert parsed.protein == "p.(Met32?)"
    assert parse_variant(parsed.protein, numbering="current").legacy_protein == "p.(Met1?)"
    assert parse_variant("NM_005476:p.M1V").legacy_short == "M1V"


def test_legacy_stop_codon_converts():
    parsed = parse_variant("NM_005476:p.Ter723Gln")

    assert parsed.protein == "p.(Ter754GlnextTer?)"
    assert parsed.variant_class == "stop_loss"


# --- Refusals ---------------------------------------------------------------------------------


def test_protein_position_beyond_current_length():
    assert "position 800 is beyond GNE's 753 amino acids" in error_for("p.Met800Thr")


def test_protein_position_beyond_legacy_length():
    message = error_for("NM_005476:p.Met743Thr")

    assert "743" in message and "722" in message


def test_cdna_position_beyond_current_coding_sequence():
    assert "c.2300 is beyond the 2262-nucleotide coding sequence of NM_001128227.3" in error_for("c.2300A>G")


def test_cdna_position_beyond_legacy_coding_sequence():
    message = error_for("c.2200A>G", numbering="legacy")

    assert "c.2200" in message and "2169" in message


def test_stop_codon_is_754_not_753():
    assert "754" in error_for("p.Ter753Gln")
    assert "754" in error_for("p.Leu754Pro")


@pytest.mark.parametrize("text", ["c.-12A>G", "c.*5del", "c.-12", "c.2260_*2del"])
def test_utr_positions_are_refused(text):
    assert "outside the coding sequence" in error_for(text)


def test_cdna_and_protein_codons_must_agree():
    assert error_for("c.2228T>C p.(Val603Leu)") == ("c.2228 lies in codon 743 but the protein change names codon 603.")


def test_indel_codon_may_differ_slightly_for_three_prime_shifting():
    parsed = parse_variant("c.1234del p.(Arg413GlyfsTer5)")

    assert parsed.protein_position == 413
    assert "codon 412" in error_for("c.1234del p.(Arg420GlyfsTer5)")


def test_unknown_transcript_is_named_with_the_accepted_ones():
    message = error_for("NM_001190388.1:c.1A>G")

    assert "NM_001190388.1" in message
    assert "NM_001128227.3" in message and "NM_005476" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "Enter a GNE variant"),
        ("   ", "Enter a GNE variant"),
        ("hello", "not a GNE variant"),
        ("c.2228T>T", "itself"),
        ("c.1236_1234del", "lower to the higher"),
        ("c.12_14insA", "neighbouring"),
        ("c.1234_1236delAG", "names 2 bases"),
        ("c.0A>G", "c.0"),
        ("c.1234+0G>A", "offset"),
        ("g.12345A>G", "g. descriptions"),
        ("NM_001128227.3(DMD):c.2228T>C", "GNE only"),
        ("NM_001128227.3", "no change"),
        ("p.?", "c. change"),
        ("p.Val1Met", "Met1"),
        ("p.Ala32Val", "Met32"),  # the legacy start codon
        ("NM_005476:p.Ala1Val", "Met1"),
        ("p.Arg8?", "start codon"),
        ("p.Lys10_Ala12insGly", "neighbouring"),
        ("p.Met743Thr p.Val603Leu", "understands"),
        ("x" * 300, "too long"),
    ],
)
def test_malformed_input_is_explained(text, fragment):
    assert fragment in error_for(text)


def test_non_string_input_is_a_variant_error():
    with pytest.raises(VariantError):
        parse_variant(None)  # type: ignore[arg-type]


# --- Variant class ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "variant_class"),
    [
        ("p.Arg246Trp", "missense"),
        ("c.169_170delinsTT p.(Ala57Phe)", "missense"),
        ("p.Arg246Ter", "nonsense"),
        ("p.Arg246*", "nonsense"),
        ("p.Cys28_Lys29delinsTer", "nonsense"),
        ("p.(Arg246=)", "synonymous"),
        ("p.Arg8Glyfs*2", "frameshift"),
        ("c.1234del", "frameshift"),
        ("c.1234_1235dup", "frameshift"),
        ("c.12_13insAT", "frameshift"),
        ("c.169_170delinsT", "frameshift"),
        ("p.Lys10del", "inframe_deletion"),
        ("c.1234_1236del", "inframe_deletion"),
        ("p.Lys10dup", "inframe_insertion"),
        ("p.Lys10_Ala11insGly", "inframe_insertion"),
        ("c.1234_1236dup", "inframe_insertion"),
        ("c.12_13insATG", "inframe_insertion"),
        ("p.Cys28_Lys29delinsTrp", "inframe_delins"),
        ("c.169_171delinsTTTAAA", "inframe_delins"),
        ("p.Met1?", "start_loss"),
        ("p.Met1Val", "start_loss"),
        ("c.1A>G", "start_loss"),
        ("c.3G>A", "start_loss"),
        ("c.2_3insT", "start_loss"),
        ("p.Ter754Gln", "stop_loss"),
        ("p.*754Glnext*17", "stop_loss"),
        ("c.1234+1G>A", "splice"),
        ("c.1235-2A>G", "splice"),
        ("c.1234+2_1234+8del", "splice"),
        ("c.1234_1234+3del", "splice"),
        ("c.1234+1G>A p.?", "splice"),
        ("c.1234+5G>A", "intronic"),
        ("c.1235-10_1235-4del", "intronic"),
        ("c.1234+10G>A", "intronic"),
        ("c.1234A>G", "unknown"),
        ("c.2261A>G", "unknown"),  # in the stop codon: TAA>TGA would be synonymous
    ],
)
def test_variant_class(text, variant_class):
    parsed = parse_variant(text)

    assert parsed.variant_class == variant_class
    assert parsed.variant_class in VARIANT_CLASSES


def test_unknown_class_explains_what_is_missing():
    parsed = parse_variant("c.1234A>G")

    assert parsed.protein == ""
    assert parsed.protein_position == 412
    assert any("add the p. change" in note for note in parsed.notes)


def test_every_class_is_reachable():
    texts = ["p.R246W", "p.R246*", "p.R246=", "p.R8fs", "p.K10del", "p.K10dup", "p.C28_K29delinsW", "p.M1?"]
    texts += ["p.Ter754Gln", "c.1234+1G>A", "c.1234+10G>A", "c.1234A>G", "p.K10_A11insG"]

    assert {parse_variant(text).variant_class for text in texts} == set(VARIANT_CLASSES)


# --- Protein domain ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("c.620A>T p.(Asp207Val)", "epimerase"),
        ("p.Gly430Ser", "interdomain"),
        ("c.2228T>C p.(Met743Thr)", "kinase"),
        ("p.Ter754Gln", "unknown"),
    ],
)
def test_domain_of_variant(text, domain):
    assert parse_variant(text).protein_domain == domain


@pytest.mark.parametrize(
    ("position", "domain"),
    [(1, "epimerase"), (413, "epimerase"), (414, "interdomain"), (440, "interdomain"), (441, "kinase")]
    + [(753, "kinase"), (754, "unknown"), (0, "unknown")],
)
def test_protein_domain_for_boundaries(position, domain):
    assert protein_domain_for(position) == domain


# --- Reference data ---------------------------------------------------------------------------


def test_reference_data_values():
    reference = gne_reference()

    assert reference["transcripts"]["current"]["accession"] == "NM_001128227"
    assert reference["transcripts"]["current"]["version"] == 3
    assert reference["transcripts"]["current"]["protein_length"] == 753
    assert reference["transcripts"]["current"]["coding_length"] == 2262
    assert reference["transcripts"]["legacy"]["protein_length"] == 722
    assert reference["legacy_offset"] == {**reference["legacy_offset"], "amino_acids": 31, "nucleotides": 93}
    assert reference["identifiers"] == {
        "omim_phenotype": "OMIM:605820",
        "omim_gene": "OMIM:603824",
        "mondo": "MONDO:0011603",
    }
    assert "approximate" in reference["domains"]["note"].lower()
    entries = reference["founder_variants"]
    assert all(
        set(entry) == {"cdna", "protein", "legacy_short", "populations", "founder_status", "note"} for entry in entries
    )


def test_gne_reference_returns_a_copy():
    gne_reference()["founder_variants"].clear()

    assert len(gne_reference()["founder_variants"]) == len(FOUNDERS)


def test_reference_without_django_settings_is_the_shipped_file():
    assert variants._reference_path() == variants._DEFAULT_REFERENCE_PATH


def _write_reference(tmp_path, change) -> str:
    data = gne_reference()
    change(data)
    path = tmp_path / "reference.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_domains_are_configurable(tmp_path, monkeypatch):
    def kinase_from_400(data):
        data["domains"]["regions"] = [
            {"name": "epimerase", "start": 1, "end": 399},
            {"name": "kinase", "start": 400, "end": 753},
        ]

    path = _write_reference(tmp_path, kinase_from_400)
    monkeypatch.setattr(variants, "_reference_path", lambda: path)

    assert protein_domain_for(420) == "kinase"
    assert parse_variant("p.Gly430Ser").protein_domain == "kinase"


def test_inconsistent_reference_data_fails_loudly(tmp_path, monkeypatch):
    def wrong_short_name(data):
        data["founder_variants"][0]["legacy_short"] = "M743T"

    path = _write_reference(tmp_path, wrong_short_name)
    monkeypatch.setattr(variants, "_reference_path", lambda: path)

    with pytest.raises(ReferenceDataError, match="M712T"):
        parse_variant("c.2228T>C")


# --- Properties -------------------------------------------------------------------------------

FRAGMENTS = [
    "c.",
    "p.",
    "(",
    ")",
    " ",
    "_",
    "+",
    "-",
    "*",
    ">",
    "=",
    "?",
    ":",
    "del",
    "ins",
    "dup",
    "delins",
    "fs",
    "ext",
    "Ter",
    "Met",
    "Ala",
    "X",
    "A",
    "G",
    "T",
    "M",
    "NM_005476",
    "NM_001128227.3",
    "GNE",
    "0",
    "1",
    "2",
    "31",
    "93",
    "743",
    "754",
    "2262",
    "\u212a",  # Kelvin sign: case-folds to "k" in non-ASCII regexes
    "\u0663",  # Arabic-Indic digit three
]


def _check_total(text: str, numbering: str) -> None:
    try:
        parsed = parse_variant(text, numbering=numbering)
    except VariantError as error:
        assert str(error)
    else:
        assert isinstance(parsed, ParsedVariant)
        assert parsed.variant_class in VARIANT_CLASSES
        assert parsed.name


@given(st.text(max_size=250), st.sampled_from(variants.NUMBERINGS))
@settings(max_examples=300, deadline=None)
def test_any_text_gives_a_variant_or_a_variant_error(text, numbering):
    _check_total(text, numbering)


@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join), st.sampled_from(variants.NUMBERINGS))
@settings(max_examples=500, deadline=None)
def test_variant_like_text_gives_a_variant_or_a_variant_error(text, numbering):
    _check_total(text, numbering)


AMINO_ACIDS = ["Ala", "Arg", "Asn", "Asp", "Cys", "Gln", "Glu", "Gly", "His", "Ile"]
AMINO_ACIDS += ["Leu", "Lys", "Met", "Phe", "Pro", "Ser", "Thr", "Trp", "Tyr", "Val"]


@given(
    position=st.integers(min_value=33, max_value=753),
    residues=st.lists(st.sampled_from(AMINO_ACIDS), min_size=2, max_size=2, unique=True),
)
@settings(deadline=None)
def test_missense_round_trips_through_legacy_numbering(position, residues):
    ref, alt = residues
    current = parse_variant(f"NM_001128227.3:p.{ref}{position}{alt}")

    back = parse_variant(current.legacy_protein, numbering="legacy")

    assert current.legacy_protein == f"p.({ref}{position - 31}{alt})"
    assert back.protein == current.protein == f"p.({ref}{position}{alt})"


@given(
    position=st.integers(min_value=94, max_value=2262),
    bases=st.lists(st.sampled_from("ACGT"), min_size=2, max_size=2, unique=True),
    offset=st.sampled_from(["", "+1", "-2", "+15"]),
)
@settings(deadline=None)
def test_cdna_round_trips_through_legacy_numbering(position, bases, offset):
    ref, alt = bases
    current = parse_variant(f"NM_001128227.3:c.{position}{offset}{ref}>{alt}")

    back = parse_variant(current.legacy_cdna, numbering="legacy")

    assert back.cdna == current.cdna == f"c.{position}{offset}{ref}>{alt}"
