"""The web layer: CDS Hooks over HTTP and the pages for people, as Flask blueprints.

`hooks` (discovery, hook calls, feedback), `health` (/healthz, /readyz), `explain`
(/explain), `metrics` (/metrics), `openapi` (/openapi.json), `try_it` (the try-it page), with
`pages`, `errors` and `open_limits` beside them. Each reads what the process loaded through
`runtime.runtime()`; the app factory that loads it and registers them is `cds_service.app`.
"""
