"""The edges to other systems: the FHIR server, Redis, the DDI models, local storage.

What lives here and what it may import: README.md beside this file."""
