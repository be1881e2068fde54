import pytest

from cds_service.core.codes import (
    NdcFormatError,
    bracketed_brand,
    ndc_11_candidates,
    normalize_name,
    pack_brand_stem,
    pack_component_names,
)


@pytest.mark.parametrize(
    ("ndc", "expected"),
    [
        ("00093-1712-01", ("00093171201",)),  # 5-4-2
        ("0093-1712-01", ("00093171201",)),  # 4-4-2
        ("12345-678-90", ("12345067890",)),  # 5-3-2
        ("12345-6789-0", ("12345678900",)),  # 5-4-1
        ("00093171201", ("00093171201",)),  # 11 digits
        (" 00093171201 ", ("00093171201",)),
        ("0093171201", ("00093171201", "00931071201", "00931712001")),  # undashed 10: 3 splits
    ],
)
def test_ndc_forms(ndc, expected):
    assert ndc_11_candidates(ndc) == expected


@pytest.mark.parametrize(
    "bad", ["", "123", "0093-1712", "0093-171-01", "abcde-fghi-jk", "001234567890", "12-3456-7890"]
)
def test_malformed_ndc_is_refused_with_a_reason(bad):
    with pytest.raises(NdcFormatError, match="NDC"):
        ndc_11_candidates(bad)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Acétaminophène", "acetaminophene"),
        ("  WARFARIN   Sodium ", "warfarin sodium"),
        ("Co-trimoxazole", "co trimoxazole"),
        ("ibuprofen 200 MG Oral Tablet", "ibuprofen 200 mg oral tablet"),
    ],
)
def test_normalize_name_folds_case_accents_and_punctuation_only(raw, normalized):
    assert normalize_name(raw) == normalized


@pytest.mark.parametrize(
    ("name", "components"),
    [
        (
            "{20 (nirmatrelvir 150 MG Oral Tablet) / 10 (ritonavir 100 MG Oral Tablet) } Pack "
            "[Paxlovid 5-Day]",
            ("nirmatrelvir 150 MG Oral Tablet", "ritonavir 100 MG Oral Tablet"),
        ),
        (  # a volume first, and " / " inside a component
            "{1 (bisacodyl 5 MG Delayed Release Oral Tablet) / 1 (2000 ML) (polyethylene glycol "
            "3350 210000 MG / potassium chloride 740 MG Powder for Oral Solution) } Pack",
            (
                "bisacodyl 5 MG Delayed Release Oral Tablet",
                "polyethylene glycol 3350 210000 MG / potassium chloride 740 MG Powder for Oral "
                "Solution",
            ),
        ),
        ("warfarin sodium 5 MG Oral Tablet", ()),
        ("{garbled", ()),
    ],
)
def test_pack_component_names(name, components):
    assert pack_component_names(name) == components


@pytest.mark.parametrize(
    ("brand", "stem"),
    [
        ("Paxlovid 150 MG /100 MG Dose Pack", "Paxlovid"),
        ("Paxlovid 5-Day", "Paxlovid"),
        ("Junel Fe 1/20 28 Day", "Junel Fe"),
        ("Tri-Lo-Marzia 28-Day", "Tri-Lo-Marzia"),
        ("Viekira Pak", "Viekira"),
        ("Symdeko (100 MG / 150 MG; 150 MG)", "Symdeko"),
        ("28 Day", None),
    ],
)
def test_pack_brand_stem(brand, stem):
    assert pack_brand_stem(brand) == stem


def test_bracketed_brand():
    assert bracketed_brand("apixaban 5 MG Oral Tablet [Eliquis]") == "Eliquis"
    assert bracketed_brand("{1 (x 1 MG Oral Tablet) } Pack [Paxlovid 5-Day]") == "Paxlovid 5-Day"
    assert bracketed_brand("apixaban 5 MG Oral Tablet") is None
