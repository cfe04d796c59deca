"""The desk's search rules (pure): what a query means, how personal data is matched without being
stored again in plain text, and which lifecycle states "open", "ended" and "archived" cover.

Phones and names are matched through keyed hashes (HMAC-SHA256 with the service's secret key) kept
on the case as `search_keys`: one for each party's (and the filer's) normalised full phone number,
one for its last four digits, one for the normalised full name. The case already holds the names
and phones for its mediators; the keys add no plain data, and a copy of the collection (a backup, an
export) does not give a phone's last four digits away: without the key, a 10,000-value space is
no easier to read than the full number. An exact, indexed match on a key is what keeps a search
fast with 20,000 cases in a studio; a name matches whole (after normalisation), not by substring,
which is also what keeps a search from listing every 王 of the district.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.mediation.domain import lifecycle as lc

OPEN = "open"
ENDED = "ended"
ARCHIVED = "archived"
STATE_GROUPS: Mapping[str, tuple[str, ...]] = {
    OPEN: lc.OPEN_STATES,
    ENDED: tuple(s for s in lc.CLOSED_STATES if s != lc.ARCHIVED),
    ARCHIVED: (lc.ARCHIVED,),
}

# What the query box matched on: the access log records the last three (personal data).
BY_REFERENCE = "reference"
BY_PHONE = "phone"
BY_PHONE_LAST4 = "phone_last4"
BY_NAME = "name"
PERSONAL_KINDS = (BY_PHONE, BY_PHONE_LAST4, BY_NAME)

# Case references as intake issues them (`LC-2026-000123`), matched whole (any case of letters).
_REFERENCE = re.compile(r"^[A-Za-z]{2}-\d{4}-\d{6}$")
_PHONE_NOISE = re.compile(r"[\s\-().]")
# Mobile and landline numbers: 7 to 15 digits once spaces, dashes and the country code are gone.
MIN_PHONE_DIGITS = 7
MAX_QUERY = 100


def normalise_phone(phone: str | None) -> str:
    """Digits only, without the +86 / 0086 country code: `+86 138-0013 8000` -> `13800138000`."""
    digits = _PHONE_NOISE.sub("", unicodedata.normalize("NFKC", phone or ""))
    if digits.startswith("+"):
        digits = digits[1:]
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if digits.isdigit() else ""


def normalise_name(name: str | None) -> str:
    """Full-width to half-width (NFKC), case folded, all spaces and middle dots removed: `Zhang
    San`, `zhang san` and its full-width spelling are one name; a name with a middle dot (as
    Uyghur names are written in Chinese) matches without it."""
    folded = unicodedata.normalize("NFKC", name or "").casefold()
    return "".join(ch for ch in folded if not ch.isspace() and ch not in "·・.")


def key(secret: str, kind: str, value: str) -> str:
    """The keyed hash stored and searched for one normalised value (hex, 128 bits)."""
    digest = hmac.new(secret.encode(), f"concord-search:{kind}:{value}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def key_id(secret: str) -> str:
    """Which key made a case's `search_keys` (a rotated secret re-indexes the cases)."""
    return key(secret, "key-id", "")[:12]


def people_of(case: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    """Everyone on the case whose name or phone a search may match: the parties and the filer."""
    yield from case.get("parties") or []
    if case.get("filer"):
        yield case["filer"]


def case_keys(case: Mapping[str, Any], secret: str) -> list[str]:
    """The `search_keys` of a case: full phone, its last four digits and full name per person."""
    keys: set[str] = set()
    for person in people_of(case):
        phone = normalise_phone(person.get("phone"))
        if len(phone) >= MIN_PHONE_DIGITS:
            keys.add(key(secret, BY_PHONE, phone))
            keys.add(key(secret, BY_PHONE_LAST4, phone[-4:]))
        name = normalise_name(person.get("name"))
        if name:
            keys.add(key(secret, BY_NAME, name))
    return sorted(keys)


@dataclass(frozen=True)
class Match:
    """What the query box asks for: a reference prefix, or one keyed hash of personal data."""

    kind: str
    value: str  # the reference prefix, or the key to look up (never the phone or name itself)


def interpret(query: str, secret: str) -> Match | None:
    """The query box read as a reference, a full phone number, a phone's last four digits or a
    name; None for an empty box. Four digits are a phone's last four (references have a year)."""
    text = unicodedata.normalize("NFKC", query or "").strip()[:MAX_QUERY]
    if not text:
        return None
    phone = normalise_phone(text)
    if phone and len(phone) == 4:
        return Match(BY_PHONE_LAST4, key(secret, BY_PHONE_LAST4, phone))
    if phone and len(phone) >= MIN_PHONE_DIGITS:
        return Match(BY_PHONE, key(secret, BY_PHONE, phone))
    if _REFERENCE.match(text):
        return Match(BY_REFERENCE, text.upper())
    return Match(BY_NAME, key(secret, BY_NAME, normalise_name(text)))
