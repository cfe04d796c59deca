"""Residents' choices: which channels to use, and opting out of non-essential messages.

A resident reaches their preferences through a signed link in the messages they get; the link
names only the case and their place in it (never a phone number or an email address). A household
(council's flat) has one set of preferences per community and flat, `household:<community>:<flat>`,
reached the same way from every SMS it gets: community notices yes/no (opt-in) and the channel. Essential
legal notices (session invitations, the closing of a case) still go out after an opt-out, and if
the chosen channels leave none for such a notice, every channel they have is used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from itsdangerous import BadSignature, Signer, URLSafeSerializer

_SALT = "concord-notify-preferences"
_HOUSEHOLD = "household:"
_HOUSEHOLD_SALT = "concord-notify-household-preferences"
# A household's link rides in every SMS it gets, where every character counts: its token is the
# readable "<community>:<flat>" with a signature, not a serialized payload (about 40% shorter).
_COMPACT = re.compile(r"[A-Za-z0-9_:-]+")


def preference_key(reference: str, recipient_key: str) -> str:
    """The preferences of one resident in one case, e.g. "LC-2026-000001:applicant:0"."""
    return f"{reference}:{recipient_key}"


def make_token(secret_key: str, key: str) -> str:
    """A signed, URL-safe token for the preferences link (no expiry: it sits in old messages)."""
    household = key.removeprefix(_HOUSEHOLD)
    if key.startswith(_HOUSEHOLD) and _COMPACT.fullmatch(household):
        return Signer(secret_key, salt=_HOUSEHOLD_SALT).sign(household).decode("ascii")
    return URLSafeSerializer(secret_key, salt=_SALT).dumps({"k": key})


def read_token(secret_key: str, token: str) -> str | None:
    """The preference key a token names, or None when it was not signed by us."""
    try:
        claims = URLSafeSerializer(secret_key, salt=_SALT).loads(token)
    except BadSignature:
        try:
            household = Signer(secret_key, salt=_HOUSEHOLD_SALT).unsign(token).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return None
        return _HOUSEHOLD + household if _COMPACT.fullmatch(household) else None
    key = claims.get("k") if isinstance(claims, dict) else None
    return key if isinstance(key, str) else None


def choose_channels(
    rule_channels: Iterable[str],
    available: Iterable[str],
    preferences: Mapping[str, Any] | None,
    *,
    essential: bool,
    opt_in: bool = False,
) -> list[str]:
    """The channels to use for one message to one recipient.

    `available`: channels the recipient has an address for and that are configured. An `opt_in`
    message (a household's community notices) goes only to those whose preferences ask for it.
    """
    usable = [c for c in rule_channels if c in set(available)]
    if opt_in and not essential and not (preferences and preferences.get("community_notices")):
        return []
    if not preferences:
        return usable
    if preferences.get("opt_out") and not essential:
        return []
    chosen = [c for c in usable if c in set(preferences.get("channels") or ())]
    if not chosen and essential:
        return usable  # a legal notice must reach them on some channel
    return chosen
