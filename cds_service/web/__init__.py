"""The HTTP layer: Flask blueprints for CDS Hooks and the pages for people.

What lives here and what it may import: README.md beside this file; the app factory that
registers the blueprints is `cds_service.app`."""
