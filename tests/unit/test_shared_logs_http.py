import json
import logging

from shared.http import _flatten_locations, error_payload
from shared.logs import JsonFormatter, correlation


def test_json_log_line_carries_service_correlation_id_and_extras() -> None:
    record = logging.makeLogRecord(
        {"name": "x", "levelname": "INFO", "msg": "case %s", "args": ("assigned",)}
    )
    record.reference = "LC-2026-000001"
    with correlation("abc123"):
        line = json.loads(JsonFormatter("mediation").format(record))
    assert line["msg"] == "case assigned"
    assert line["service"] == "mediation"
    assert line["correlation_id"] == "abc123"
    assert line["reference"] == "LC-2026-000001"


def test_log_line_without_correlation_has_none() -> None:
    record = logging.makeLogRecord({"name": "x", "levelname": "INFO", "msg": "boot"})
    assert "correlation_id" not in json.loads(JsonFormatter("intake").format(record))


def test_errors_are_flattened_from_their_request_location() -> None:
    assert _flatten_locations({"json": {"name": ["Missing."]}}) == {"name": ["Missing."]}
    assert _flatten_locations({"json": {"a": ["x"]}, "query": {"b": ["y"]}}) == {
        "json": {"a": ["x"]},
        "query": {"b": ["y"]},
    }
    assert error_payload(404, "Not Found") == {"code": 404, "status": "Not Found"}
