from datetime import UTC, datetime

from services.intake import domain


def test_reference_format() -> None:
    assert domain.format_reference(2026, 123) == "LC-2026-000123"


def test_tokens_are_random_and_only_their_hash_matches() -> None:
    token = domain.new_tracking_token()
    assert token != domain.new_tracking_token()
    digest = domain.hash_token(token)
    assert token not in digest
    assert domain.token_matches(token, digest)
    assert not domain.token_matches(token + "x", digest)


def test_only_newer_events_move_the_status() -> None:
    earlier = datetime(2026, 11, 25, 8, tzinfo=UTC)
    later = datetime(2026, 11, 25, 9, tzinfo=UTC)
    assert domain.is_newer(later, earlier)
    assert not domain.is_newer(earlier, later)
    assert domain.is_newer(earlier, None)
