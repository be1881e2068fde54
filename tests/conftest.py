from pathlib import Path

import pytest

from cds_service.drug_index import DrugIndex
from cds_service.mapping import MedicationMapper

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"


@pytest.fixture(scope="session")
def drug_index() -> DrugIndex:
    return DrugIndex()


@pytest.fixture(scope="session")
def mapper(drug_index: DrugIndex) -> MedicationMapper:
    return MedicationMapper(drug_index)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "drug-vocabulary").is_dir():
        pytest.fail(f"the reference data is expected at {SHARED_DATA} (../shared/data)")
    return SHARED_DATA


def rxnorm(code: str) -> dict:
    return {"coding": [{"system": RXNORM, "code": code}]}


def ndc(code: str) -> dict:
    return {"coding": [{"system": NDC, "code": code}]}
