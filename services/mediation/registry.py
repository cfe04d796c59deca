"""The registry of mediation studios: seeded from YAML, read as routing snapshots."""

from __future__ import annotations

from pathlib import Path

import yaml
from pymongo.client_session import ClientSession
from pymongo.database import Database

from services.mediation.domain.routing import StudioSnapshot

SEED_FILE = Path(__file__).parent / "seed" / "registry.yaml"


def seed_registry(db: Database, path: Path = SEED_FILE) -> int:
    """Upsert the studios of the seed file by code (idempotent; open-case counts are kept)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for studio in doc["studios"]:
        db.studios.update_one(
            {"_id": studio["code"]},
            {
                "$set": {
                    "code": studio["code"],
                    "name": studio["name"],
                    "email": studio.get("email"),
                    "communities": studio.get("communities", []),
                    "categories": studio.get("categories", []),
                    "capacity": int(studio["capacity"]),
                    "is_default": bool(studio.get("default", False)),
                },
                "$setOnInsert": {"open_cases": 0},
            },
            upsert=True,
        )
    return len(doc["studios"])


def snapshots(db: Database, session: ClientSession | None = None) -> list[StudioSnapshot]:
    return [
        StudioSnapshot(
            code=s["code"],
            communities=frozenset(s["communities"]),
            categories=frozenset(s["categories"]),
            capacity=s["capacity"],
            open_cases=s.get("open_cases", 0),
            is_default=s.get("is_default", False),
        )
        for s in db.studios.find({}, session=session)
    ]
