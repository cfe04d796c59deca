"""One answer per flat on a real MongoDB-wire server and the real broker: slip codes, SMS codes
through the outbox, paper slips, versions of a web answer, and every misuse (issue 12 item 8) refused
with nothing stored, including two concurrent submissions from one flat."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from services.council import answering, consultations, slips
from services.council.bootstrap import Council, bootstrap
from services.council.domain import codes
from services.council.errors import Refused
from shared.config import Settings
from tests.integration.council_support import NOW, committee, leader, opened, seed_register


@pytest.fixture
def council(settings: Settings) -> Council:
    council = bootstrap(settings)
    seed_register(council)
    return council


@pytest.fixture
def open_one(council: Council) -> dict[str, Any]:
    return opened(council)


def slip_code(council: Council, consultation_id: str, flat_id: str) -> str:
    building = council.db.flats.find_one({"_id": flat_id})["building"]
    issued = slips.issue(council, committee(), consultation_id, building, NOW)
    return next(f["code"] for f in issued if f["flat_id"] == flat_id)


def sms_code(council: Council, consultation_id: str, label: tuple[str, str, str]) -> str:
    before = council.db.outbox.count_documents({"envelope.type": "consultation.code_requested"})
    answering.request_sms_code(council, consultation_id, *label, "zh-CN", NOW)
    rows = list(
        council.db.outbox.find({"envelope.type": "consultation.code_requested"}).sort("created_at", 1)
    )
    assert len(rows) == before + 1
    return rows[-1]["envelope"]["data"]["code"]


def ballots(council: Council) -> list[dict[str, Any]]:
    return list(council.db.ballots.find())


# --- slip codes ---------------------------------------------------------------------------------------


def test_a_slip_code_answers_and_may_change_the_answer_keeping_every_version(
    council: Council, open_one: dict
) -> None:
    code = slip_code(council, open_one["_id"], "f11")
    assert len(code) == 10 and set(code) <= set(codes.SLIP_ALPHABET)
    stored_codes = list(council.db.answer_codes.find({"flat_id": "f11"}))
    assert all(code not in str(row) for row in stored_codes)  # only its hash is stored
    pass_ = answering.verify_code(council, open_one["_id"], codes.grouped(code).lower(), NOW)
    assert (pass_.flat_id, pass_.channel, pass_.label) == ("f11", "slip", "1-1-101")
    answering.submit_web(council, pass_, {"gate": "yes", "works": ["pave", "paint"]}, NOW)
    later = answering.submit_web(
        council, pass_, {"gate": "no", "remarks": "  请尽快  "}, NOW + timedelta(hours=1)
    )
    assert later["version"] == 2 and later["channel"] == "slip"
    assert later["answers"] == {"gate": "no", "remarks": "请尽快"}
    assert [v["answers"]["gate"] for v in later["versions"]] == ["yes", "no"]
    assert later["versions"][0]["answers"]["works"] == ["paint", "pave"]  # the options' order
    assert set(later) >= {"flat_id", "building"} and "owner_names" not in later and "phones" not in later
    assert council.db.consultations.find_one({"_id": open_one["_id"]})["locked"] is True


def test_wrong_unknown_used_expired_and_foreign_codes_get_the_same_refusal(
    council: Council, open_one: dict
) -> None:
    other = opened(council)
    foreign = slip_code(council, other["_id"], "f11")
    used_sms = sms_code(council, open_one["_id"], ("1", "1", "101"))
    answering.submit_web(
        council, answering.verify_code(council, open_one["_id"], used_sms, NOW), {"gate": "yes"}, NOW
    )
    expiring = sms_code(council, open_one["_id"], ("1", "1", "103"))
    old = slip_code(council, open_one["_id"], "f12")
    slip_code(council, open_one["_id"], "f12")  # reprinted: the first slip's code is revoked
    attempts = {
        "wrong shape": "12345",
        "unknown": codes.new_slip_code(),
        "used sms": used_sms,
        "another consultation's": foreign,
        "revoked slip": old,
    }
    messages = set()
    for what, code in attempts.items():
        with pytest.raises(Refused) as refused:
            answering.verify_code(council, open_one["_id"], code, NOW)
        assert refused.value.code == "bad_code", what
        messages.add((refused.value.status, refused.value.en, refused.value.zh))
    with pytest.raises(Refused) as expired:
        answering.verify_code(
            council, open_one["_id"], expiring, NOW + timedelta(minutes=codes.SMS_CODE_MINUTES)
        )
    messages.add((expired.value.status, expired.value.en, expired.value.zh))
    assert len(messages) == 1
    assert [b["flat_id"] for b in ballots(council)] == ["f11"]


# --- SMS codes ----------------------------------------------------------------------------------------------


def test_an_sms_code_goes_through_the_outbox_and_works_once(council: Council, open_one: dict) -> None:
    code = sms_code(council, open_one["_id"], ("1", "1栋", "101"))  # as typed, "栋" and all
    (row,) = council.db.outbox.find({"envelope.type": "consultation.code_requested"})
    data = row["envelope"]["data"]
    assert data["phone"] == "13800001001" and data["flat_label"] == "1-1-101" and len(code) == 8
    stored = council.db.answer_codes.find_one({"kind": "sms"})
    assert code not in str(stored) and stored["expires_at"] > NOW
    pass_ = answering.verify_code(council, open_one["_id"], code, NOW)
    answering.submit_web(council, pass_, {"gate": "yes"}, NOW)
    with pytest.raises(Refused) as again:
        answering.submit_web(council, pass_, {"gate": "no"}, NOW)  # the same code a second time
    assert again.value.code == "bad_code"
    # A fresh code changes the answer through the same channel.
    fresh = answering.verify_code(
        council, open_one["_id"], sms_code(council, open_one["_id"], ("1", "1", "101")), NOW
    )
    assert answering.submit_web(council, fresh, {"gate": "no"}, NOW)["version"] == 2


def test_asking_for_a_code_says_nothing_about_the_flat(council: Council, open_one: dict) -> None:
    # No such flat, a flat without a phone: nothing is sent, nothing raised.
    assert answering.request_sms_code(council, open_one["_id"], "9", "9", "909", "en", NOW) is None
    assert answering.request_sms_code(council, open_one["_id"], "1", "1", "102", "en", NOW) is None
    assert council.db.outbox.count_documents({"envelope.type": "consultation.code_requested"}) == 0
    assert council.db.answer_codes.count_documents({}) == 0


def test_sms_codes_are_limited_per_flat(council: Council, open_one: dict) -> None:
    for _ in range(answering.SMS_PER_FLAT.limit + 2):
        answering.request_sms_code(council, open_one["_id"], "1", "1", "101", "zh-CN", NOW)
    sent = council.db.outbox.count_documents({"envelope.type": "consultation.code_requested"})
    assert sent == answering.SMS_PER_FLAT.limit


# --- one channel per flat -----------------------------------------------------------------------------------


def test_a_second_answer_through_another_channel_is_refused(council: Council, open_one: dict) -> None:
    by_slip = answering.verify_code(council, open_one["_id"], slip_code(council, open_one["_id"], "f11"), NOW)
    answering.submit_web(council, by_slip, {"gate": "yes"}, NOW)
    by_sms = answering.verify_code(
        council, open_one["_id"], sms_code(council, open_one["_id"], ("1", "1", "103")), NOW
    )
    answering.submit_web(council, by_sms, {"gate": "yes"}, NOW)
    # f11 has answered by slip: an SMS code for it is not even sent; a forged SMS pass is refused.
    answering.request_sms_code(council, open_one["_id"], "1", "1", "101", "zh-CN", NOW)
    assert council.db.answer_codes.count_documents({"kind": "sms", "flat_id": "f11"}) == 0
    with pytest.raises(Refused) as other:
        answering.submit_web(
            council, answering.Pass(open_one["_id"], "f11", "sms", "x", "1-1-101"), {"gate": "no"}, NOW
        )
    assert other.value.code in {"other_channel", "bad_code"}
    with pytest.raises(Refused) as paper:
        answering.enter_paper(
            council, committee(), open_one["_id"], ("1", "1", "101"), "0001", {"gate": "no"}, NOW
        )
    assert paper.value.code == "other_channel" and paper.value.status == 409
    stored = council.db.ballots.find_one({"flat_id": "f11"})
    assert stored["channel"] == "slip" and stored["version"] == 1 and stored["answers"] == {"gate": "yes"}


def test_a_paper_answer_is_final_and_blocks_the_web(council: Council, open_one: dict) -> None:
    code = slip_code(council, open_one["_id"], "f12")
    ballot = answering.enter_paper(
        council, leader(("1",)), open_one["_id"], ("1", "1", "102"), "0002", {"gate": "no"}, NOW
    )
    assert ballot["channel"] == "paper" and ballot["slip_number"] == "0002" and ballot["entered_by"] == "zhao"
    pass_ = answering.verify_code(council, open_one["_id"], code, NOW)
    with pytest.raises(Refused) as web:
        answering.submit_web(council, pass_, {"gate": "yes"}, NOW)
    assert web.value.code == "paper_final"
    with pytest.raises(Refused) as twice:
        answering.enter_paper(
            council, committee(), open_one["_id"], ("1", "1", "102"), "0002", {"gate": "yes"}, NOW
        )
    assert twice.value.code == "paper_final"
    assert council.db.ballots.find_one({"flat_id": "f12"})["answers"] == {"gate": "no"}


def test_paper_entry_checks_the_leaders_building_and_the_slip_number(
    council: Council, open_one: dict
) -> None:
    with pytest.raises(Refused) as other_building:
        answering.enter_paper(
            council, leader(("1",)), open_one["_id"], ("2", "1", "101"), "0004", {"gate": "no"}, NOW
        )
    assert other_building.value.status == 403
    with pytest.raises(Refused) as wrong_slip:
        answering.enter_paper(
            council, committee(), open_one["_id"], ("2", "1", "101"), "0005", {"gate": "no"}, NOW
        )
    assert wrong_slip.value.code == "wrong_slip"
    with pytest.raises(Refused) as unknown:
        answering.enter_paper(
            council, committee(), open_one["_id"], ("7", "1", "101"), "0001", {"gate": "no"}, NOW
        )
    assert unknown.value.code == "unknown_flat"
    assert ballots(council) == []


@pytest.mark.parametrize(
    ("answers", "question", "message"),
    [
        ({"works": ["paint"]}, "gate", "Please answer this question."),
        ({"gate": "maybe"}, "gate", "Please choose one of the options given."),
        ({"gate": "yes", "works": ["paint", "gold"]}, "works", "Please choose one of the options given."),
        ({"gate": "yes", "colour": "red"}, "colour", "There is no such question in this questionnaire."),
    ],
)
def test_answers_that_fail_validation_are_refused_at_their_question(
    council: Council, open_one: dict, answers: dict, question: str, message: str
) -> None:
    pass_ = answering.verify_code(council, open_one["_id"], slip_code(council, open_one["_id"], "f11"), NOW)
    with pytest.raises(Refused) as refused:
        answering.submit_web(council, pass_, answers, NOW)
    assert refused.value.code == "bad_answers"
    assert refused.value.field_messages("en")[question] == [message]
    assert ballots(council) == []
    assert council.db.consultations.find_one({"_id": open_one["_id"]})["locked"] is False


# --- the window --------------------------------------------------------------------------------------------


def test_nothing_after_closing(council: Council, open_one: dict) -> None:
    pass_ = answering.verify_code(council, open_one["_id"], slip_code(council, open_one["_id"], "f11"), NOW)
    answering.submit_web(council, pass_, {"gate": "yes"}, NOW)
    consultations.close(council, committee(), open_one["_id"], NOW)
    with pytest.raises(Refused) as change:
        answering.submit_web(council, pass_, {"gate": "no"}, NOW)
    assert change.value.code == "not_open"
    with pytest.raises(Refused) as paper:
        answering.enter_paper(
            council, committee(), open_one["_id"], ("1", "1", "102"), "0002", {"gate": "no"}, NOW
        )
    assert paper.value.code == "not_open"
    with pytest.raises(Refused) as verify:
        answering.verify_code(council, open_one["_id"], "ACDEFGHJKM", NOW)
    assert verify.value.code == "not_open"
    (stored,) = ballots(council)
    assert stored["answers"] == {"gate": "yes"} and stored["version"] == 1


def test_the_windows_end_is_exclusive_even_before_the_closing_job(council: Council, open_one: dict) -> None:
    pass_ = answering.verify_code(council, open_one["_id"], slip_code(council, open_one["_id"], "f11"), NOW)
    with pytest.raises(Refused) as refused:
        answering.submit_web(council, pass_, {"gate": "yes"}, open_one["closes_at"])
    assert refused.value.code == "window_ended"
    assert ballots(council) == []


# --- concurrency ----------------------------------------------------------------------------------------


def _race(*work: Any) -> list[Any]:
    """Run the callables at once (released together by a barrier); their results or exceptions."""
    barrier = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work[i]()
        except Exception as err:  # collected for the assertions
            results[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_paper_and_web_answers_of_one_flat_store_one(
    council: Council, open_one: dict, round_: int
) -> None:
    flat = ("f11", ("1", "1", "101"), "0001") if round_ % 2 == 0 else ("f13", ("1", "1", "103"), "0003")
    pass_ = answering.verify_code(council, open_one["_id"], slip_code(council, open_one["_id"], flat[0]), NOW)
    results = _race(
        lambda: answering.submit_web(council, pass_, {"gate": "yes"}, NOW),
        lambda: answering.enter_paper(
            council, committee(), open_one["_id"], flat[1], flat[2], {"gate": "no"}, NOW
        ),
    )
    stored = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Refused)]
    assert len(stored) == 1 and len(refused) == 1, results
    assert refused[0].code in {"other_channel", "paper_final"}
    (ballot,) = ballots(council)
    assert ballot["channel"] == stored[0]["channel"] and ballot["version"] == 1


def test_concurrent_changes_of_one_web_answer_keep_every_version(council: Council, open_one: dict) -> None:
    pass_ = answering.verify_code(council, open_one["_id"], slip_code(council, open_one["_id"], "f11"), NOW)
    results = _race(
        *[lambda v=v: answering.submit_web(council, pass_, {"gate": v}, NOW) for v in ("yes", "no", "yes")]
    )
    assert all(isinstance(r, dict) for r in results), results
    (ballot,) = ballots(council)
    assert ballot["version"] == 3 and [v["version"] for v in ballot["versions"]] == [1, 2, 3]


def test_an_answer_racing_the_closing_is_either_in_the_result_or_refused(
    council: Council, open_one: dict
) -> None:
    pass_ = answering.verify_code(council, open_one["_id"], slip_code(council, open_one["_id"], "f11"), NOW)
    results = _race(
        lambda: answering.submit_web(council, pass_, {"gate": "yes"}, NOW),
        lambda: consultations.close(council, committee(), open_one["_id"], NOW),
    )
    answer, closed = results
    assert isinstance(closed, dict), closed
    frozen = council.db.consultations.find_one({"_id": open_one["_id"]})["result"]
    if isinstance(answer, Refused):
        assert frozen["answered"] == 0 and ballots(council) == []
    else:
        assert frozen["answered"] == 1 and len(ballots(council)) == 1


# --- slips ---------------------------------------------------------------------------------------


def test_slips_print_per_building_for_leaders_of_that_building_only(
    council: Council, open_one: dict, tmp_path: Any
) -> None:
    pdf = slips.print_building(council, leader(("2",)), open_one["_id"], "2", NOW)
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000
    assert council.db.answer_codes.count_documents({"kind": "slip", "revoked": {"$ne": True}}) == 3
    with pytest.raises(Refused) as refused:
        slips.print_building(council, leader(("2",)), open_one["_id"], "1", NOW)
    assert refused.value.status == 403
    (tmp_path / "slips.pdf").write_bytes(pdf)
