"""The shared vocabulary: dispute categories (national statistics usage), risk levels, and the
district's streets and communities (from `shared/data/district.yaml`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

DISTRICT_FILE = Path(__file__).parent / "data" / "district.yaml"


@dataclass(frozen=True)
class Label:
    code: str
    zh: str
    en: str

    def name(self, language: str) -> str:
        return self.zh if language.lower().startswith("zh") else self.en


CATEGORIES: tuple[Label, ...] = (
    Label("marriage_family", "婚姻家庭", "Marriage & family"),
    Label("neighbours", "邻里", "Neighbours"),
    Label("housing", "房屋宅基地", "Housing & homestead"),
    Label("property_management", "物业", "Property management"),
    Label("contract", "合同", "Contract"),
    Label("damages", "损害赔偿", "Damages"),
    Label("labour", "劳动争议", "Labour (incl. unpaid wages)"),
    Label("consumer", "消费", "Consumer"),
    Label("medical", "医疗", "Medical"),
    Label("road_traffic", "道路交通", "Road traffic"),
    Label("land_requisition", "征地拆迁", "Land requisition & demolition"),
    Label("environment", "环境污染", "Environmental pollution"),
    Label("land_contracting", "山林土地", "Land contracting"),
    Label("village_affairs", "村务管理", "Village affairs"),
    Label("other", "其他", "Other"),
)
CATEGORY_CODES: tuple[str, ...] = tuple(c.code for c in CATEGORIES)

RISK_LEVELS: tuple[str, ...] = ("none", "yellow", "orange", "red")


@dataclass(frozen=True)
class Community:
    code: str
    zh: str
    en: str
    street: str

    def name(self, language: str) -> str:
        return self.zh if language.lower().startswith("zh") else self.en


@cache
def communities(path: Path = DISTRICT_FILE) -> tuple[Community, ...]:
    """Every community of the district, in file order."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(
        Community(c["code"], c["name"]["zh-CN"], c["name"]["en"], street["code"])
        for street in doc["streets"]
        for c in street["communities"]
    )


@cache
def streets(path: Path = DISTRICT_FILE) -> tuple[Label, ...]:
    """Every street of the district, in file order."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(Label(s["code"], s["name"]["zh-CN"], s["name"]["en"]) for s in doc["streets"])


def community_codes() -> tuple[str, ...]:
    return tuple(c.code for c in communities())


# --- the Ministry of Justice's monthly table (人民调解工作统计) ---------------------------------------
# Used by council's public board and mediation's reports alike, so both count a case the same way.
# The MoJ table has 15 categories; the taxonomy above has no code for 生产经营 (production and
# business), so that line stays 0 until intake offers it, and village affairs has no line of its own
# ("other").
MOJ_CATEGORIES: dict[str, tuple[str, str]] = {
    "marriage_family": ("婚姻家庭", "Marriage & family"),
    "neighbours": ("邻里", "Neighbours"),
    "housing_homestead": ("房屋宅基地", "Housing & homestead"),
    "contract": ("合同", "Contract"),
    "production_business": ("生产经营", "Production & business"),
    "damages": ("损害赔偿", "Damages"),
    "forest_land": ("山林土地", "Forest & land"),
    "land_requisition": ("征地拆迁", "Land requisition & demolition"),
    "environment": ("环境污染", "Environmental pollution"),
    "labour": ("劳动争议", "Labour"),
    "consumer": ("消费", "Consumer"),
    "medical": ("医疗", "Medical"),
    "road_traffic": ("道路交通事故", "Road traffic accidents"),
    "property_management": ("物业", "Property management"),
    "other": ("其它", "Other"),
}

# taxonomy code -> MoJ category
MOJ_OF_TAXONOMY: dict[str, str] = {
    "marriage_family": "marriage_family",
    "neighbours": "neighbours",
    "housing": "housing_homestead",
    "property_management": "property_management",
    "contract": "contract",
    "damages": "damages",
    "labour": "labour",
    "consumer": "consumer",
    "medical": "medical",
    "road_traffic": "road_traffic",
    "land_requisition": "land_requisition",
    "environment": "environment",
    "land_contracting": "forest_land",
    "village_affairs": "other",
    "other": "other",
}

# The MoJ table's three sources, and the case's detailed source (shared/messaging/events.py
# CASE_SOURCES) -> its group.
MOJ_APPLICATION = "application"
MOJ_OWN_INITIATIVE = "own_initiative"
MOJ_REFERRED = "referred"
MOJ_SOURCES: dict[str, tuple[str, str]] = {
    MOJ_APPLICATION: ("申请", "On application"),
    MOJ_OWN_INITIATIVE: ("主动", "Own initiative"),
    MOJ_REFERRED: ("委托移送", "Referred"),
}
MOJ_SOURCE_OF: dict[str, str] = {
    "application": MOJ_APPLICATION,
    "own_initiative": MOJ_OWN_INITIATIVE,
    "patrol_discovery": MOJ_OWN_INITIATIVE,
    "reception_day": MOJ_OWN_INITIATIVE,
    "referred_court": MOJ_REFERRED,
    "referred_police": MOJ_REFERRED,
    "referred_petition": MOJ_REFERRED,
}
