"""Charts for the explanation page, drawn on the server as inline SVG: no script, no request
that leaves the machine, readable with JavaScript off and by a screen reader (each chart has a
title and a description, and every value is also written as text, not only drawn).

Pure: strings in, markup out. Every text is escaped here; the page may include the result as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

# Fill colours per seriousness tier; labels stay dark on white (contrast ≥ 7:1), so a bar's
# colour is never the only carrier of its meaning: the tier is written beside it.
TIER_FILL = {"life-threatening": "#b3261e", "serious": "#b35c00", "other": "#5f6b7a"}
RAISES_FILL = "#b3261e"  # a gene pushing the side effect's score up
LOWERS_FILL = "#1f5fa8"  # a gene pushing it down
TEXT = "#1b1b1b"
GRID = "#c8ccd2"

ROW_H = 26
LABEL_W = 250
BAR_W = 300
VALUE_W = 200


@dataclass(frozen=True, slots=True)
class EffectBar:
    name: str
    probability: float  # calibrated, 0..1
    tier: str


@dataclass(frozen=True, slots=True)
class GeneBar:
    symbol: str
    contribution: float  # signed: to the side effect's logit


def _clip(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _frame(chart_id: str, title: str, description: str, width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'id="{chart_id}" class="chart" font-family="system-ui, sans-serif" font-size="13">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>'
    )


def side_effect_chart(bars: Sequence[EffectBar], chart_id: str = "side-effects") -> str:
    """Horizontal bars, one per side effect, on a 0-100 % axis."""
    height = ROW_H * len(bars) + 30
    width = LABEL_W + BAR_W + VALUE_W
    description = "; ".join(f"{b.name}: {b.probability:.0%}, {b.tier}" for b in bars)
    parts = [
        _frame(chart_id, "Predicted side effects, calibrated probability", description,
               width, height),
    ]  # fmt: skip
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = LABEL_W + tick * BAR_W
        parts.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 22}" stroke="{GRID}"/>'
            f'<text x="{x:.1f}" y="{height - 6}" fill="{TEXT}" text-anchor="middle">'
            f"{tick:.0%}</text>"
        )
    for row, bar in enumerate(bars):
        y = row * ROW_H
        p = min(1.0, max(0.0, bar.probability))
        fill = TIER_FILL.get(bar.tier, TIER_FILL["other"])
        parts.append(
            f'<g class="bar" data-tier="{escape(bar.tier)}">'
            f'<text x="{LABEL_W - 8}" y="{y + 17}" fill="{TEXT}" text-anchor="end">'
            f"<title>{escape(bar.name)}</title>{escape(_clip(bar.name))}</text>"
            f'<rect x="{LABEL_W}" y="{y + 5}" width="{max(1.0, p * BAR_W):.1f}" '
            f'height="{ROW_H - 10}" fill="{fill}"/>'
            f'<text x="{LABEL_W + p * BAR_W + 6:.1f}" y="{y + 17}" fill="{TEXT}">'
            f"{p:.0%} · {escape(bar.tier)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def gene_chart(genes: Sequence[GeneBar], side_effect: str, chart_id: str = "genes") -> str:
    """Diverging bars around zero: to the right, genes whose predicted perturbation raises the
    side effect's score; to the left, those that lower it. Lengths are relative to the largest."""
    height = ROW_H * len(genes) + 30
    width = LABEL_W // 2 + 2 * (BAR_W // 2) + VALUE_W
    largest = max((abs(g.contribution) for g in genes), default=1.0) or 1.0
    zero = LABEL_W // 2 + BAR_W // 2
    half = BAR_W // 2 - 4
    description = "; ".join(
        f"{g.symbol} {'raises' if g.contribution >= 0 else 'lowers'} the score "
        f"({g.contribution:+.3f})"
        for g in genes
    )
    parts = [
        _frame(chart_id, f"Landmark genes behind {side_effect}", description, width, height),
        f'<line x1="{zero}" y1="0" x2="{zero}" y2="{height - 22}" stroke="{TEXT}"/>',
        f'<text x="{zero - 6}" y="{height - 6}" fill="{TEXT}" text-anchor="end">← lowers</text>',
        f'<text x="{zero + 6}" y="{height - 6}" fill="{TEXT}">raises →</text>',
    ]
    for row, gene in enumerate(genes):
        y = row * ROW_H
        length = max(1.0, abs(gene.contribution) / largest * half)
        raises = gene.contribution >= 0
        x = zero if raises else zero - length
        parts.append(
            f'<g class="gene" data-symbol="{escape(gene.symbol)}">'
            f'<text x="{LABEL_W // 2 - 8}" y="{y + 17}" fill="{TEXT}" text-anchor="end">'
            f"{escape(_clip(gene.symbol, 14))}</text>"
            f'<rect x="{x:.1f}" y="{y + 5}" width="{length:.1f}" height="{ROW_H - 10}" '
            f'fill="{RAISES_FILL if raises else LOWERS_FILL}"/>'
            f'<text x="{zero + half + 10}" y="{y + 17}" fill="{TEXT}">'
            f"{gene.contribution:+.3f}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
