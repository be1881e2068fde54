"""CDS Hooks 2.0 around the core: services, requests, FHIR parsing, tokens, one call run.

What lives here and what it may import: README.md beside this file."""
