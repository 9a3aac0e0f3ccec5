"""Zygosity is derived from the two alleles: homozygous only when both name one variant.

Two different DNA changes can give the same protein change (GTG -> CTG and GTG -> TTG are both
p.(Val603Leu)); that patient carries two different variants, so is compound heterozygous. A report
that gives only the protein change (M712T) does match a full name with that protein change.
"""

import pytest

from patients import services
from patients.models import Genotype
from patients.variants import parse_variant
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

# Two c. changes of codon 603 (GTG), both giving p.(Val603Leu); the second as a report states it.
V603L_C = "c.1807G>C"
V603L_T = "c.1807G>T p.(Val603Leu)"


def test_the_two_v603l_changes_parse_to_one_protein_and_two_dna_changes():
    first, second = parse_variant(V603L_C), parse_variant(V603L_T)

    assert first.protein == second.protein == "p.(Val603Leu)"
    assert (first.cdna, second.cdna) == ("c.1807G>C", "c.1807G>T")
    assert not services.same_variant(first, second)


@pytest.mark.parametrize(
    ("allele1", "allele2", "same"),
    [
        (V603L_C, V603L_T, False),
        (V603L_T, V603L_C, False),
        ("c.1807G>C", "c.1807G>T", False),
        ("M712T", "c.2228T>C", True),  # the legacy protein name and the full name of one variant
        ("c.2228T>C", "M712T", True),
        ("p.(Met743Thr)", "c.2228T>C p.(Met743Thr)", True),
        ("M712T", "p.(Met743Thr)", True),
        ("c.2228T>C", "c.2228T>C", True),
        (V603L_C, "p.(Val603Leu)", True),
        ("M712T", "p.(Val603Leu)", False),
        ("c.2228T>C", V603L_C, False),
    ],
)
def test_same_variant(allele1, allele2, same):
    assert services.same_variant(parse_variant(allele1), parse_variant(allele2)) is same


def _post(client, patient, **alleles):
    return client.post("/api/v1/genotypes/", {"patient": str(patient.uuid), **alleles}, format="json")


@pytest.mark.parametrize(("allele1", "allele2"), [(V603L_C, V603L_T), (V603L_T, V603L_C)])
def test_two_dna_changes_with_one_protein_change_are_compound_heterozygous(staff_client, allele1, allele2):
    patient = PatientFactory()

    response = _post(staff_client, patient, allele1=allele1, allele2=allele2)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["allele1"]["protein"] == body["allele2"]["protein"] == "p.(Val603Leu)"
    assert body["allele1"]["cdna"] != body["allele2"]["cdna"]
    assert body["zygosity"] == "compound_heterozygous"
    stored = Genotype.objects.get(patient=patient)
    assert stored.zygosity == "compound_heterozygous"
    assert stored.allele1_id != stored.allele2_id


@pytest.mark.parametrize(
    ("allele1", "allele2"),
    [("M712T", "c.2228T>C"), ("c.2228T>C", "M712T"), ("p.(Met743Thr)", "c.2228T>C p.(Met743Thr)")],
)
def test_a_protein_only_name_matches_the_full_name_of_the_same_variant(staff_client, allele1, allele2):
    response = _post(staff_client, PatientFactory(), allele1=allele1, allele2=allele2)

    assert response.status_code == 201, response.json()
    assert response.json()["zygosity"] == "homozygous"


def test_changing_the_second_allele_recomputes_zygosity(staff_client):
    patient = PatientFactory()
    created = _post(staff_client, patient, allele1=V603L_C, allele2=V603L_C)
    assert created.json()["zygosity"] == "homozygous"

    changed = staff_client.patch(
        f"/api/v1/genotypes/{created.json()['id']}/", {"allele2": V603L_T}, format="json", HTTP_IF_MATCH=created["ETag"]
    )

    assert changed.status_code == 200, changed.json()
    assert changed.json()["zygosity"] == "compound_heterozygous"
    assert Genotype.objects.get(patient=patient).zygosity == "compound_heterozygous"


def test_genotype_service_derives_compound_heterozygous_for_one_protein_change():
    genotype, _ = services.genotype_create(patient=PatientFactory(), data={"allele1": V603L_C, "allele2": V603L_T})

    assert genotype.zygosity == "compound_heterozygous"
