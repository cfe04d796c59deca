"""The public board's sections beyond the statistics, on a real MongoDB-wire server, through the use
cases that make them: a community's published minutes (newest first, "more" when long), the plan's
top-level items with rolled-up progress, and the latest public accounts statement. Drafts, adopted
but unpublished minutes and unapproved entries never appear; nothing personal does; an empty
community says "none yet"; street and district boards link each community's board."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.council import accounts, board, minutes
from services.council.app import create_app
from services.council.bootstrap import Council, bootstrap, ensure_indexes
from shared.config import Settings
from tests.support.board_sections import INVITEE, LIU, PRIVATE_COUNTERPARTY, WEI, fill


@pytest.fixture
def council(settings: Settings) -> Council:
    c = bootstrap(settings)
    ensure_indexes(c.db)
    return c


@pytest.fixture
def filled(council: Council) -> dict[str, Any]:
    return fill(council)


def test_a_communitys_board_shows_published_minutes_the_plan_and_the_accounts(
    council: Council, filled: dict[str, Any], settings: Settings
) -> None:
    client: FlaskClient = create_app(settings).test_client()
    response = client.get("/api/v1/board/lianhua")
    assert response.status_code == 200
    v = response.get_json()

    # Minutes: only the published ones, of this community, newest meeting first, with their pages.
    assert [m["meeting_id"] for m in v["minutes"]] == list(reversed(filled["published"]))
    assert v["minutes"][0]["title"] == "第7次议事会"
    assert v["minutes"][0]["url"] == f"/m/{filled['published'][-1]}/minutes"
    started = council.db.meetings.find_one({"_id": filled["published"][-1]})["starts_at"]
    assert v["minutes"][0]["day"] == board._day(started) and len(v["minutes"][0]["day"]) == 10
    for hidden in [*filled["hidden"], filled["heping"]]:
        assert hidden not in str(v["minutes"])

    # The plan: top-level items only, rolled up ((3 x 50 + 1 x 100) / 4 = 62.5), budget exact.
    items = {i["id"]: i for i in v["plan"]["items"]}
    assert list(items) == [filled["parent"], filled["lights"]]
    assert items[filled["parent"]]["progress"] == "62.5"
    assert items[filled["parent"]]["status"] == "in_progress"
    assert items[filled["parent"]]["budget"] == "100000.00"
    assert items[filled["lights"]]["progress"] == "0.0" and items[filled["lights"]]["budget"] is None
    assert v["plan"]["url"] == "/plan/lianhua"

    # The accounts: this month's statement adds up from approved entries only.
    st = v["accounts"]["statement"]
    assert st == {
        "month": filled["month"], "opening": "500.00", "income": "1000.10", "spending": "250.00",
        "closing": "1250.10", "entries": 2,
    }  # fmt: skip
    assert v["accounts"]["month_running"] is True and v["accounts"]["url"] == "/accounts/lianhua"
    assert v["communities"] == []

    # Nothing personal anywhere: invitees, the contractor, a private counterparty, the minutes' text.
    page = client.get("/board/lianhua?lang=en").get_data(as_text=True)
    raw = client.get("/board/lianhua/figures.csv?lang=zh-CN")
    text = raw.data.decode("utf-8-sig")
    for secret in (*INVITEE, "张三装修队", PRIVATE_COUNTERPARTY, "发言", "9999.99", "9,999.99"):
        assert secret not in str(v) and secret not in page and secret not in text, secret

    # The page: the sections, five minutes and "more", the progress as text and <progress>, yuan.
    assert "Minutes of representatives&#39; meetings" in page
    assert "第7次议事会" in page and "第1次议事会" in page and "尚未公布的议事会" not in page
    assert page.index("第7次议事会") < page.index("More minutes (2)") < page.index("第2次议事会")
    assert f'href="/m/{filled["published"][0]}/minutes"' in page
    assert "Renovating the old estate" in page and "62.5 % done" in page
    assert '<progress max="100" value="62.5" aria-label="Progress of Renovating the old estate">' in page
    assert "Budget: ¥100,000.00" in page and "¥1,250.10" in page and "¥1,000.10" in page
    assert "This month is not over yet" in page
    assert 'href="/plan/lianhua"' in page and 'href="/accounts/lianhua"' in page
    zh = client.get("/board/lianhua?lang=zh-CN").get_data(as_text=True)
    assert (
        "业主代表议事会会议纪要" in zh and "实施计划进度" in zh and "期末余额" in zh and "已完成 62.5%" in zh
    )

    # The CSV (UTF-8 with BOM): the plan's progress and the statement; minutes are links, not figures.
    assert raw.status_code == 200 and raw.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["period", "table", "area", "column", "value"]
    assert ["", "实施计划进度（完成百分比）", "莲花社区", "老旧小区改造", "62.5"] in rows  # noqa: RUF001
    assert [filled["month"], "公共收益（元）", "莲花社区", "期末余额", "1250.10"] in rows  # noqa: RUF001
    assert not any("更换大门" in r for r in rows)  # a child item, not top-level
    assert not any("议事会" in cell for r in rows for cell in r)


def test_unpublished_and_unapproved_things_never_appear_and_changes_show(
    council: Council, filled: dict[str, Any], settings: Settings
) -> None:
    client = create_app(settings).test_client()
    # Publishing the adopted minutes and approving the waiting entry changes the board at once.
    minutes.publish(council, "lianhua", filled["hidden"][0], WEI)
    waiting = council.db.account_entries.find_one({"approved_by": None})
    accounts.approve(council, "lianhua", waiting["_id"], LIU)
    v = client.get("/api/v1/board/lianhua").get_json()
    assert v["minutes"][0]["meeting_id"] == filled["hidden"][0]  # the newest meeting
    assert filled["hidden"][1] not in [m["meeting_id"] for m in v["minutes"]]  # still a draft
    assert v["accounts"]["statement"]["spending"] == "10249.99"
    assert v["accounts"]["statement"]["closing"] == "-8749.89"
    assert "-¥8,749.89" in client.get("/board/lianhua?lang=en").get_data(as_text=True)

    # Heping's board has its own minutes and plan, none of Lianhua's.
    h = client.get("/api/v1/board/heping").get_json()
    assert [m["meeting_id"] for m in h["minutes"]] == [filled["heping"]]
    assert [i["title"] for i in h["plan"]["items"]] == ["和平路灯"]
    assert h["accounts"]["statement"] is None


def test_an_empty_community_says_none_yet(council: Council, settings: Settings) -> None:
    client = create_app(settings).test_client()
    v = client.get("/api/v1/board/xinyuan").get_json()
    assert v["minutes"] == [] and v["plan"]["items"] == []
    assert v["accounts"] == {"statement": None, "month_running": False, "url": "/accounts/xinyuan"}
    en = client.get("/board/xinyuan?lang=en").get_data(as_text=True)
    # Consultations, minutes, the plan and the accounts each say so.
    assert en.count("None yet.") == 4
    assert "Download these figures (CSV)" not in en  # nothing to download
    zh = create_app(settings).test_client().get("/board/xinyuan").get_data(as_text=True)  # zh by default
    assert zh.count("暂无。") == 4
    rows = list(csv.reader(io.StringIO(client.get("/board/xinyuan/figures.csv").data.decode("utf-8-sig"))))
    assert rows == [["period", "table", "area", "column", "value"]]


def test_street_and_district_boards_link_each_communitys_board(
    council: Council, filled: dict[str, Any], settings: Settings
) -> None:
    client = create_app(settings).test_client()
    street = client.get("/api/v1/board/street/qinghe").get_json()
    assert [c["code"] for c in street["communities"]] == board.streets()["qinghe"]
    assert street["minutes"] is None and street["plan"] is None and street["accounts"] is None
    assert street["communities"][0] == {
        "code": "lianhua", "board_url": "/board/lianhua", "plan_url": "/plan/lianhua",
        "accounts_url": "/accounts/lianhua",
    }  # fmt: skip
    district = client.get("/api/v1/board/district").get_json()
    assert len(district["communities"]) == sum(len(cs) for cs in board.streets().values())
    page = client.get("/board/street/qinghe?lang=en").get_data(as_text=True)
    assert "Each community&#39;s minutes, plan and accounts" in page
    for code in board.streets()["qinghe"]:
        assert f'href="/board/{code}"' in page and f'href="/accounts/{code}"' in page
    assert "Board of Heping Community" in page and "Public accounts of Xinyuan Estate" in page
    # No new statistics: no community's minutes, plan or money on a street's or the district's page.
    assert "第7次议事会" not in page and "¥" not in page
    assert "第7次议事会" not in client.get("/board/district?lang=en").get_data(as_text=True)
