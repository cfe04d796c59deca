from datetime import UTC, datetime

from services.intake.domain import case_rules


def test_reference_format() -> None:
    assert case_rules.format_reference(2026, 123) == "LC-2026-000123"


def test_tokens_are_random_and_only_their_hash_matches() -> None:
    token = case_rules.new_tracking_token()
    assert token != case_rules.new_tracking_token()
    digest = case_rules.hash_token(token)
    assert token not in digest
    assert case_rules.token_matches(token, digest)
    assert not case_rules.token_matches(token + "x", digest)


def test_only_newer_events_move_the_status() -> None:
    earlier = datetime(2026, 11, 25, 8, tzinfo=UTC)
    later = datetime(2026, 11, 25, 9, tzinfo=UTC)
    assert case_rules.is_newer(later, earlier)
    assert not case_rules.is_newer(earlier, later)
    assert case_rules.is_newer(earlier, None)
