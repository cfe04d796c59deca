"""A resident who lost their tracking link finds it again with the case's reference and the phone
they filed with: a one-time code goes to that phone by SMS (through notify), and the right code
gives them a new link (the lost one stops working: whoever finds it learns nothing more).

`request_code` says nothing: whether the reference exists, whether the phone is an applicant's, or
whether that pair is over its limit, the person asking gets the same answer. Only keyed hashes of
codes are stored; the code itself travels once, in `case.tracking_code_requested` from the outbox.
Wrong tries are counted per reference and phone, and per client, so a code cannot be guessed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError

from services.intake import filing
from services.intake.bootstrap import SERVICE, Intake
from services.intake.domain import case_rules
from shared.db import in_transaction
from shared.messaging.envelope import Envelope, make_envelope, utcnow
from shared.web.ratelimit import RateLimit, RateLimiter

log = logging.getLogger(__name__)

# SMS codes to one reference and phone, whoever asks: a phone is not flooded, and a text costs money.
CODES_PER_PAIR = RateLimit(3, 3600)
# Asking, from one client (an address), whatever the pairs: no sweeping through references.
ASKS_PER_CLIENT = RateLimit(10, 3600)
# Wrong codes: per reference and phone, and per client.
TRIES_PER_PAIR = RateLimit(5, 900)
TRIES_PER_CLIENT = RateLimit(20, 900)


class TooManyTries(Exception):
    """Over a limit: the page asks the resident to wait (nothing is said about the case)."""


@dataclass(frozen=True)
class Recovered:
    reference: str
    token: str


def _limiter(intake: Intake, rate: RateLimit) -> RateLimiter:
    return RateLimiter(intake.db.rate_limits, rate, intake.settings.secret_key)


def _pair(reference: str, phone: str) -> str:
    return f"{reference}|{case_rules.normalise_phone(phone)}"


def _applicant_with_phone(case: dict[str, Any], phone: str) -> tuple[str, dict[str, Any]] | None:
    """The applicant (party key, party) who filed with this phone, if any."""
    wanted = case_rules.normalise_phone(phone)
    applicants = [p for p in case.get("parties") or [] if p.get("role") == "applicant"]
    for index, party in enumerate(applicants):
        if wanted and case_rules.normalise_phone(party.get("phone") or "") == wanted:
            return case_rules.party_key(index), party
    return None


def request_code(
    intake: Intake, reference: str, phone: str, *, client: str | None = None, now: datetime | None = None
) -> None:
    """Text a code to `phone` if it is an applicant's of case `reference`; otherwise nothing, silently.
    Raises TooManyTries when this client asked too often (whatever the pairs)."""
    now = now or utcnow()
    if not _limiter(intake, ASKS_PER_CLIENT).hit("recover-ask", address=client, now=now.timestamp()):
        raise TooManyTries()
    reference = reference.strip().upper()
    if not case_rules.is_reference(reference):
        return
    case = intake.db.cases.find_one({"_id": reference}, {"parties": 1, "language": 1, "open": 1})
    found = _applicant_with_phone(case, phone) if case else None
    if found is None:
        return
    pair_limiter = _limiter(intake, CODES_PER_PAIR)
    if not pair_limiter.hit("recover-sms", address=_pair(reference, phone), now=now.timestamp()):
        return
    party, applicant = found
    expires = now + case_rules.RECOVERY_CODE_TTL
    for _ in range(3):  # a clash with a live code of the same pair is astronomically rare: draw again
        code = case_rules.new_recovery_code()
        event = make_envelope(
            "case.tracking_code_requested",
            {
                "reference": reference,
                "phone": applicant["phone"],
                "language": case.get("language") or "zh-CN",
                "code": code,
                "expires_at": expires.isoformat(),
            },
            source=SERVICE,
        )
        published: list[Envelope] = []

        def work(
            session: ClientSession, code: str = code, event: Envelope = event, published: list = published
        ) -> None:
            published.clear()
            intake.db.recovery_codes.insert_one(
                {
                    "_id": case_rules.recovery_code_hash(intake.settings.secret_key, reference, phone, code),
                    "reference": reference,
                    "party": party,
                    "expires_at": expires,
                    "used_at": None,
                    "created_at": now,
                },
                session=session,
            )
            published.extend(intake.outbox.add([event], session))

        try:
            in_transaction(intake.db, work)
        except DuplicateKeyError:
            continue
        intake.outbox.flush(published)
        log.info("tracking code requested", extra={"reference": reference})
        return


def verify_code(
    intake: Intake,
    reference: str,
    phone: str,
    code: str,
    *,
    client: str | None = None,
    now: datetime | None = None,
) -> Recovered | None:
    """The applicant's new tracking link for a right code (the old link stops working, the new one
    is also sent to their phone and email); None for a wrong, used or expired code, or a pair that
    does not exist (the same answer). Raises TooManyTries after too many wrong codes."""
    now = now or utcnow()
    reference = reference.strip().upper()
    pair = _pair(reference, phone)
    if not (
        _limiter(intake, TRIES_PER_PAIR).hit("recover-try", address=pair, now=now.timestamp())
        and _limiter(intake, TRIES_PER_CLIENT).hit("recover-try-client", address=client, now=now.timestamp())
    ):
        raise TooManyTries()
    code = (code or "").strip()
    if not (code.isdigit() and len(code) == case_rules.RECOVERY_CODE_DIGITS):
        return None
    key = case_rules.recovery_code_hash(intake.settings.secret_key, reference, phone, code)
    token = case_rules.new_tracking_token()
    published: list[Envelope] = []

    def work(session: ClientSession) -> Recovered | None:
        published.clear()
        used = intake.db.recovery_codes.update_one(
            {"_id": key, "used_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
            session=session,
        )
        if used.modified_count != 1:
            return None
        entry = intake.db.recovery_codes.find_one({"_id": key}, {"party": 1}, session=session) or {}
        case = intake.db.cases.find_one({"_id": reference}, session=session)
        if case is None:
            return None
        tokens = [
            {**t, "hash": case_rules.hash_token(token)} if t["party"] == entry.get("party") else t
            for t in case.get("party_tokens") or []
        ]
        if entry.get("party") not in {t["party"] for t in tokens}:
            tokens.append({"party": entry.get("party"), "hash": case_rules.hash_token(token)})
        changes: dict[str, Any] = {"party_tokens": tokens}
        old = next(
            (t["hash"] for t in case.get("party_tokens") or [] if t["party"] == entry.get("party")), None
        )
        if old is not None and old == case.get("token_hash"):
            # A resident who filed for themselves held the case's own token: the lost copy dies too.
            changes["token_hash"] = case_rules.hash_token(token)
        intake.db.cases.update_one({"_id": reference}, {"$set": changes}, session=session)
        applicants = [p for p in case.get("parties") or [] if p.get("role") == "applicant"]
        data = {"applicants": applicants, "language": case.get("language")}
        links = filing.tracking_links(intake, reference, data, [(entry["party"], token)], "recovered", now)
        published.extend(intake.outbox.add(links, session))
        return Recovered(reference, token)

    recovered = in_transaction(intake.db, work)
    intake.outbox.flush(published)
    if recovered:
        log.info("tracking link recovered", extra={"reference": reference})
    return recovered
