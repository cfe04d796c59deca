"""Staff accounts (mediation owns them): argon2 hashes, login with throttling, a command line.

    python -m services.mediation.staff_accounts create --username wang --role studio_lead --studio zhihe \
        --name 王立 [--team ...] [--email ...]          # password prompted, or read from stdin
    python -m services.mediation.staff_accounts seed-demo      # development only: one demo user per role

Throttling counts failed logins per username and address: after 5 within 15 minutes that pair is
locked until the oldest of them is 15 minutes old. Nothing here logs a password or a name.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import hmac
import logging
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.mediation.domain import throttle
from shared.auth import ROLES, Staff, hash_password, verify_password
from shared.config import Settings
from shared.messaging.envelope import utcnow
from shared.taxonomy import community_codes

log = logging.getLogger(__name__)

MIN_PASSWORD = 10
# Checked against when the username is unknown, so a miss costs the same time as a wrong password.
_DUMMY_HASH = hash_password("not-a-real-password-only-for-timing")

# Demo accounts for local runs only (`make run` prints them); refused when ENV=production.
DEMO_USERS: tuple[dict[str, Any], ...] = (
    {
        "username": "mediator",
        "password": "mediator-demo-1",
        "role": "mediator",
        "studio": "zhihe",
        "name": "陈敏",
    },
    {
        "username": "lead",
        "password": "lead-demo-1234",
        "role": "studio_lead",
        "studio": "zhihe",
        "name": "王立",
    },
    {
        "username": "patrol",
        "password": "patrol-demo-1",
        "role": "patrol_member",
        "team": "qinghe-patrol",
        "name": "马军",
    },
    {"username": "admin", "password": "admin-demo-1234", "role": "district_admin", "name": "郑华"},
    # Council (services/council): the seed community's committee and the leader of buildings 1 and 2.
    {
        "username": "committee",
        "password": "committee-demo-1",
        "role": "committee_member",
        "community": "lianhua",
        "name": "魏芳",
    },
    {
        "username": "building",
        "password": "building-demo-1",
        "role": "building_leader",
        "community": "lianhua",
        "buildings": ("1", "2"),
        "name": "赵强",
    },
)


class UserError(Exception):
    """Bad account data (unknown role, weak password, taken username)."""


class LoginLocked(Exception):
    def __init__(self, until: datetime) -> None:
        super().__init__(f"locked until {until.isoformat()}")
        self.until = until


@dataclass(frozen=True)
class NewUser:
    username: str
    password: str
    role: str
    name: str = ""
    studio: str | None = None
    team: str | None = None
    email: str | None = None
    language: str = "zh-CN"
    community: str | None = None  # council's committee members and building leaders
    buildings: tuple[str, ...] = ()  # a building leader's buildings


def ensure_user_indexes(db: Database) -> None:
    db.login_failures.create_index("updated_at")


def create_user(db: Database, user: NewUser) -> dict[str, Any]:
    """Store a new account with an argon2 hash; the studio or team must exist in the registry."""
    username = user.username.strip().lower()
    if not username or len(username) > 40 or not all(ch.isalnum() or ch in "._-" for ch in username):
        raise UserError("A username is 1 to 40 letters, digits, '.', '_' or '-'.")
    if user.role not in ROLES:
        raise UserError(f"Unknown role {user.role!r}; one of: {', '.join(ROLES)}.")
    if len(user.password) < MIN_PASSWORD:
        raise UserError(f"A password needs at least {MIN_PASSWORD} characters.")
    if user.role in ("mediator", "studio_lead") and not user.studio:
        raise UserError("Mediators and studio leads belong to a studio (--studio).")
    if user.role == "patrol_member" and not user.team:
        raise UserError("Patrol members belong to a team (--team).")
    if user.studio and db.studios.find_one({"_id": user.studio}, {"_id": 1}) is None:
        raise UserError(f"No studio {user.studio}.")
    if user.team and db.patrol_teams.find_one({"_id": user.team}, {"_id": 1}) is None:
        raise UserError(f"No patrol team {user.team}.")
    if user.role in ("committee_member", "building_leader") and user.community not in community_codes():
        raise UserError("Committee members and building leaders serve a community (--community).")
    if user.role == "building_leader" and not user.buildings:
        raise UserError("Building leaders lead one or more buildings (--buildings 1,2).")
    doc = {
        "_id": username,
        "name": user.name or username,
        "password_hash": hash_password(user.password),
        "roles": [user.role],
        "studio": user.studio,
        "team": user.team,
        "email": user.email,
        "language": user.language,
        "community": user.community,
        "buildings": list(user.buildings),
        "active": True,
        "created_at": utcnow(),
    }
    try:
        db.users.insert_one(doc)
    except DuplicateKeyError as err:
        raise UserError(f"The username {username} is taken.") from err
    return doc


def staff_of(user: dict[str, Any]) -> Staff:
    return Staff(
        user_id=user["_id"],
        name=user.get("name", user["_id"]),
        roles=frozenset(user.get("roles", [])),
        studio=user.get("studio"),
        team=user.get("team"),
        language=user.get("language", "zh-CN"),
        community=user.get("community"),
        buildings=tuple(user.get("buildings") or ()),
    )


def throttle_key(username: str, address: str, secret: str) -> str:
    """A keyed hash of username and address: an IP address is personal data, never stored as is."""
    return hmac.new(secret.encode(), f"{username}|{address}".encode(), hashlib.sha256).hexdigest()[:40]


def authenticate(
    db: Database, username: str, password: str, address: str, secret: str, now: datetime | None = None
) -> Staff | None:
    """The staff identity for a correct password, None for a wrong one; LoginLocked when throttled.

    An unknown username costs a hash check too, so timing does not tell which usernames exist.
    """
    now = now or utcnow()
    username = username.strip().lower()[:40]
    key = throttle_key(username, address, secret)
    record = db.login_failures.find_one({"_id": key}) or {}
    failures = throttle.recent(record.get("failures", []), now)
    until = throttle.locked_until(failures, now)
    if until is not None:
        raise LoginLocked(until)
    user = db.users.find_one({"_id": username, "active": True})
    stored_hash = user["password_hash"] if user else _DUMMY_HASH
    if user is not None and verify_password(stored_hash, password):
        db.login_failures.delete_one({"_id": key})
        return staff_of(user)
    if user is None:
        verify_password(stored_hash, password)
    db.login_failures.update_one(
        {"_id": key}, {"$set": {"failures": [*failures, now], "updated_at": now}}, upsert=True
    )
    log.info("login failed", extra={"failures": len(failures) + 1})
    return None


def seed_demo_users(db: Database, settings: Settings) -> list[dict[str, Any]]:
    """Create the demo accounts that are missing (development only); returns all of them."""
    if settings.is_production:
        raise UserError("Demo users are never created in production.")
    for demo in DEMO_USERS:
        if db.users.find_one({"_id": demo["username"]}, {"_id": 1}) is None:
            create_user(db, NewUser(**demo))
    return list(DEMO_USERS)


# Command line -----------------------------------------------------------------------------------
def _read_password(stdin: Any = sys.stdin) -> str:
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Again: "):
            raise UserError("The passwords differ.")
        return first
    return stdin.readline().rstrip("\n")


def main(argv: list[str] | None = None) -> int:
    from services.mediation.bootstrap import bootstrap, ensure_indexes
    from services.mediation.registry import seed_registry

    parser = argparse.ArgumentParser(prog="python -m services.mediation.staff_accounts")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a staff account (password prompted or from stdin)")
    create.add_argument("--username", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", default="")
    create.add_argument("--studio")
    create.add_argument("--team")
    create.add_argument("--email")
    create.add_argument("--language", default="zh-CN", choices=["zh-CN", "en"])
    create.add_argument("--community", help="council roles: the community served")
    create.add_argument("--buildings", default="", help="building leaders: comma-separated buildings")
    commands.add_parser("seed-demo", help="create the demo accounts (development only) and print them")
    args = parser.parse_args(argv)

    mediation = bootstrap()
    db = mediation.db
    ensure_indexes(db)
    seed_registry(db)  # accounts name studios and teams: make sure the registry exists
    try:
        if args.command == "create":
            user = create_user(
                db,
                NewUser(
                    username=args.username,
                    password=_read_password(),
                    role=args.role,
                    name=args.name,
                    studio=args.studio,
                    team=args.team,
                    email=args.email,
                    language=args.language,
                    community=args.community,
                    buildings=tuple(b.strip() for b in args.buildings.split(",") if b.strip()),
                ),
            )
            print(f"created {user['_id']} ({args.role})")
        else:
            print("Demo staff accounts (development only):")
            for demo in seed_demo_users(db, mediation.settings):
                where = demo.get("studio") or demo.get("team") or demo.get("community") or "district"
                if demo.get("buildings"):
                    where += f", buildings {','.join(demo['buildings'])}"
                print(f"  {demo['role']:<16} {demo['username']:<10} {demo['password']:<18} ({where})")
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
