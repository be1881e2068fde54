import pytest

from cds_service.codes import NdcFormatError, ndc_11_candidates, normalize_name


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
