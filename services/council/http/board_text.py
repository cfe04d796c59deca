"""What the public board says in the reader's language: table titles, column and area names."""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import get_locale, lazy_gettext

from services.council.domain import mediation_stats as ms
from services.council.domain.board_tables import POOLED
from shared.taxonomy import communities

TITLES: Mapping[str, object] = {
    "received_by_source": lazy_gettext("Disputes received, by source"),
    "ended_by_outcome": lazy_gettext("Cases ended, by outcome"),
    "ended_by_time": lazy_gettext("Cases ended, by time to close"),
    "received_by_category": lazy_gettext("Disputes received, by category"),
    "settled_by_category": lazy_gettext("Disputes settled, by category"),
    "patrol": lazy_gettext("Patrol visits"),
    "persons": lazy_gettext("Persons involved in the disputes received"),
    "accepted": lazy_gettext("Cases accepted for mediation"),
    "performed": lazy_gettext("Agreements found performed at follow-up"),
    "criminal_prevented": lazy_gettext("Disputes kept from becoming criminal cases"),
    "petitions_prevented": lazy_gettext("Group petitions prevented"),
    "plan_progress": lazy_gettext("The plan's progress (percent done)"),
    "accounts": lazy_gettext("Public accounts (yuan)"),
}

COLUMNS: Mapping[str, object] = {
    "settled": lazy_gettext("Settled (agreement)"),
    "failed": lazy_gettext("Mediation failed"),
    "other": lazy_gettext("Withdrawn, referred or not accepted"),
    "within_month": lazy_gettext("Within 30 days"),
    "later": lazy_gettext("After 30 days"),
    "found_early": lazy_gettext("Found a dispute early"),
    "other_visits": lazy_gettext("Other visits"),
    "persons": lazy_gettext("Persons"),
    "accepted": lazy_gettext("Cases"),
    "performed": lazy_gettext("Cases"),
    "cases": lazy_gettext("Cases"),
    "total": lazy_gettext("Total"),
    POOLED: lazy_gettext("Communities with fewer than 10 cases (together)"),
    "district": lazy_gettext("The whole district"),
    "opening": lazy_gettext("Opening balance"),
    "income": lazy_gettext("Income"),
    "spending": lazy_gettext("Spending"),
    "closing": lazy_gettext("Closing balance"),
}


def _zh() -> bool:
    return str(get_locale() or "zh_CN").lower().startswith("zh")


def street_names() -> dict[str, tuple[str, str]]:
    """Street code -> (zh, en) from the district's reference data file."""
    import yaml

    from shared.taxonomy import DISTRICT_FILE

    doc = yaml.safe_load(DISTRICT_FILE.read_text(encoding="utf-8"))
    return {s["code"]: (s["name"]["zh-CN"], s["name"]["en"]) for s in doc["streets"]}


def label(code: str) -> str:
    """The reader's-language name of a table, column, category, source, community or street code."""
    zh = _zh()
    if code in TITLES:
        return str(TITLES[code])
    if code in COLUMNS:
        return str(COLUMNS[code])
    if code in ms.MOJ_CATEGORIES:
        return ms.MOJ_CATEGORIES[code][0 if zh else 1]
    if code in ms.SOURCES:
        return ms.SOURCES[code][0 if zh else 1]
    for c in communities():
        if c.code == code:
            return c.zh if zh else c.en
    names = street_names()
    if code in names:
        return names[code][0 if zh else 1]
    return code
