"""Every message of mediation's and council's pages has its Chinese translation (English is the
source text), and placeholders survive translation: a page never shows an English sentence to a
Chinese reader, nor breaks on a missing `%(name)s`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


# The service, and how many messages its extraction must at least find (else the check proves nothing).
SERVICES = [("mediation", 100), ("council", 60)]


@pytest.mark.parametrize(("service", "at_least"), SERVICES)
def test_every_message_of_the_pages_has_a_chinese_translation(
    tmp_path: Path, service: str, at_least: int
) -> None:
    pot = tmp_path / f"{service}.pot"
    # pybabel's own extraction, with the project's mapping (templates and Python).
    CommandLineInterface().run(
        ["pybabel", "extract", "-F", str(ROOT / f"services/{service}/babel.cfg"), "-k", "lazy_gettext",
         "-o", str(pot), str(ROOT / f"services/{service}")]
    )  # fmt: skip
    with pot.open("rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    assert len(wanted) > at_least, "extraction found too little: the check would prove nothing"
    translated: dict[str, str] = {}
    for folder in (ROOT / f"services/{service}/translations", ROOT / "shared/web/translations"):
        with (folder / "zh_CN/LC_MESSAGES/messages.po").open("rb") as f:
            translated.update({m.id: m.string for m in read_po(f) if m.id and m.string})
    assert sorted(m for m in wanted if m not in translated) == []
    for msgid, text in translated.items():
        # Plural entries (ngettext) are tuples: every form must keep the placeholders.
        source, target = " ".join(_forms(msgid)), " ".join(_forms(text))
        assert set(re.findall(r"%\(\w+\)[sd]", source)) == set(re.findall(r"%\(\w+\)[sd]", target)), msgid


def _forms(message: str | tuple[str, ...]) -> tuple[str, ...]:
    return (message,) if isinstance(message, str) else tuple(message)
