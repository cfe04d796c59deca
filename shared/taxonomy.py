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
