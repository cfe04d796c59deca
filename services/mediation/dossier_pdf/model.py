"""The archive dossier (卷宗) as plain data: the cover, the sections in the order a dossier is kept,
and the uploaded scans appended after them. Texts arrive already in the dossier's language (the use
case labels states and codes); the renderer adds only the form's own wording."""

from __future__ import annotations

from dataclasses import dataclass, field

# The order a people's mediation dossier is kept in (MoJ 2002 Art 38 and the usual filing practice):
# application, rights-notice acknowledgement, session records, the agreement (or the record of
# failure and the referral), follow-up records, judicial confirmation; then the index of the files
# appended after the last section.
SECTIONS: tuple[str, ...] = (
    "application",
    "rights_notice",
    "sessions",
    "ending",
    "follow_up",
    "confirmation",
    "appendices",
)


@dataclass(frozen=True)
class Item:
    """One record inside a section: a title line and its labelled fields (label keys are the
    renderer's wording; a key it does not know is printed as it is)."""

    title: str
    fields: tuple[tuple[str, str], ...] = ()
    lines: tuple[str, ...] = ()  # numbered lines, e.g. an agreement's terms


@dataclass(frozen=True)
class Section:
    key: str  # one of SECTIONS
    items: tuple[Item, ...] = ()


@dataclass(frozen=True)
class Appendix:
    """A file appended after the dossier's sections: a PDF (its pages) or an image (one page)."""

    title: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class DossierData:
    """Everything printed in one dossier. `cover` holds (label key, value) rows; `anonymised` marks
    a dossier rebuilt after the retention period, whose personal data was erased."""

    reference: str
    committee: str
    cover: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...]
    generated_on: str
    appendices: tuple[Appendix, ...] = field(default=())
    anonymised: bool = False

    def validate(self) -> DossierData:
        """Return self, or raise ValueError when the sections are not the dossier's, in its order."""
        keys = tuple(s.key for s in self.sections)
        if keys != SECTIONS:
            raise ValueError(f"a dossier holds the sections {SECTIONS}, in that order; got {keys}")
        if not self.reference.strip() or not self.committee.strip():
            raise ValueError("a dossier needs its case reference and its committee")
        return self
