"""Every RxNorm code of the HL7 PDDI value sets maps to its drug (where RxNorm still has it)."""

import pytest

from cds_service.index_build.valuesets import EXPECTED_INGREDIENT, measure

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def coverage(shared_data, drug_index):
    return {row.name: row for row in measure(shared_data, drug_index)}


def test_all_required_value_sets_are_measured(coverage):
    assert set(coverage) == set(EXPECTED_INGREDIENT)
    assert all(row.codes > 0 for row in coverage.values())


@pytest.mark.parametrize("value_set", sorted(EXPECTED_INGREDIENT))
def test_every_scd_sbd_in_code_in_the_sources_maps_to_the_right_ingredient(coverage, value_set):
    row = coverage[value_set]
    assert row.target_codes > 0
    assert row.failures == []
    assert row.target_share == 1.0


def test_codes_that_are_in_the_sources_never_map_wrong(coverage):
    for row in coverage.values():
        assert row.mapped_right == row.in_sources, row.name
