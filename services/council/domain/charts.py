"""A tiny server-rendered SVG bar chart for the public board (no JavaScript, no chart library).

Horizontal bars, one per label, scaled to the largest published number. A suppressed value has no
bar length to give away: "<5" draws a short hatched stub (its true length is not known to the
reader either), "x" draws nothing; both print their marker instead of a number. The SVG has
role="img" and a <title>; the data table next to it on the page is what screen readers read.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

ROW = 28  # px per bar
LABEL_WIDTH = 150
BAR_WIDTH = 170
VALUE_WIDTH = 40


def bar_chart(title: str, bars: Sequence[tuple[str, int | str]], chart_id: str) -> str:
    """An SVG of horizontal bars; `bars` are (label, value) with value a count, "<5" or "x"."""
    numbers = [v for _, v in bars if isinstance(v, int)]
    top = max([*numbers, 1])
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    height = ROW * max(len(bars), 1) + 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="100%" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="{escape(chart_id)}-title" '
        f'preserveAspectRatio="xMinYMin meet">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<defs><pattern id="{escape(chart_id)}-hatch" width="4" height="4" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="2" height="4" fill="#1d5b8f"/></pattern></defs>',
    ]
    for i, (label, value) in enumerate(bars):
        y = i * ROW + 4
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 17}" text-anchor="end" font-size="13" '
            f'fill="#0b0c0c">{escape(label)}</text>'
        )
        if isinstance(value, int):
            length = round(BAR_WIDTH * value / top)
            if length:
                parts.append(
                    f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{length}" height="18" fill="#1d5b8f"/>'
                )
            shown = str(value)
        else:
            length = 8 if value == "<5" else 0
            if length:
                parts.append(
                    f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{length}" height="18" '
                    f'fill="url(#{escape(chart_id)}-hatch)" stroke="#1d5b8f"/>'
                )
            shown = str(value)
        parts.append(
            f'<text x="{LABEL_WIDTH + length + 4}" y="{y + 17}" font-size="13" fill="#0b0c0c">'
            f"{escape(shown)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
