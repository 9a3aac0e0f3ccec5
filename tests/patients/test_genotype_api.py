"""Genotypes through the API: either numbering accepted, current stored, both shown."""

import pytest

from patients.models import Genotype, Variant
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _post(client, patient, **alleles):
    return client.post("/api/v1/genotypes/", {"patient": str(patient.uuid), **alleles}, format="json")


def test_legacy_name_is_converted_stored_current_and_shown_both_ways(staff_client):
    patient = PatientFactory()

    response = _post(staff_client, patient, allele1="M712T", allele2="c.2228T>C")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["zygosity"] == "homozygous"  # the same variant under its two names
    allele = body["allele1"]
    assert (allele["cdna"], allele["protein"]) == ("", "p.(Met743Thr)")
    assert (allele["legacy_protein"], allele["legacy_short"]) == ("p.(Met712Thr)", "M712T")
    full = body["allele2"]
    assert (full["cdna"], full["legacy_cdna"], full["protein"]) == ("c.2228T>C", "c.2135T>C", "p.(Met743Thr)")
    assert (allele["variant_class"], allele["protein_domain"], allele["is_founder"]) == ("missense", "kinase", True)
    assert body["allele1_entered_as"] == "M712T" and body["allele1_entered_numbering"] == "legacy"
    assert any("legacy" in note.lower() for note in body["notes"])
    stored = Genotype.objects.get(patient=patient)
    # What each report said is stored as said: "M712T" names the protein change only.
    assert (stored.allele1.name, stored.allele2.name) == ("p.(Met743Thr)", "c.2228T>C")
    assert Variant.objects.filter(protein="p.(Met743Thr)").count() == 2


def test_compound_heterozygous_across_domains(staff_client):
    patient = PatientFactory()

    response = _post(
        staff_client,
        patient,
        allele1="NM_005476.6:c.1714G>C",
        allele1_numbering="auto",
        allele2="c.620A>T p.(Asp207Val)",
        allele1_acmg_class="pathogenic",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["zygosity"] == "compound_heterozygous"
    assert body["allele1"]["protein"] == "p.(Val603Leu)" and body["allele1"]["legacy_short"] == "V572L"
    assert {body["allele1"]["protein_domain"], body["allele2"]["protein_domain"]} == {"kinase", "epimerase"}
    assert body["allele1_acmg_class"] == "pathogenic"


def test_second_allele_not_found(staff_client):
    response = _post(staff_client, PatientFactory(), allele1="p.(Asp409Tyr)", second_allele_not_found=True)
    assert response.status_code == 201, response.json()
    assert response.json()["zygosity"] == "single_variant" and response.json()["allele2"] is None


@pytest.mark.parametrize(
    ("alleles", "field", "words"),
    [
        ({"allele1": "p.(Met800Thr)", "allele2": "M712T"}, "allele1", "position 800 is beyond GNE's 753 amino acids"),
        ({"allele1": "c.2228T>C", "allele2": "c.2300A>G"}, "allele2", "2262"),
        ({"allele1": "NM_000000.1:c.2228T>C", "allele2": "M712T"}, "allele1", "NM_000000"),
        ({"allele1": "c.2228T>C"}, "allele2", "second"),
        ({"allele1": "c.2228T>C", "allele2": "M712T", "second_allele_not_found": True}, "second_allele_not_found", ""),
        ({"allele1": "Q123R", "allele2": "M712T"}, "allele1", "numbering"),
        ({"allele1": "c.2228T>C p.(Val603Leu)", "allele2": "M712T"}, "allele1", "codon"),
    ],
)
def test_wrong_variants_get_a_message_that_says_what_is_wrong(staff_client, alleles, field, words):
    patient = PatientFactory()

    response = _post(staff_client, patient, **alleles)

    assert response.status_code == 400, response.json()
    messages = response.json()["error"]["fields"][field]
    assert words.lower() in " ".join(messages).lower(), messages
    assert not Genotype.objects.filter(patient=patient).exists()


def test_update_replaces_an_allele_and_rederives_zygosity(staff_client):
    patient = PatientFactory()
    created = _post(staff_client, patient, allele1="V572L", allele2="V572L")
    assert created.json()["zygosity"] == "homozygous"

    updated = staff_client.patch(
        f"/api/v1/genotypes/{created.json()['id']}/", {"allele2": "D176V"}, format="json", HTTP_IF_MATCH=created["ETag"]
    )

    assert updated.status_code == 200, updated.json()
    assert updated.json()["zygosity"] == "compound_heterozygous"
    assert updated.json()["allele2"]["protein"] == "p.(Asp207Val)"
    assert Genotype.objects.get(patient=patient).allele2.name == "p.(Asp207Val)"  # the report gave no c. change


def test_genotype_filter_by_variant_in_either_numbering(staff_client):
    _post(staff_client, PatientFactory(), allele1="M712T", allele2="M712T")
    _post(staff_client, PatientFactory(), allele1="V572L", allele2="D176V")

    by_current = staff_client.get("/api/v1/genotypes/?variant=c.620A>T").json()["results"]
    by_legacy = staff_client.get("/api/v1/genotypes/?variant=M712T").json()["results"]
    nonsense = staff_client.get("/api/v1/genotypes/?variant=p.(Met999Thr)")

    assert [row["allele2"]["legacy_short"] for row in by_current] == ["D176V"]
    assert [row["zygosity"] for row in by_legacy] == ["homozygous"]
    assert nonsense.status_code == 400 and "variant" in nonsense.json()["error"]["fields"]


def test_variant_checker_and_catalogue(staff_client):
    parsed = staff_client.post("/api/v1/variants/parse/", {"text": "p.Val572Leu"}, format="json").json()
    catalogue = staff_client.get("/api/v1/variants/").json()
    bad = staff_client.post("/api/v1/variants/parse/", {"text": "p.(Met800Thr)"}, format="json")

    assert (parsed["protein"], parsed["numbering_entered"], parsed["is_founder"]) == ("p.(Val603Leu)", "legacy", True)
    assert {"M712T", "V572L", "D176V", "A631V", "D378Y"} <= {row["legacy_short"] for row in catalogue}
    assert bad.status_code == 400 and "800" in bad.json()["error"]["fields"]["text"][0]
