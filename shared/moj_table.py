"""The Ministry of Justice's monthly table of people's mediation (人民调解工作统计): its 15 dispute
categories and three sources, and how the shared taxonomy's codes (shared/taxonomy.py) and a case's
detailed source map onto them. Council's public board and mediation's reports count by this one table,
so the two cannot drift apart.

The MoJ table has 15 categories; the taxonomy has no code for 生产经营 (production and business), so
that line stays 0 until intake offers it, and village affairs has no line of its own ("other").

Pure data: only the standard library (council's domain may import it).
"""

from __future__ import annotations

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
    # A studio lead's new case after an answer "not settled": the studio's own initiative.
    "follow_up": MOJ_OWN_INITIATIVE,
}
