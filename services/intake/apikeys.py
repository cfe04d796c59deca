"""Open311 API keys: issued to an organisation, stored hashed, revocable.

Each key belongs to the organisation that files with it (a residents' committee, a grid
office, a partner app); a case filed with it records that organisation. Only a SHA-256 hash of
the key is stored (keys are long random strings, so a plain hash is enough); the key itself is
shown once, when issued. OPEN311_API_KEYS (comma-separated) adds keys from the environment for
local runs and tests.

Command line (an admin on the server)::

    python -m services.intake.apikeys issue "Lianhua residents' committee"
    python -m services.intake.apikeys list
    python -m services.intake.apikeys revoke KEY_ID
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import secrets
import sys
import uuid
from typing import Any

from pymongo.database import Database

from services.intake.bootstrap import Intake, bootstrap, ensure_indexes
from shared.messaging.envelope import utcnow

KEY_PREFIX = "o311_"
ENV_ORGANISATION = "OPEN311_API_KEYS"


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def issue_key(db: Database, organisation: str, issued_by: str = "command line") -> tuple[str, dict[str, Any]]:
    """Create a key for `organisation`; return the key (shown once) and its stored record."""
    organisation = organisation.strip()
    if not organisation or len(organisation) > 200:
        raise ValueError("organisation must be 1-200 characters")
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    record = {
        "_id": uuid.uuid4().hex[:12],
        "key_hash": hash_key(key),
        "hint": key[: len(KEY_PREFIX) + 4],  # enough to recognise a key, never to use it
        "organisation": organisation,
        "issued_at": utcnow(),
        "issued_by": issued_by,
        "revoked_at": None,
    }
    db.api_keys.insert_one(record)
    return key, record


def revoke_key(db: Database, key_id: str) -> bool:
    """Revoke a key by its id; False when there is no such active key."""
    result = db.api_keys.update_one(
        {"_id": str(key_id), "revoked_at": None}, {"$set": {"revoked_at": utcnow()}}
    )
    return result.modified_count == 1


def list_keys(db: Database) -> list[dict[str, Any]]:
    """Every key record (never the keys), newest first."""
    return list(db.api_keys.find({}, {"key_hash": 0}).sort("issued_at", -1))


def organisation_for(intake: Intake, key: str) -> str | None:
    """The organisation an active key belongs to, or None for an unknown or revoked key."""
    if not key or len(key) > 200:
        return None
    for env_key in intake.env_api_keys:
        if hmac.compare_digest(env_key.encode(), key.encode()):
            return ENV_ORGANISATION
    record = intake.db.api_keys.find_one({"key_hash": hash_key(key), "revoked_at": None})
    return record["organisation"] if record else None


def main(argv: list[str] | None = None) -> int:
    """`issue ORGANISATION`, `list`, `revoke KEY_ID` against the configured database."""
    parser = argparse.ArgumentParser(
        prog="python -m services.intake.apikeys", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("issue").add_argument("organisation")
    commands.add_parser("list")
    commands.add_parser("revoke").add_argument("key_id")
    args = parser.parse_args(argv)
    intake = bootstrap()
    ensure_indexes(intake.db)
    if args.command == "issue":
        key, record = issue_key(intake.db, args.organisation)
        print(f"key id {record['_id']} for {record['organisation']}")
        print(f"API key (shown once, keep it secret): {key}")
        return 0
    if args.command == "list":
        for record in list_keys(intake.db):
            state = "revoked" if record["revoked_at"] else "active"
            print(f"{record['_id']}  {record['hint']}…  {state:7}  {record['organisation']}")
        return 0
    if revoke_key(intake.db, args.key_id):
        print(f"revoked {args.key_id}")
        return 0
    print(f"no active key {args.key_id}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
