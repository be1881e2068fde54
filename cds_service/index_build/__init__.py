"""Offline build of the committed artifacts from the reference data in `../shared/data`.

Nothing here runs in the service. Every builder is deterministic: rows are written in sorted
order, no timestamps are stored, so the same inputs give a byte-identical file.
"""
