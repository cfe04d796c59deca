# ruff: noqa: RUF001
"""Answering codes: random, unambiguous, normalised as residents type them, hashed per consultation,
compared in constant time."""

from __future__ import annotations

import random

from services.council.domain import codes


def test_slip_codes_use_only_the_unambiguous_alphabet_and_differ() -> None:
    drawn = {codes.new_slip_code() for _ in range(500)}
    assert len(drawn) == 500
    assert all(len(c) == codes.SLIP_CODE_LENGTH and set(c) <= set(codes.SLIP_ALPHABET) for c in drawn)
    assert not set("0O1IL2Z5S8B") & set(codes.SLIP_ALPHABET)


def test_a_code_comes_from_the_random_source_not_from_anything_else() -> None:
    rng = random.Random(7)
    assert codes.new_slip_code(rng.choice) == codes.new_slip_code(random.Random(7).choice)
    sms = codes.new_sms_code(random.Random(3).choice)
    assert len(sms) == codes.SMS_CODE_LENGTH and sms.isdigit()


def test_typed_codes_are_normalised() -> None:
    assert codes.normalise(" acdef-ghjkm ") == "ACDEFGHJKM"
    assert codes.normalise("ＡＣＤＥＦ　ＧＨＪＫＭ") == "ACDEFGHJKM"  # full-width, from a Chinese keyboard
    assert codes.normalise("1234 5678") == "12345678"
    # A look-alike letter becomes its digit, which no slip code contains: wrong, not a crash.
    assert codes.normalise("ACDEFGHJKO").endswith("0")
    assert not codes.plausible(codes.normalise("ACDEFGHJKO"))


def test_plausible_shapes() -> None:
    assert codes.plausible("ACDEFGHJKM") and codes.plausible("12345678")
    assert not codes.plausible("ACDEFGHJK") and not codes.plausible("1234567") and not codes.plausible("")


def test_hashes_bind_the_code_to_its_consultation_and_the_secret() -> None:
    h = codes.code_hash("s3cret", "c1", "ACDEFGHJKM")
    assert h != codes.code_hash("s3cret", "c2", "ACDEFGHJKM")
    assert h != codes.code_hash("other", "c1", "ACDEFGHJKM")
    assert "ACDEFGHJKM" not in h and len(h) == 64
    assert codes.matches("s3cret", "c1", "ACDEFGHJKM", h)
    assert not codes.matches("s3cret", "c1", "ACDEFGHJKN", h)


def test_grouping_slip_numbers_and_labels() -> None:
    assert codes.grouped("ACDEFGHJKM") == "ACDEF-GHJKM"
    assert codes.slip_number(42) == "0042"
    assert [codes.normalise_label(x) for x in ("３栋", "2单元", "401室", " 5 ", "栋")] == [
        "3",
        "2",
        "401",
        "5",
        "栋",
    ]
