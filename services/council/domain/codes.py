"""Answering codes and slip numbers: how they are made, normalised, hashed and compared.

- A **slip code** is printed on a flat's answer slip: 10 characters from an alphabet without look-alike
  characters (no 0/O, 1/I/L, 2/Z, 5/S, 8/B), drawn from a cryptographic random source and never
  derived from the flat. 23^10 ≈ 4·10^13 codes: with the per-client rate limit, guessing one is hopeless.
- An **SMS code** is 8 digits (easy to type from a message on an old phone), valid for minutes only,
  usable once.
- Codes are stored only as keyed hashes (HMAC-SHA256 with the service's secret key), bound to their
  consultation, so a stolen database gives no usable code and a code only works for its consultation.
  The hash doubles as the stored document's id: looking a code up reveals nothing through timing
  about how close a guess was, and the final check is `hmac.compare_digest`.

Pure: no I/O (the randomness comes from `secrets`, or from the `choose` function a test passes).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence

SLIP_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
SLIP_CODE_LENGTH = 10
SMS_CODE_LENGTH = 8
SMS_CODE_MINUTES = 10
# What a resident may type between groups of characters (the slip prints the code as "ABCDE-FGHJK").
_SEPARATORS = str.maketrans("", "", " -_.\u3000")
# Look-alikes a resident may type for a character of the alphabet (the alphabet has none of them).
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "B": "8"})


def new_slip_code(choose: Callable[[Sequence[str]], str] = secrets.choice) -> str:
    """A fresh random slip code."""
    return "".join(choose(SLIP_ALPHABET) for _ in range(SLIP_CODE_LENGTH))


def new_sms_code(choose: Callable[[Sequence[str]], str] = secrets.choice) -> str:
    """A fresh random SMS code of digits."""
    return "".join(choose("0123456789") for _ in range(SMS_CODE_LENGTH))


def normalise(raw: str) -> str:
    """A code as typed, made canonical: separators and spaces dropped, upper case, full-width digits
    and letters folded to ASCII (Chinese input methods type them), look-alike letters mapped to the
    digits they resemble (which are then simply not in the alphabet: a wrong code, not a crash)."""
    folded = "".join(
        chr(ord(ch) - 0xFEE0) if "\uff01" <= ch <= "\uff5e" else ch for ch in (raw or "").strip()
    )
    return folded.translate(_SEPARATORS).upper().translate(_LOOKALIKES)


def plausible(code: str) -> bool:
    """True when a normalised code has the shape of a slip or an SMS code (anything else is wrong
    without a database look-up; the caller still answers exactly as for a wrong code)."""
    if len(code) == SLIP_CODE_LENGTH and all(ch in SLIP_ALPHABET for ch in code):
        return True
    return len(code) == SMS_CODE_LENGTH and code.isdigit()


def code_hash(secret: str, consultation_id: str, code: str) -> str:
    """The keyed hash a code is stored and looked up by, bound to its consultation."""
    message = f"answer-code\x00{consultation_id}\x00{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def matches(secret: str, consultation_id: str, code: str, stored_hash: str) -> bool:
    """Constant-time check of a code against a stored hash."""
    return hmac.compare_digest(code_hash(secret, consultation_id, code), stored_hash)


def grouped(code: str) -> str:
    """A slip code as printed: two groups of five ("ACDEF-GHJKM"), easier to read out and type."""
    return f"{code[:5]}-{code[5:]}" if len(code) == SLIP_CODE_LENGTH else code


def slip_number(index: int) -> str:
    """A slip's printed number within its consultation: the flat's position in the register ("0042")."""
    return f"{index:04d}"


def normalise_label(raw: str) -> str:
    """A building, unit, flat or slip number as typed: trimmed, full-width digits folded to ASCII, and
    a trailing 栋/单元/室/号 dropped ("３栋" → "3")."""
    text = "".join(chr(ord(ch) - 0xFEE0) if "\uff01" <= ch <= "\uff5e" else ch for ch in (raw or "").strip())
    for suffix in ("单元", "栋", "幢", "号楼", "室", "号"):
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
            break
    return text.strip().upper()
