"""What the people who run the service need: audit trail, feedback, metrics, logs.

What lives here and what it may import: README.md beside this file."""
