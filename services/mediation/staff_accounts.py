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
import secrets
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.mediation.domain import administration, throttle
from services.mediation.registry import record_audit
from shared import staff_access
from shared.auth import ROLES, Staff, hash_password, verify_password
from shared.config import Settings
from shared.db import transaction
from shared.messaging.envelope import utcnow
from shared.outbox import Outbox
from shared.taxonomy import community_codes
from shared.web.i18n import N_

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
    """Bad account data (unknown role, weak password, taken username).

    `message` is a catalog msgid with %(name)s placeholders filled from `params`, so pages show it
    in the reader's language (`gettext(err.message, **err.params)`) and the command line in English.
    """

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


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


def check_assignment(
    db: Database,
    role: str,
    studio: str | None,
    team: str | None,
    community: str | None,
    buildings: tuple[str, ...] | list[str],
) -> None:
    """Refuse a role without the place it needs (a studio, a team, a community and buildings)."""
    if role not in ROLES:
        raise UserError(N_("Unknown role %(role)s; one of: %(roles)s."), role=role, roles=", ".join(ROLES))
    if role in ("mediator", "studio_lead") and not studio:
        raise UserError(N_("Mediators and studio leads belong to a studio."))
    if role == "patrol_member" and not team:
        raise UserError(N_("Patrol members belong to a team."))
    if studio and db.studios.find_one({"_id": studio}, {"_id": 1}) is None:
        raise UserError(N_("No studio %(code)s."), code=studio)
    if team and db.patrol_teams.find_one({"_id": team}, {"_id": 1}) is None:
        raise UserError(N_("No patrol team %(code)s."), code=team)
    if role in ("committee_member", "building_leader") and community not in community_codes():
        raise UserError(N_("Committee members and building leaders serve a community."))
    if role == "building_leader" and not buildings:
        raise UserError(N_("Building leaders lead one or more buildings."))


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(N_("A password needs at least %(num)d characters."), num=MIN_PASSWORD)


def _place(role: str, studio: str | None, team: str | None, community: str | None, buildings: Any) -> dict:
    """The account's place for its role; a place the role has no use for is not kept."""
    return {
        "studio": studio if role in ("mediator", "studio_lead") else None,
        "team": team if role == "patrol_member" else None,
        "community": community if role in ("committee_member", "building_leader") else None,
        "buildings": list(buildings or ()) if role == "building_leader" else [],
    }


def create_user(db: Database, user: NewUser, actor: str | None = None) -> dict[str, Any]:
    """Store a new account with an argon2 hash; the studio or team must exist in the registry.

    With an `actor` (the administration pages) the creation is audited, without its password.
    """
    username = user.username.strip().lower()
    if not username or len(username) > 40 or not all(ch.isalnum() or ch in "._-" for ch in username):
        raise UserError(N_("A username is 1 to 40 letters, digits, '.', '_' or '-'."))
    check_assignment(db, user.role, user.studio, user.team, user.community, user.buildings)
    _check_password(user.password)
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
    if actor is not None:
        doc.update(_place(user.role, user.studio, user.team, user.community, user.buildings))
        doc["must_change_password"] = True  # the administrator knows it: its owner replaces it
    try:
        db.users.insert_one(doc)
    except DuplicateKeyError as err:
        raise UserError(N_("The username %(username)s is taken."), username=username) from err
    if actor is not None:
        shown = {k: v for k, v in doc.items() if k not in ("password_hash", "_id", "created_at")}
        _audit(db, actor, "create", username, {k: {"after": v} for k, v in shown.items()})
    return doc


# Administration (pages for district admins, and studio leads within their studio) -------------
ACCOUNT_FIELDS = {"password_hash": 0, "login_failures": 0}


def _audit(db: Database, actor: str, action: str, username: str, changes: dict) -> None:
    record_audit(db, None, actor, action, "user", username, changes)


def list_accounts(db: Database, studio: str | None = None) -> list[dict[str, Any]]:
    """Accounts without their hashes, by username; only one studio's when `studio` is given."""
    query = {"studio": studio} if studio else {}
    return list(db.users.find(query, ACCOUNT_FIELDS).sort("_id"))


def get_account(db: Database, username: str) -> dict[str, Any] | None:
    return db.users.find_one({"_id": username}, ACCOUNT_FIELDS)


def temporary_password() -> str:
    """A password an administrator hands over once; its owner must replace it at the next login."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read out over the phone
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))


def _update_and_revoke(db: Database, outbox: Outbox, username: str, update: dict[str, Any]) -> bool:
    """Apply `update` to the account and void its tokens issued until now, in every service
    (`shared.staff_access`): the change and the revocation commit together or not at all. False
    when there is no such account."""
    at = utcnow()
    published = []
    with transaction(db) as session:
        if db.users.update_one({"_id": username}, update, session=session).matched_count == 0:
            return False
        staff_access.record(db, username, at, session=session)
        published = outbox.add([staff_access.revoked_event(username, at, source="mediation")], session)
    outbox.flush(published)
    return True


def reset_password(db: Database, outbox: Outbox, username: str, actor: str) -> str:
    """Give an account a new temporary password (returned once, never stored in clear); whoever
    held the old one is logged out everywhere."""
    password = temporary_password()
    update = {"$set": {"password_hash": hash_password(password), "must_change_password": True}}
    if not _update_and_revoke(db, outbox, username, update):
        raise UserError(N_("No account %(username)s."), username=username)
    _audit(db, actor, "reset_password", username, {})
    return password


def set_active(db: Database, outbox: Outbox, username: str, active: bool, actor: str) -> dict[str, Any]:
    """Disable or enable an account; refuses disabling oneself and the last active district admin.
    A disabled account's tokens stop working in every service at once."""
    account = get_account(db, username)
    if account is None:
        raise UserError(N_("No account %(username)s."), username=username)
    if account.get("active", True) == active:
        return account
    if not active:
        admins = db.users.count_documents({"roles": "district_admin", "active": True})
        reason = administration.may_disable(
            actor, username, admins, "district_admin" in account.get("roles", [])
        )
        if reason == "self":
            raise UserError(N_("You cannot disable your own account."))
        if reason == "last_admin":
            raise UserError(N_("The last active district admin cannot be disabled."))
    if active:
        db.users.update_one({"_id": username}, {"$set": {"active": True}})
    else:
        _update_and_revoke(db, outbox, username, {"$set": {"active": False}})
    _audit(
        db,
        actor,
        "enable" if active else "disable",
        username,
        {"active": {"before": not active, "after": active}},
    )
    return {**account, "active": active}


def change_role(
    db: Database,
    outbox: Outbox,
    username: str,
    role: str,
    actor: str,
    studio: str | None = None,
    team: str | None = None,
    community: str | None = None,
    buildings: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Give an account another role and the place that role needs (audited: before and after).

    The staff token carries the roles, so its tokens issued before are voided in every service:
    the change applies from the account's next login, at once.
    """
    account = get_account(db, username)
    if account is None:
        raise UserError(N_("No account %(username)s."), username=username)
    check_assignment(db, role, studio, team, community, buildings)
    if account.get("roles") != [role] and "district_admin" in account.get("roles", []):
        admins = db.users.count_documents({"roles": "district_admin", "active": True})
        if administration.may_disable(actor, username, admins, True) is not None:
            raise UserError(N_("The last district admin, or your own admin role, cannot be taken away here."))
    new = {"roles": [role], **_place(role, studio, team, community, buildings)}
    diff = {k: {"before": account.get(k), "after": v} for k, v in new.items() if account.get(k) != v}
    if diff:
        _update_and_revoke(db, outbox, username, {"$set": new})
        _audit(db, actor, "change_role", username, diff)
    return {**account, **new}


def building_leaders(
    db: Database, community: str | None, building: str | None, session: Any = None
) -> list[dict[str, Any]]:
    """The active building leaders of a case's building, as events carry them (issue 14.5): notify
    tells them of its sessions and ending in their language. No phone: staff accounts hold none."""
    if not community or not building:
        return []
    rows = db.users.find(
        {"roles": "building_leader", "active": True, "community": community, "buildings": str(building)},
        {"name": 1, "email": 1, "language": 1},
        session=session,
    )
    return [
        {
            "user_id": u["_id"],
            "name": u.get("name") or u["_id"],
            "email": u.get("email"),
            "language": u.get("language"),
        }
        for u in rows
    ]


def needs_new_password(db: Database, username: str) -> bool:
    """Whether the account still has a password an administrator set (reset or creation)."""
    found = db.users.find_one({"_id": username.strip().lower()}, {"must_change_password": 1})
    return bool(found and found.get("must_change_password"))


def change_password(db: Database, username: str, current: str, new: str) -> None:
    """The account's owner replaces their password (the current one must be right)."""
    user = db.users.find_one({"_id": username, "active": True})
    if user is None or not verify_password(user["password_hash"], current):
        raise UserError(N_("The current password is not right."))
    _check_password(new)
    if new == current:
        raise UserError(N_("Choose a password different from the current one."))
    db.users.update_one(
        {"_id": username}, {"$set": {"password_hash": hash_password(new), "must_change_password": False}}
    )
    _audit(db, username, "change_password", username, {})


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
