"""Text on cards: the summary's length limit, and EHR text made inert in Markdown. Pure."""

from __future__ import annotations

import re

SUMMARY_LIMIT = 140  # the spec's limit: "<140 characters"
SERVICE_LABEL = "DDI CDS (curated interaction knowledge)"
# Inline markup only: every line of the detail starts with text of ours, so block markers
# ("#", "-", "1.") in EHR text cannot take effect and need no escaping
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def escape(text: str) -> str:
    """EHR-supplied text, made inert in Markdown (and on one line)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def clip(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """One line, under the limit (the summary's by default)."""
    text = " ".join(text.split())
    return text if len(text) < limit else text[: limit - 2].rstrip() + "…"
