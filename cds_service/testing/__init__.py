"""Test support shipped with the service (as `flask.testing` is with Flask), so that `tests/` and
`bench/` import it by name, without path tricks:

- `served_process`: `ddi-cds serve` as a real process on a free loopback port;
- `fhir_standin`: a FHIR server on loopback, with faults on demand (`tls_certificates`: its CA);
- `ehr_tokens`: an EHR's signing key, its trusted-issuers file and signed Authorization headers;
- `hook_requests`: the one set of builders of hook calls, MedicationRequests and Bundles;
- `rxcui`: the RxNorm codes the tests and benchmarks send, named.

Pytest-free. Nothing else in `cds_service` imports it (tests/test_layers.py checks), and this
module imports none of them: `ehr_tokens` makes a key when it is first imported.
"""
