"""The public accounts (公共收益公示): entries with their voucher scans, approval by a second committee
member, monthly statements, residents' questions (verified by their flat's resident code) and the
committee's public answers. The rules are `domain/accounts.py`; this module stores and reads.

Collections (`<prefix>_council`):
- `account_entries`: {_id, community, day (ISO date), kind, category, amount_fen (int: exact, never a
  float), counterparty, counterparty_private (bool: a private person, shown masked), note,
  voucher {id, content_type, size}, entered_by, entered_at, approved_by, approved_at}. Approval is a
  conditional update (not yet approved, not by its author), so two approvals cannot both win and an
  author cannot approve even by racing.
- `account_questions`: {_id, community, entry_id, flat_id, text, asked_at, public_text, answer,
  answered_by, answered_at}. The public sees a question only once answered, in the wording the
  answering member published (`public_text`: a resident may have written a name or a phone), and
  never which flat asked.
- `resident_codes`: {_id: flat_id, community, hash, issued_at, issued_by}: one code per flat, printed
  for the household; stored only as a keyed hash bound to the flat (HMAC-SHA256 with the service's
  secret key) and compared in constant time; wrong codes are limited per flat and per client.
- GridFS bucket `account_vouchers` (metadata: community, entry_id).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pymongo import ASCENDING
from pymongo.client_session import ClientSession

from services.council.bootstrap import Council
from services.council.domain import accounts as rules
from services.council.photos import StoredFile, check_voucher, discard, read, store
from services.council.plan import fen, parse_decimal, upload_code, yuan
from shared.auth import Staff
from shared.db import in_transaction
from shared.masking import mask_name
from shared.messaging.envelope import new_id, utcnow
from shared.taxonomy import community_codes
from shared.uploads import Upload, UploadError
from shared.web.ratelimit import RateLimit, RateLimiter

BUCKET = "account_vouchers"
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"  # no look-alikes (0/O, 1/I/L, 2/Z, 5/S, 8/B)
CODE_LENGTH = 10
# Code checks per flat and hour: a household mistyping (or asking twice) has room; guessing one of
# 25^10 codes at this pace is hopeless.
FLAT_TRIES = RateLimit(8, 3600)
TEXT_MAX = 1000
NOTE_MAX = 500
ENTRY_FIELDS = ("day", "kind", "category", "amount", "counterparty", "counterparty_private", "note")


class NotAllowed(Exception):
    """Only the community's committee members keep its accounts."""


class NotFound(Exception):
    """No such community, entry, question or file."""


class Refused(Exception):
    """Bad input or a refused step, nothing changed: `errors` maps a field to reason codes."""

    def __init__(self, errors: Mapping[str, list[str]], status: int = 422) -> None:
        super().__init__("; ".join(f"{k}: {','.join(v)}" for k, v in errors.items()))
        self.errors = dict(errors)
        self.status = status


class TooManyTries(Exception):
    """Too many wrong codes for this flat or from this client: try again later."""


# Who -------------------------------------------------------------------------------------------------
def check_community(community: str) -> None:
    if community not in community_codes():
        raise NotFound(f"No community {community}.")


def may_keep(staff: Staff, community: str) -> bool:
    """The community's committee members enter, approve and answer."""
    return staff.has_role("committee_member") and staff.community == community


def may_read_staff_view(staff: Staff, community: str) -> bool:
    """Unpublished entries: the committee, and district admins who oversee."""
    return may_keep(staff, community) or staff.has_role("district_admin")


def require_keep(staff: Staff, community: str) -> None:
    check_community(community)
    if not may_keep(staff, community):
        raise NotAllowed("Only the community's committee members keep its accounts.")


def beijing_today(now: datetime) -> date:
    return now.astimezone(rules.BEIJING).date()


# Entries ---------------------------------------------------------------------------------------------
def as_entry(doc: Mapping[str, Any]) -> rules.Entry:
    """A stored entry as the rules see it (amount back to exact yuan)."""
    approved_at = doc.get("approved_at")
    approved_at = _aware(approved_at) if approved_at is not None else None
    return rules.Entry(
        entry_id=doc["_id"],
        day=date.fromisoformat(doc["day"]),
        kind=doc["kind"],
        category=doc["category"],
        amount=Decimal(doc["amount_fen"]) / 100,
        counterparty=doc.get("counterparty", ""),
        entered_by=doc["entered_by"],
        approved_by=doc.get("approved_by"),
        approved_at=approved_at,
    )


def _aware(value: datetime) -> datetime:
    """A stored datetime as an aware UTC one (whether or not the client is tz_aware)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_entry(
    values: Mapping[str, str], staff: Staff, today: date
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The form's or API's fields (strings) to a stored entry's fields, and every problem."""
    errors: dict[str, list[str]] = {}
    for name in sorted(set(values) - set(ENTRY_FIELDS)):
        errors.setdefault(name, []).append("not_a_field")
    text = {k: str(values.get(k) or "").strip() for k in ENTRY_FIELDS}
    day = None
    try:
        day = date.fromisoformat(text["day"])
    except ValueError:
        errors.setdefault("day", []).append("bad_date")
    amount = parse_decimal(text["amount"], 2)
    if len(text["counterparty"]) > 200:
        errors.setdefault("counterparty", []).append("too_long")
    if len(text["note"]) > NOTE_MAX:
        errors.setdefault("note", []).append("too_long")
    entry = rules.Entry(
        entry_id="new",
        day=day or today,
        kind=text["kind"],
        category=text["category"],
        amount=amount if amount is not None else Decimal("-1"),
        counterparty=text["counterparty"],
        entered_by=staff.user_id,
    )
    field_of = {
        "bad_kind": "kind",
        "bad_category": "category",
        "bad_amount": "amount",
        "no_counterparty": "counterparty",
        "future_date": "day",
        "no_author": "kind",
    }
    for code in rules.entry_problems(entry, today):
        errors.setdefault(field_of.get(code, "kind"), []).append(code)
    fields_ = {
        "day": text["day"],
        "kind": text["kind"],
        "category": text["category"],
        "amount_fen": fen(amount) if amount is not None and "amount" not in errors else None,
        "counterparty": text["counterparty"],
        "counterparty_private": text["counterparty_private"].lower() in ("yes", "true", "1", "on", "是"),
        "note": text["note"],
    }
    return fields_, errors


def create_entry(
    council: Council,
    community: str,
    values: Mapping[str, str],
    voucher: Upload | None,
    staff: Staff,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Enter an entry with its voucher scan (required: PDF, JPEG or PNG, checked by content). It is
    not published until a second committee member approves it."""
    require_keep(staff, community)
    now = now or utcnow()
    fields_, errors = parse_entry(values, staff, beijing_today(now))
    checked = None
    try:
        checked = check_voucher(voucher) if voucher is not None else None
    except UploadError as err:
        errors.setdefault("voucher", []).append(upload_code(err))
    if checked is None and "voucher" not in errors:
        errors["voucher"] = ["required"]
    if errors or checked is None:
        raise Refused(errors)
    entry_id = new_id()
    stored = store(
        council, BUCKET, checked.content, checked.content_type, {"community": community, "entry_id": entry_id}
    )
    doc = {
        "_id": entry_id,
        "community": community,
        **fields_,
        "voucher": stored.as_dict(),
        "entered_by": staff.user_id,
        "entered_at": now,
        "approved_by": None,
        "approved_at": None,
    }
    try:
        council.db.account_entries.insert_one(doc)  # one document: atomic without a transaction
    except Exception:
        discard(council, BUCKET, [StoredFile(stored.id, stored.content_type, stored.size)])
        raise
    return staff_view(doc)


def approve(
    council: Council, community: str, entry_id: str, staff: Staff, now: datetime | None = None
) -> dict[str, Any]:
    """A second committee member approves (and so publishes) an entry: never its author, once."""
    require_keep(staff, community)
    now = now or utcnow()
    doc = council.db.account_entries.find_one({"_id": entry_id, "community": community})
    if doc is None:
        raise NotFound(f"No entry {entry_id}.")
    decision = rules.can_approve(as_entry(doc), staff.user_id, may_keep(staff, community))
    if not decision.allowed:
        raise Refused({"entry": [decision.reason or "refused"]}, status=409)
    # The conditions again in the write itself: a concurrent approval, or the author, cannot slip in.
    done = council.db.account_entries.update_one(
        {"_id": entry_id, "approved_by": None, "entered_by": {"$ne": staff.user_id}},
        {"$set": {"approved_by": staff.user_id, "approved_at": now}},
    )
    if done.modified_count != 1:
        raise Refused({"entry": ["already_approved"]}, status=409)
    updated = council.db.account_entries.find_one({"_id": entry_id})
    assert updated is not None
    return staff_view(updated)


def staff_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """An entry as the committee sees it (who entered and approved it, the voucher's id)."""
    return public_view(doc) | {
        "counterparty": doc.get("counterparty", ""),
        "entered_by": doc["entered_by"],
        "entered_at": doc.get("entered_at"),
        "approved_by": doc.get("approved_by"),
        "approved": doc.get("approved_by") is not None,
    }


def public_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """An entry as the public sees it: a private counterparty masked (王**), no committee ids."""
    counterparty = doc.get("counterparty", "")
    if doc.get("counterparty_private"):
        counterparty = mask_name(counterparty)
    approved_at = doc.get("approved_at")
    return {
        "id": doc["_id"],
        "community": doc["community"],
        "day": doc["day"],
        "kind": doc["kind"],
        "category": doc["category"],
        "amount": yuan(doc["amount_fen"]),
        "counterparty": counterparty,
        "note": doc.get("note", ""),
        "voucher": (doc.get("voucher") or {}).get("content_type"),
        "published_at": approved_at,
        "questions_until": rules.question_deadline(_aware(approved_at)) if approved_at else None,
        # The last whole day residents may ask on, as they read dates (the deadline is the next midnight).
        "questions_last_day": (
            (rules.question_deadline(_aware(approved_at)) - timedelta(microseconds=1)).date().isoformat()
            if approved_at
            else None
        ),
    }


def entries(council: Council, community: str, staff: Staff) -> list[dict[str, Any]]:
    """Every entry, unapproved ones first, then newest first (the committee's list)."""
    check_community(community)
    if not may_read_staff_view(staff, community):
        raise NotAllowed("Not a member of this community's committee.")
    docs = list(council.db.account_entries.find({"community": community}))
    docs.sort(
        key=lambda d: (d.get("approved_by") is not None, _neg_day(d["day"]), -d["entered_at"].timestamp())
    )
    return [staff_view(d) for d in docs]


def _neg_day(day: str) -> int:
    return -date.fromisoformat(day).toordinal()


def published(council: Council, community: str) -> list[dict[str, Any]]:
    """The approved entries, newest first."""
    check_community(community)
    docs = list(council.db.account_entries.find({"community": community, "approved_by": {"$ne": None}}))
    docs.sort(key=lambda d: (d["day"], d["_id"]), reverse=True)
    return [public_view(d) for d in docs]


def monthly_statements(
    council: Council, community: str, now: datetime | None = None
) -> list[rules.Statement]:
    """Statements from the month of the first approved entry to this month (Beijing), opening at 0
    (the accounts start with their first entry), each month opening with the previous closing."""
    check_community(community)
    today = beijing_today(now or utcnow())
    docs = list(council.db.account_entries.find({"community": community, "approved_by": {"$ne": None}}))
    if not docs:
        return []
    all_entries = [as_entry(d) for d in docs]
    first = min(e.day for e in all_entries)
    last = max(max(e.day for e in all_entries), today)
    return rules.statements(all_entries, (first.year, first.month), (last.year, last.month), Decimal(0))


def voucher(council: Council, community: str, entry_id: str, staff: Staff | None) -> tuple[bytes, str]:
    """An entry's voucher scan: anyone for a published entry, the committee for any."""
    doc = council.db.account_entries.find_one({"_id": entry_id, "community": community})
    if doc is None or not doc.get("voucher"):
        raise NotFound("No voucher.")
    if doc.get("approved_by") is None and (staff is None or not may_read_staff_view(staff, community)):
        raise NotFound("No voucher.")
    found = read(council, BUCKET, doc["voucher"]["id"], community)
    if found is None:
        raise NotFound("No voucher.")
    return found


# Resident codes ------------------------------------------------------------------------------------------
def normalise_code(raw: str) -> str:
    """A code as typed: separators dropped, upper case, full-width characters folded to ASCII."""
    folded = "".join(chr(ord(c) - 0xFEE0) if "\uff01" <= c <= "\uff5e" else c for c in (raw or "").strip())
    return folded.translate(str.maketrans("", "", " -_.\u3000")).upper()


def code_hash(secret: str, flat_id: str, code: str) -> str:
    """The keyed hash a resident code is stored by, bound to its flat."""
    return hmac.new(
        secret.encode(), f"resident-code\x00{flat_id}\x00{code}".encode(), hashlib.sha256
    ).hexdigest()


def issue_codes(
    council: Council, community: str, staff: Staff, reissue: str | None = None
) -> list[dict[str, str]]:
    """New resident codes for every flat that has none (or for the flat `reissue`, replacing its
    code), returned once for printing: only their hashes are kept."""
    require_keep(staff, community)
    query: dict[str, Any] = {"community": community}
    if reissue is not None:
        query["_id"] = reissue
    flats = list(
        council.db.flats.find(query).sort([("building", ASCENDING), ("unit", ASCENDING), ("flat", ASCENDING)])
    )
    if reissue is not None and not flats:
        raise NotFound(f"No flat {reissue}.")
    have = {d["_id"] for d in council.db.resident_codes.find({"community": community}, {"_id": 1})}
    now = utcnow()
    out = []
    for f in flats:
        flat_id = str(f["_id"])
        if reissue is None and flat_id in have:
            continue
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        council.db.resident_codes.replace_one(
            {"_id": flat_id},
            {
                "_id": flat_id,
                "community": community,
                "hash": code_hash(council.settings.secret_key, flat_id, code),
                "issued_at": now,
                "issued_by": staff.user_id,
            },
            upsert=True,
        )
        label = "-".join(str(f.get(k) or "") for k in ("building", "unit", "flat"))
        out.append({"flat_id": flat_id, "flat": label, "code": f"{code[:5]}-{code[5:]}"})
    return out


def verify_flat(
    council: Council, community: str, building: str, unit: str, flat: str, code: str
) -> str | None:
    """The flat's id when (building, unit, flat) and its resident code match, else None. Raises
    TooManyTries once a flat has had FLAT_TRIES checks this hour: every check counts, before the
    comparison, so a guesser who is over the limit learns nothing even from the right code. An
    unknown flat costs the same hash and comparison as a known one, and answers the same "no"."""
    doc = council.db.flats.find_one(
        {"community": community, "building": building.strip(), "unit": unit.strip(), "flat": flat.strip()},
        {"_id": 1},
    )
    flat_id = str(doc["_id"]) if doc else "no-such-flat"
    limiter = RateLimiter(council.db.rate_limits, FLAT_TRIES, council.settings.secret_key)
    if not limiter.hit(f"resident-code:{community}", address=f"flat:{flat_id}"):
        raise TooManyTries()
    row = council.db.resident_codes.find_one({"_id": flat_id}) if doc else None
    stored = row["hash"] if row else "0" * 64
    ok = hmac.compare_digest(code_hash(council.settings.secret_key, flat_id, normalise_code(code)), stored)
    return flat_id if ok and doc is not None and row is not None else None


# Questions -----------------------------------------------------------------------------------------------
def ask(
    council: Council,
    community: str,
    entry_id: str,
    flat: tuple[str, str, str],
    code: str,
    text: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A resident's question about a published entry within its 15 days, verified by the flat's
    resident code. Refused (nothing stored) for a closed window, a wrong code or an empty question."""
    check_community(community)
    now = now or utcnow()
    doc = council.db.account_entries.find_one({"_id": entry_id, "community": community})
    if doc is None or doc.get("approved_by") is None:
        raise NotFound(f"No published entry {entry_id}.")
    decision = rules.can_ask(as_entry(doc), now)
    if not decision.allowed:
        raise Refused({"entry": [decision.reason or "refused"]}, status=409)
    text = (text or "").strip()
    if not text:
        raise Refused({"text": ["required"]})
    if len(text) > TEXT_MAX:
        raise Refused({"text": ["too_long"]})
    flat_id = verify_flat(council, community, *flat, code)
    if flat_id is None:
        raise Refused({"code": ["wrong_code"]})
    question = {
        "_id": new_id(),
        "community": community,
        "entry_id": entry_id,
        "flat_id": flat_id,
        "text": text,
        "asked_at": now,
        "public_text": None,
        "answer": None,
        "answered_by": None,
        "answered_at": None,
    }
    council.db.account_questions.insert_one(question)
    return {"id": question["_id"], "entry_id": entry_id, "asked_at": now}


def questions_open(council: Council, community: str, entry_id: str, now: datetime | None = None) -> bool:
    """May residents still ask about this entry (published, within its 15 days)?"""
    doc = council.db.account_entries.find_one({"_id": entry_id, "community": community})
    return doc is not None and rules.can_ask(as_entry(doc), now or utcnow()).allowed


def answer(
    council: Council,
    community: str,
    question_id: str,
    answer_text: str,
    public_text: str | None,
    staff: Staff,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A committee member answers publicly; `public_text` is the question as published (defaults to
    the resident's words: the member removes any name or phone in it first)."""
    require_keep(staff, community)
    now = now or utcnow()
    answer_text = (answer_text or "").strip()
    errors: dict[str, list[str]] = {}
    if not answer_text:
        errors["answer"] = ["required"]
    elif len(answer_text) > TEXT_MAX:
        errors["answer"] = ["too_long"]
    doc = council.db.account_questions.find_one({"_id": question_id, "community": community})
    if doc is None:
        raise NotFound(f"No question {question_id}.")
    shown = (public_text or "").strip() or doc["text"]
    if len(shown) > TEXT_MAX:
        errors["public_text"] = ["too_long"]
    if errors:
        raise Refused(errors)

    def work(session: ClientSession) -> None:
        council.db.account_questions.update_one(
            {"_id": question_id},
            {
                "$set": {
                    "answer": answer_text,
                    "public_text": shown,
                    "answered_by": staff.user_id,
                    "answered_at": now,
                }
            },
            session=session,
        )

    in_transaction(council.db, work)
    return {"id": question_id, "question": shown, "answer": answer_text, "answered_at": now}


def open_questions(council: Council, community: str, staff: Staff) -> list[dict[str, Any]]:
    """Questions waiting for an answer, oldest first (never which flat asked)."""
    require_keep(staff, community)
    rows = council.db.account_questions.find({"community": community, "answer": None}).sort(
        "asked_at", ASCENDING
    )
    return [
        {"id": r["_id"], "entry_id": r["entry_id"], "text": r["text"], "asked_at": r["asked_at"]}
        for r in rows
    ]


def answered_questions(council: Council, community: str) -> dict[str, list[dict[str, Any]]]:
    """Published questions and answers by entry, for the public."""
    out: dict[str, list[dict[str, Any]]] = {}
    rows = council.db.account_questions.find({"community": community, "answer": {"$ne": None}}).sort(
        "answered_at", ASCENDING
    )
    for r in rows:
        out.setdefault(r["entry_id"], []).append(
            {"question": r["public_text"], "answer": r["answer"], "answered_at": r["answered_at"]}
        )
    return out


def waiting_counts(council: Council, community: str) -> dict[str, int]:
    """Unanswered questions per entry (the public sees that a question waits, not what it says)."""
    out: dict[str, int] = {}
    for r in council.db.account_questions.find({"community": community, "answer": None}, {"entry_id": 1}):
        out[r["entry_id"]] = out.get(r["entry_id"], 0) + 1
    return out
