"""Where the CJK fonts for agreement PDFs are, found at run time.

reportlab embeds TrueType outlines only; Debian's Noto CJK fonts (fonts-noto-cjk) are CFF-based and
it refuses them. So the PDFs use AR PL UMing (fonts-arphic-uming, a Ming/Song face, the usual look of
an official document) for the text and WenQuanYi Micro Hei (fonts-wqy-microhei) for headings; both
are installed by devtools/install_system_deps.sh and the Dockerfile. Both faces also carry Latin
glyphs, so the English rendering (which still prints Chinese names) uses them too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

# Extra directories to search first (colon-separated), e.g. for a font shipped outside Debian's paths.
FONT_DIRS_ENV = "CONCORD_FONT_DIRS"
SYSTEM_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")


@dataclass(frozen=True)
class FontSpec:
    """A face inside a font file (`index` picks the face of a .ttc collection)."""

    name: str  # the name reportlab registers it under
    filename: str
    index: int
    package: str  # the Debian package that ships it


BODY = FontSpec("ConcordBody", "uming.ttc", 0, "fonts-arphic-uming")  # face 0: AR PL UMing CN
HEADING = FontSpec("ConcordHeading", "wqy-microhei.ttc", 0, "fonts-wqy-microhei")


class FontNotFound(RuntimeError):
    """A font the PDFs need is not installed."""


def _search_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(FONT_DIRS_ENV, "").split(":") if p]
    return extra + [Path(p) for p in SYSTEM_FONT_DIRS]


def find_font(spec: FontSpec, search_dirs: Sequence[Path] | None = None) -> Path:
    """The path of `spec`'s font file; `FontNotFound` (saying what to install) when it is missing."""
    dirs = list(search_dirs) if search_dirs is not None else _search_dirs()
    for directory in dirs:
        if directory.is_dir():
            for path in sorted(directory.rglob(spec.filename)):
                return path
    raise FontNotFound(
        f"Font {spec.filename} (Debian package {spec.package}) not found in "
        f"{', '.join(str(d) for d in dirs)}: run devtools/install_system_deps.sh, or set "
        f"{FONT_DIRS_ENV} to a directory holding it."
    )


@cache
def register_fonts() -> tuple[str, str]:
    """Register the body and heading fonts with reportlab once; return their names."""
    for spec in (BODY, HEADING):
        pdfmetrics.registerFont(TTFont(spec.name, str(find_font(spec)), subfontIndex=spec.index))
    return BODY.name, HEADING.name
