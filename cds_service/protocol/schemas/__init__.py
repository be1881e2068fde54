"""JSON Schemas (draft 2020-12) for the CDS Hooks 2.0 bodies this service exchanges.

* ``discovery`` - the response of ``GET {baseUrl}/cds-services``
* ``response``  - a CDS Service response (``cards`` and optional ``systemActions``)
* ``feedback``  - the body POSTed to ``{baseUrl}/cds-services/{id}/feedback``

These are the project's own schemas: no official JSON Schema for CDS Hooks exists. They were
written by hand from the machine-readable definitions kept in ``../shared/data/cds-hooks/``
(see the "data/cds-hooks/" section of ``../shared/README.md``), none of which is copied here:

* FHIR/fhir-tools-ig @ bac23b36 - the logical models
  ``structuredefinition-CDSHooksResponse.json``, ``-CDSHooksServices.json``,
  ``-CDSHooksElement.json`` and the code systems CDSIndicator, CDSActionType,
  CDSSelectionBehavior, CDSLinkType;
* HL7/cds-hooks @ fb10ca77 (3.0.0-ballot) - ``fsh/CDSHooksResponse.fsh``,
  ``CDSHooksServices.fsh``, ``CDSHooksFeedback.fsh``, ``CDSHooksElement.fsh`` and the
  invariants ``cds-resp-1`` ... ``cds-resp-7``, ``cds-fb-1`` ... ``cds-fb-3``;
* HL7/cds-hooks-hl7-site @ 1111385a - the CDS Hooks 2.0 text (field tables, Coding data type,
  the rule that values are never null or empty) and its JSON examples.

They are restricted to what CDS Hooks 2.0 requires; optional fields added by the 3.0 ballot
(``Suggestion.actionSelectionBehavior``, ``Link.autolaunchable``, ``Service.version``) are
allowed. Where the sources disagree, the 2.0 text wins (e.g. the tools IG's CDSIndicator code
system lists ``error`` where 2.0 has ``critical``). Each encoded invariant is named in a
``description`` inside the schema.
"""

import json
from pathlib import Path
from typing import Any

SCHEMA_DIR: Path = Path(__file__).resolve().parent
SCHEMA_NAMES: frozenset[str] = frozenset({"discovery", "response", "feedback"})


def load_schema(name: str) -> dict[str, Any]:
    """Return a fresh copy of the schema ``name`` (one of :data:`SCHEMA_NAMES`)."""
    if name not in SCHEMA_NAMES:
        raise ValueError(f"unknown schema {name!r}; expected one of {sorted(SCHEMA_NAMES)}")
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return schema
