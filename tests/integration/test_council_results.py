# Chinese test data uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""Council's results on a real MongoDB-wire server: the snapshot frozen at closing (questionnaire
tallies, participation, the Art 278 vote), the public and staff result pages, the committee's review of
free text, and the export of the anonymous answers (CSV with BOM, XLSX)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook

from services.council import results
from services.council.app import create_app
from services.council.bootstrap import Council, bootstrap
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from shared.db import in_transaction
from shared.messaging.envelope import utcnow
from tests.integration.council_data import (
    OPENED,
    ballot,
    committee,
    consultation,
    flat,
    leader,
    seed,
)


@pytest.fixture
def app(settings: Settings) -> Flask:
    app = create_app(settings)
    app.config["WTF_CSRF_ENABLED"] = False
    return app


@pytest.fixture
def council(settings: Settings) -> Council:
    return bootstrap(settings)


def client_as(app: Flask, settings: Settings, staff: Staff | None) -> FlaskClient:
    client = app.test_client()
    if staff is not None:
        client.set_cookie(COOKIE_NAME, issue_token(settings, staff))
    return client


def csrf(page: str) -> str:
    """The form's CSRF token (forms are posted as a browser would)."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


def close(council: Council, cid: str) -> dict[str, Any]:
    """What the answering side's `consultations.close` does with `freeze`: one transaction."""

    def work(session: Any) -> dict[str, Any]:
        doc = council.db.consultations.find_one({"_id": cid}, session=session)
        snapshot = results.freeze(council, doc, session)
        council.db.consultations.update_one(
            {"_id": cid},
            {"$set": {"status": "closed", "closed_at": utcnow(), "result": snapshot}},
            session=session,
        )
        return snapshot

    return in_transaction(council.db, work)


def questionnaire(council: Council) -> list[dict[str, Any]]:
    """Six flats in building 1, two in building 2 and one registered after opening."""
    flats = [flat("1", "1", f"10{i}") for i in range(1, 7)] + [
        flat("2", "1", "201"),
        flat("2", "1", "202"),
        flat("2", "1", "203", created_at=OPENED.replace(day=2)),
    ]
    answers = [
        {"gate": "yes", "works": ["paint", "heat"], "order": ["a", "b"], "remarks": "门太旧了"},
        {"gate": "yes", "works": ["heat"], "order": ["b", "a"], "remarks": "请联系我 13912345678"},
        {"gate": "no", "works": ["cctv"], "order": ["a", "b"]},
        {"gate": "yes", "order": ["a", "b"]},
        {"gate": "no", "works": ["paint"], "order": ["b", "a"], "remarks": "   "},
        {"gate": "yes", "works": ["paint", "cctv"], "order": ["a", "b"], "remarks": "=SUM(A1)"},
        {"gate": "no", "order": ["a", "b"]},  # building 2: one answer (fewer than five)
    ]
    ballots = [ballot("c1", f, a) for f, a in zip(flats[:7], answers, strict=True)]
    seed(council.db, flats, consultation("c1"), ballots)
    return flats


# --- freezing ------------------------------------------------------------------------------------------


def test_freeze_tallies_the_latest_answers_of_the_flats_registered_at_opening(council: Council) -> None:
    questionnaire(council)
    snapshot = close(council, "c1")
    stored = council.db.consultations.find_one({"_id": "c1"})["result"]
    assert stored["answered"] == snapshot["answered"] == 7
    assert snapshot["eligible"] == 8  # the flat registered after opening is not eligible
    assert snapshot["by_building"] == {
        "1": {"eligible": 6, "answered": 6},
        "2": {"eligible": 2, "answered": 1},
    }
    gate = {o["key"]: o["count"] for o in snapshot["questions"]["gate"]["options"]}
    assert gate == {"yes": 4, "no": 3}
    works = {o["key"]: o["count"] for o in snapshot["questions"]["works"]["options"]}
    assert works == {"paint": 3, "heat": 2, "cctv": 2}
    assert snapshot["questions"]["works"]["skipped"] == 2
    ranking = snapshot["questions"]["order"]["ranking"]
    assert [(r["key"], r["borda"], r["first_place"]) for r in ranking] == [("a", 5, 5), ("b", 2, 2)]
    remarks = snapshot["questions"]["remarks"]
    assert remarks["answered"] == 3 and "texts" not in remarks
    assert "13912345678" not in repr(stored)  # free text is never part of the snapshot
    assert snapshot["vote"] is None


def test_freeze_counts_a_vote_under_art_278_with_owners_and_the_developer(council: Council) -> None:
    flats = [
        flat("1", "1", "101", "100", owner="li"),
        flat("1", "1", "102", "100", owner="li"),  # Li's second flat: one person with the first
        flat("1", "1", "103", "100"),
        flat("1", "1", "104", "100"),
        flat("2", "1", "201", "50", developer=True),
        flat("2", "1", "202", "50", developer=True),  # the developer's flats: one person in total
    ]
    votes_cast = {"101": "for", "102": "for", "103": "for", "104": "against", "201": "abstain"}
    ballots = [ballot("v1", f, {"vote": votes_cast[f["flat"]]}) for f in flats if f["flat"] in votes_cast]
    seed(council.db, flats, consultation("v1", kind="vote", vote_item=4), ballots)
    vote = close(council, "v1")["vote"]
    assert vote["item"] == 4 and vote["special"] is False
    assert vote["headcount"]["eligible"] == 4  # Li, 103, 104, the developer
    assert (vote["headcount"]["participating"], vote["headcount"]["for"], vote["headcount"]["abstain"]) == (
        4,
        2,
        1,
    )
    assert vote["area"]["eligible"] == "500.00" and vote["area"]["for"] == "300.00"
    assert vote["area"]["participating"] == "450.00"
    assert vote["outcome"] == "failed"  # 2 of 4 persons is not more than half
    assert vote["reason_code"] == "failed_headcount"


# --- pages ---------------------------------------------------------------------------------------------


def test_public_result_page_only_after_closing_and_without_unreviewed_text(
    app: Flask, settings: Settings, council: Council
) -> None:
    questionnaire(council)
    public = app.test_client()
    before = public.get("/c/c1/result?lang=en")
    assert before.status_code == 404 and "not available yet" in before.get_data(as_text=True)
    close(council, "c1")
    page = public.get("/c/c1/result?lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Renovation questionnaire" in html and "7 of 8 flats answered" in html
    assert "Replace the gate?" in html and "Heating" in html
    assert "门太旧了" not in html and "13912345678" not in html
    assert "0 published; 3 not reviewed yet" in html
    zh = public.get("/c/c1/result?lang=zh-CN").get_data(as_text=True)
    assert "是否更换大门？" in zh and "同意" in zh
    assert public.get("/c/nope/result").status_code == 404


def test_reviewed_text_is_published_as_released_and_withheld_text_never(
    app: Flask, settings: Settings, council: Council
) -> None:
    questionnaire(council)
    close(council, "c1")
    staff = client_as(app, settings, committee())
    assert client_as(app, settings, leader()).get("/consultations/c1/results/review").status_code == 403
    page = staff.get("/consultations/c1/results/review?lang=en").get_data(as_text=True)
    assert "13912345678" in page  # the reviewer reads the texts as written...
    assert (
        council.db.access_log.count_documents({"kind": "consultation_texts", "by": "wei"}) == 1
    )  # ...logged
    texts = {
        t.text: t for t in results.texts_for_review(council, council.db.consultations.find_one(), committee())
    }
    old, phone = texts["门太旧了"], texts["请联系我 13912345678"]
    form = {
        f"decision-remarks-{old.answer_id}": "publish",
        f"decision-remarks-{phone.answer_id}": "publish",
        f"text-remarks-{phone.answer_id}": "请联系我（电话已隐去）",
        f"decision-remarks-{texts['=SUM(A1)'].answer_id}": "withhold",
        "csrf_token": csrf(page),
    }
    saved = staff.post("/consultations/c1/results/review", data=form)
    assert saved.status_code == 302
    html = app.test_client().get("/c/c1/result?lang=en").get_data(as_text=True)
    assert "门太旧了" in html and "请联系我（电话已隐去）" in html
    assert "13912345678" not in html and "=SUM(A1)" not in html
    assert "2 published; 0 not reviewed yet; 1 withheld" in html
    # A decision on an answer that does not exist stores nothing (not even the good one beside it).
    bad = staff.post(
        "/consultations/c1/results/review",
        data={
            f"decision-remarks-{old.answer_id}": "withhold",
            "decision-remarks-0000": "publish",
            "csrf_token": csrf(page),
        },
    )
    assert bad.status_code == 422
    assert council.db.result_reviews.find_one({"answer_id": old.answer_id})["publish"] is True


def test_vote_result_page_shows_both_dimensions_thresholds_and_reason(
    app: Flask, settings: Settings, council: Council
) -> None:
    flats = [flat("1", "1", str(n), "90") for n in range(101, 107)]
    choices = ["for", "for", "for", "for", "against"]
    ballots = [ballot("v2", f, {"vote": c}) for f, c in zip(flats, choices, strict=False)]
    seed(council.db, flats, consultation("v2", kind="vote", vote_item=7, buildings=("1",)), ballots)
    close(council, "v2")
    html = app.test_client().get("/c/v2/result?lang=en").get_data(as_text=True)
    assert "Passed" in html and "Matter 7" in html and "three quarters" in html
    assert "540.00" in html and "450.00" in html  # eligible and participating area
    assert "passed: area in favour 80.0% ≥ 3/4" in html
    staff_html = (
        client_as(app, settings, committee()).get("/consultations/v2/results?lang=en").get_data(as_text=True)
    )
    assert "Export answers (CSV)" in staff_html
    assert client_as(app, settings, committee("heping")).get("/consultations/v2/results").status_code == 403


def test_api_result_is_for_council_staff_of_the_community(
    app: Flask, settings: Settings, council: Council
) -> None:
    questionnaire(council)
    assert client_as(app, settings, committee()).get("/api/v1/consultations/c1/result").status_code == 409
    close(council, "c1")
    body = client_as(app, settings, leader()).get("/api/v1/consultations/c1/result?lang=en").get_json()
    assert body["answered"] == 7 and body["eligible"] == 8
    assert body["closed_at"].endswith("+00:00")
    remarks = next(q for q in body["questions"] if q["key"] == "remarks")
    assert remarks["texts"] == [] and remarks["texts_pending"] == 3
    denied = client_as(app, settings, committee("heping")).get("/api/v1/consultations/c1/result")
    assert denied.status_code == 403 and denied.get_json()["code"] == 403
    assert app.test_client().get("/api/v1/consultations/c1/result").status_code == 401


# --- export --------------------------------------------------------------------------------------------


def test_building_labels_hide_small_buildings_and_never_leave_one_to_elimination() -> None:
    assert results.building_labels({"1": 6, "2": 5}) == {"1": "1", "2": "2"}
    # Building 3 alone would be "other": building 2 (the smallest named) joins it.
    assert results.building_labels({"1": 9, "2": 5, "3": 1}) == {"1": "1", "2": "other", "3": "other"}
    assert results.building_labels({"1": 7, "2": 3, "3": 2}) == {"1": "1", "2": "other", "3": "other"}
    assert results.building_labels({"1": 4}) == {"1": "other"}


def test_export_csv_and_xlsx_are_anonymous_for_the_committee_only(
    app: Flask, settings: Settings, council: Council
) -> None:
    flats = questionnaire(council)
    staff = client_as(app, settings, committee())
    assert staff.get("/consultations/c1/results/export.csv").status_code == 409  # not closed
    close(council, "c1")
    assert client_as(app, settings, leader()).get("/consultations/c1/results/export.csv").status_code == 403
    response = staff.get("/consultations/c1/results/export.csv?lang=en")
    raw = response.data
    assert raw.startswith("\ufeff".encode()) and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == [
        "building",
        "gate",
        "works: Paint",
        "works: Heating",
        "works: CCTV",
        "order: A",
        "order: B",
        "remarks",
    ]
    assert len(rows) == 8
    # Building 2 has one answer: it is not named, and neither is building 1 then (by elimination).
    assert {r[0] for r in rows[1:]} == {"other"}
    flat_ids = {f["_id"] for f in flats}
    assert not any(cell in flat_ids or "f-1-" in cell for r in rows for cell in r)
    assert ["other", "Yes", "1", "1", "0", "1", "2", "[not reviewed]"] in rows
    assert all("13912345678" not in cell for r in rows for cell in r)
    book = load_workbook(io.BytesIO(staff.get("/consultations/c1/results/export.xlsx?lang=en").data))
    sheet = book.active
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["building", "gate", "works: Paint"]
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert len(values) == 7
    assert all(isinstance(v[2], int) for v in values if v[2] is not None)  # numbers stay numbers
    assert any(v[7] == "[not reviewed]" for v in values)
    assert council.db.access_log.count_documents({"kind": "consultation_export"}) == 2


def test_without_an_electorate_snapshot_the_register_at_opening_counts(council: Council) -> None:
    questionnaire(council)
    council.db.electorates.delete_many({})
    eligible = results.eligible_flats(council, council.db.consultations.find_one({"_id": "c1"}))
    assert len(eligible) == 8 and "f-2-1-203" not in {f["_id"] for f in eligible}
