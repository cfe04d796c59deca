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

ROW = 44  # px per bar: its label on one line, the bar under it (long labels need the whole width)
WIDTH = 360
VALUE_WIDTH = 40


def bar_chart(title: str, bars: Sequence[tuple[str, int | str]], chart_id: str) -> str:
    """An SVG of horizontal bars; `bars` are (label, value) with value a count, "<5" or "x"."""
    numbers = [v for _, v in bars if isinstance(v, int)]
    top = max([*numbers, 1])
    bar_width = WIDTH - VALUE_WIDTH
    height = ROW * max(len(bars), 1) + 4
    cid = escape(chart_id)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="100%" '
        f'viewBox="0 0 {WIDTH} {height}" aria-labelledby="{cid}-title" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<defs><pattern id="{cid}-hatch" width="4" height="4" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="2" height="4" fill="#1d5b8f"/></pattern></defs>',
    ]
    for i, (label, value) in enumerate(bars):
        y = i * ROW + 2
        parts.append(f'<text x="0" y="{y + 14}" font-size="14" fill="#0b0c0c">{escape(label)}</text>')
        if isinstance(value, int):
            length = round(bar_width * value / top)
            fill = "#1d5b8f"
        else:
            # The true size of a suppressed count is unknown to the reader: a stub for "<5", none for "x".
            length = 10 if value == "<5" else 0
            fill = f"url(#{cid}-hatch)"
        if length:
            parts.append(
                f'<rect x="0" y="{y + 20}" width="{length}" height="18" fill="{fill}" stroke="#1d5b8f"/>'
            )
        parts.append(
            f'<text x="{length + 4}" y="{y + 34}" font-size="14" fill="#0b0c0c">{escape(str(value))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
