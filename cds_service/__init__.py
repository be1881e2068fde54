"""DDI CDS: a CDS Hooks 2.0 drug-drug interaction service."""

__version__ = "0.1.0"
