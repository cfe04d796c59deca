"""Council's board on the real broker and a real MongoDB-wire server: mediation's events consumed by
council's worker into the read model, the replay command giving the same figures, the tables never
showing (or letting anyone work out) a count from 1 to 4, and the public pages, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.council import board, board_rebuild, statistics
from services.council.app import create_app
from services.council.bootstrap import bootstrap, ensure_indexes
from services.council.domain import board_tables as bt
from services.council.domain import suppression as sup
from shared.config import Settings
from shared.messaging.publisher import Publisher
from tests.support.board_events import SECRET_FINDINGS, SECRET_NAME, SECRET_PHONE, events
from tests.support.stack import Workers, wait_for


def _small_numbers(value: Any) -> list[int]:
    """Every whole number 1..4 anywhere in a nested structure of published figures."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value] if 0 < value < sup.THRESHOLD else []
    if isinstance(value, dict):
        return [n for v in value.values() for n in _small_numbers(v)]
    if isinstance(value, list | tuple):
        return [n for v in value for n in _small_numbers(v)]
    return []


def test_live_read_model_equals_the_replay_and_keeps_no_personal_data(
    settings: Settings, workers: Workers, tmp_path: Path
) -> None:
    stream = events(seed=11)
    publisher = Publisher(settings)
    for envelope in stream:
        publisher.publish(envelope)
    publisher.publish(stream[0])  # delivered twice: one effect
    workers.start("council", BOARD_REFRESH_INTERVAL="0.3")
    council = bootstrap(settings)
    db = council.db
    wait_for(
        lambda: db.processed.count_documents({"_id": {"$regex": f"^{statistics.CONSUMER}:"}}) == len(stream),
        timeout=60,
        what="every event consumed",
    )
    wait_for(
        lambda: db.board_dirty.count_documents({}) == 0 and db.board_quarters.count_documents({}) >= 2,
        timeout=60,
        what="the board rebuilt",
    )
    publisher.close()

    # One fact per message that means something to the statistics, none twice.
    counted = [e for e in stream if statistics.fact_of(e, settings.secret_key) is not None]
    assert db.mediation_facts.count_documents({}) == len(counted)
    # Nothing personal or free text, and no reference, was stored.
    stored = json.dumps(list(db.mediation_facts.find({}, {"_id": 0})), default=str)
    stored += json.dumps(list(db.board_quarters.find({})), default=str)
    for secret in (SECRET_NAME, SECRET_PHONE, SECRET_FINDINGS, "LC-2026-", "note for"):
        assert secret not in stored

    live = board_rebuild.stored_board(council)
    replayed = board_rebuild.replay(stream, settings.secret_key)
    assert set(live) == {"2026-Q3", "2026-Q4"} | ({"2027-Q1"} & set(replayed))
    assert board_rebuild.differences(live, replayed) == []
    # The figures are the stream's: received in the district = the case.submitted events by quarter.
    for quarter, doc in live.items():
        expected = sum(
            1
            for e in stream
            if e.type == "case.submitted" and bt.ms.quarter_of_month(e.data["received_at"][:7]) == quarter
        )
        grand = doc["tables"]["received_by_source"]["published"]["grand_total"]
        assert (
            grand == (expected if expected >= sup.THRESHOLD or expected == 0 else sup.SMALL)
            or grand == sup.HIDDEN
        )

    # The command line: the events as JSON lines replay to the same board; a wrong stream does not.
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e.to_dict()) for e in stream), encoding="utf-8")
    env = {
        "MONGO_URL": settings.mongo_url,
        "DB_PREFIX": settings.db_prefix,
        "BROKER_URL": settings.broker_url,
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        out = io.StringIO()
        assert board_rebuild.main(["--events", str(path), "--check"], stdout=out) == 0, out.getvalue()
        assert "the same" in out.getvalue()
        fewer = tmp_path / "fewer.jsonl"
        fewer.write_text("\n".join(json.dumps(e.to_dict()) for e in stream[10:]), encoding="utf-8")
        out = io.StringIO()
        assert board_rebuild.main(["--events", str(fewer), "--check"], stdout=out) == 1
        assert "differs" in out.getvalue()


@pytest.fixture
def built(settings: Settings) -> Any:
    """A board built by the consumer's own code from a stream (no broker needed for this part)."""
    council = bootstrap(settings)
    ensure_indexes(council.db)
    for envelope in events(seed=3, cases=120):
        statistics.on_event(council, envelope)
    statistics.refresh_dirty(council)
    return council


def test_no_published_table_shows_or_reveals_a_count_under_five(built: Any) -> None:
    docs = list(built.db.board_quarters.find({}))
    assert docs
    saw_small = saw_hidden = False
    for doc in docs:
        for name, table in doc["tables"].items():
            published = bt._published_of(table["published"])
            assert _small_numbers(table["published"]) == [], (doc["_id"], name)
            # The suppression's exact checker and the classic line solver find nothing to recover.
            assert sup.recoverable_small(published) == [], (doc["_id"], name)
            for entry, value in sup.recover_by_lines(published).items():
                assert not 0 < value < sup.THRESHOLD, (doc["_id"], name, entry, value)
            flat = json.dumps(table["published"])
            saw_small |= '"<5"' in flat
            saw_hidden |= '"x"' in flat
        # A figure in two tables is shown alike in both (else one could be read from the other).
        for group in bt.links(doc["tables"]):
            shown = {
                json.dumps(bt._shown(doc["tables"][t]["published"], e))
                for t, e in group
                if not doc["tables"][t]["published"]["withheld"]  # a withheld table shows nothing
            }
            assert len(shown) <= 1, group
        # A community's category row only with 10 cases in the quarter.
        src = doc["tables"]["received_by_source"]
        for fam in bt.CATEGORY_FAMILIES:
            for area in doc["tables"][fam]["rows"]:
                if area != bt.POOLED:
                    total = src["published"]["row_totals"][src["rows"].index(area)]
                    assert total == sup.HIDDEN or total >= 10
    assert saw_small and saw_hidden  # the stream does exercise the rule


def test_pages_json_and_csv_publish_only_suppressed_figures(built: Any, settings: Settings) -> None:
    client: FlaskClient = create_app(settings).test_client()
    quarters = board.quarters(built)
    targets = [("/board/district", "/api/v1/board/district")]
    targets += [(f"/board/street/{s}", f"/api/v1/board/street/{s}") for s in board.streets()]
    targets += [(f"/board/{c}", f"/api/v1/board/{c}") for cs in board.streets().values() for c in cs]
    for quarter in quarters:
        for page, api in targets:
            response = client.get(api, query_string={"period": quarter})
            assert response.status_code == 200, api
            body = response.get_json()
            assert body["quarter"] == quarter
            assert _small_numbers(body["tables"]) == [], (api, quarter)
            html = client.get(page, query_string={"period": quarter, "lang": "en"})
            assert html.status_code == 200 and "How to read these figures fairly" in html.get_data(
                as_text=True
            )
            raw = client.get(page + "/figures.csv", query_string={"period": quarter})
            assert raw.status_code == 200 and raw.data.startswith("\ufeff".encode())
            rows = list(csv.reader(io.StringIO(raw.data.decode("utf-8-sig"))))
            assert rows[0] == ["period", "table", "area", "column", "value"]
            values = [r[4] for r in rows[1:]]
            assert values and all(v in ("<5", "x") or not 0 < int(v) < 5 for v in values)
    # Street totals are only sums of numbers already shown.
    for street in board.streets():
        v = client.get(f"/api/v1/board/street/{street}").get_json()
        for t in v["tables"]:
            if t["total"] and not t["not_shown"]:
                for j, value in enumerate(t["total"]["cells"]):
                    parts = [r["cells"][j] for r in t["rows"]]
                    assert value == (sum(parts) if all(isinstance(p, int) for p in parts) else "x")
    # Zh by default; the consultations section says none yet.
    zh = create_app(settings).test_client().get("/board/lianhua").get_data(as_text=True)
    assert "如何公正地解读这些数字" in zh and "暂无" in zh


def test_bad_input_gets_a_clear_error(built: Any, settings: Settings) -> None:
    client = create_app(settings).test_client()
    assert client.get("/board/nowhere").status_code == 404
    assert client.get("/board/lianhua?period=2026-11-03").status_code == 404  # never by day
    assert client.get("/board/lianhua?period=1999-Q1").status_code == 404
    response = client.get("/api/v1/board/lianhua?period=2026-11")
    assert response.status_code == 422 and response.get_json()["code"] == 422
    assert client.get("/api/v1/board/street/nowhere").get_json()["code"] == 404


def test_closed_consultations_results_are_listed(built: Any, settings: Settings) -> None:
    from datetime import UTC, datetime

    built.db.consultations.insert_many(
        [
            {
                "_id": "c1",
                "community": "lianhua",
                "kind": "vote",
                "title": {"zh-CN": "更换大门", "en": "Replace the gate"},
                "status": "closed",
                "closed_at": datetime(2026, 11, 2, tzinfo=UTC),
                "result": {"answered": 80, "eligible": 120, "vote": {"outcome": "passed"}},
            },
            {"_id": "c2", "community": "lianhua", "status": "open", "title": "Draft"},
            {"_id": "c3", "community": "lianhua", "status": "closed", "result": "garbage", "title": None},
        ]
    )
    client = create_app(settings).test_client()
    v = client.get("/api/v1/board/lianhua").get_json()
    assert [c["id"] for c in v["consultations"]] == ["c1"]
    assert v["consultations"][0]["vote_outcome"] == "passed"
    page = client.get("/board/lianhua?lang=en").get_data(as_text=True)
    assert "Replace the gate" in page and "80 of 120 flats answered" in page
    assert client.get("/api/v1/board/heping").get_json()["consultations"] == []
