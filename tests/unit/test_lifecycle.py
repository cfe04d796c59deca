"""The case lifecycle table, checked exhaustively against an expectation written out by hand here
(not derived from the module), plus properties the table must keep whatever rows are added."""

from __future__ import annotations

import itertools
from collections import deque

import pytest

from services.mediation.domain import lifecycle as lc
from shared.auth import CASE_ROLES as ROLES  # council's roles never act on cases
from shared.messaging.events import OUTCOMES

W = frozenset({"mediator", "studio_lead"})  # casework: the case's mediators and their lead
M = frozenset({"studio_lead", "district_admin"})  # management: the committee's decisions
SAME = "<same>"  # a row that records without moving the case
BACK = "<paused_from>"

# (state, action) -> (next state, roles allowed). Every pair not listed must be refused.
EXPECTED: dict[tuple[str, str], tuple[str, frozenset[str]]] = {
    ("received", "start_screening"): ("screening", W),
    ("awaiting_consent", "record_consent"): ("screening", W),
    ("awaiting_consent", "record_refusal"): ("not_accepted", W),
    ("awaiting_consent", "withdraw"): ("withdrawn", W),
    ("screening", "record_refusal"): ("not_accepted", W),
    ("accepted", "record_refusal"): ("not_accepted", W),
    ("mediator_assigned", "record_refusal"): ("not_accepted", W),
    ("rights_notified", "record_refusal"): ("not_accepted", W),
    ("investigating", "record_refusal"): ("not_accepted", W),
    ("in_mediation", "record_refusal"): ("not_accepted", W),
    ("waiting_for_party", "record_refusal"): ("not_accepted", W),
    ("waiting_for_party", "request_other_mediator"): ("accepted", W),
    ("received", "withdraw"): ("withdrawn", W),
    ("received", "merge"): ("merged", W),
    ("screening", "accept"): ("accepted", M),
    ("screening", "not_accept"): ("not_accepted", M),
    ("screening", "withdraw"): ("withdrawn", W),
    ("screening", "merge"): ("merged", W),
    ("accepted", "assign"): ("mediator_assigned", M),
    ("accepted", "take"): ("mediator_assigned", W),
    ("accepted", "withdraw"): ("withdrawn", W),
    ("accepted", "refer"): ("referred", W),
    ("accepted", "wait_for_party"): ("waiting_for_party", W),
    ("accepted", "merge"): ("merged", W),
    ("mediator_assigned", "reassign"): (SAME, M),
    ("mediator_assigned", "release"): ("accepted", W),
    ("mediator_assigned", "notify_rights"): ("rights_notified", W),
    ("mediator_assigned", "withdraw"): ("withdrawn", W),
    ("mediator_assigned", "refer"): ("referred", W),
    ("mediator_assigned", "wait_for_party"): ("waiting_for_party", W),
    ("mediator_assigned", "request_other_mediator"): ("accepted", W),
    ("rights_notified", "reassign"): (SAME, M),
    ("rights_notified", "start_investigation"): ("investigating", W),
    ("rights_notified", "start_mediation"): ("in_mediation", W),
    ("rights_notified", "fail"): ("failed", W),
    ("rights_notified", "withdraw"): ("withdrawn", W),
    ("rights_notified", "refer"): ("referred", W),
    ("rights_notified", "wait_for_party"): ("waiting_for_party", W),
    ("rights_notified", "request_other_mediator"): ("accepted", W),
    ("investigating", "reassign"): (SAME, M),
    ("investigating", "start_mediation"): ("in_mediation", W),
    ("investigating", "fail"): ("failed", W),
    ("investigating", "withdraw"): ("withdrawn", W),
    ("investigating", "refer"): ("referred", W),
    ("investigating", "wait_for_party"): ("waiting_for_party", W),
    ("investigating", "request_other_mediator"): ("accepted", W),
    ("in_mediation", "reassign"): (SAME, M),
    ("in_mediation", "record_session"): (SAME, W),
    ("in_mediation", "agree_written"): ("agreement_written", W),
    ("in_mediation", "agree_oral"): ("agreement_oral", W),
    ("in_mediation", "fail"): ("failed", W),
    ("in_mediation", "withdraw"): ("withdrawn", W),
    ("in_mediation", "refer"): ("referred", W),
    ("in_mediation", "wait_for_party"): ("waiting_for_party", W),
    ("in_mediation", "request_other_mediator"): ("accepted", W),
    ("waiting_for_party", "reassign"): (SAME, M),
    ("waiting_for_party", "fail"): ("failed", W),
    ("waiting_for_party", "withdraw"): ("withdrawn", W),
    ("waiting_for_party", "refer"): ("referred", W),
    ("waiting_for_party", "resume"): (BACK, W),
    ("not_accepted", "archive"): ("archived", M),
    ("agreement_written", "apply_confirmation"): ("confirmation_applied", W),
    ("agreement_written", "record_performed"): ("performed", W),
    ("agreement_written", "record_breached"): ("breached", W),
    ("agreement_written", "archive"): ("archived", M),
    ("agreement_oral", "record_performed"): ("performed", W),
    ("agreement_oral", "record_breached"): ("breached", W),
    ("agreement_oral", "archive"): ("archived", M),
    ("failed", "archive"): ("archived", M),
    ("withdrawn", "archive"): ("archived", M),
    ("referred", "archive"): ("archived", M),
    ("confirmation_applied", "confirm"): ("confirmation_confirmed", W),
    ("confirmation_applied", "reject_confirmation"): ("confirmation_rejected", W),
    ("confirmation_confirmed", "record_performed"): ("performed", W),
    ("confirmation_confirmed", "record_breached"): ("breached", W),
    ("confirmation_confirmed", "archive"): ("archived", M),
    ("confirmation_rejected", "record_performed"): ("performed", W),
    ("confirmation_rejected", "record_breached"): ("breached", W),
    ("confirmation_rejected", "archive"): ("archived", M),
    ("performed", "archive"): ("archived", M),
    ("breached", "archive"): ("archived", M),
    ("merged", "archive"): ("archived", M),
}

ALL_STATES = (
    "received",
    "awaiting_consent",
    "screening",
    "accepted",
    "not_accepted",
    "mediator_assigned",
    "rights_notified",
    "investigating",
    "in_mediation",
    "waiting_for_party",
    "agreement_written",
    "agreement_oral",
    "failed",
    "withdrawn",
    "referred",
    "confirmation_applied",
    "confirmation_confirmed",
    "confirmation_rejected",
    "performed",
    "breached",
    "merged",
    "archived",
)

# A valid payload for every action, and the fields each must insist on.
VALID = {
    "not_accept": {"reason": "party_refuses", "referral": "可向人民法院起诉"},
    "record_consent": {"consent_by": "张三 电话中同意"},
    "record_refusal": {"refused_by": "李四", "referral": "可向人民法院起诉"},
    "assign": {"mediators": ["u-1"]},
    "reassign": {"mediators": ["u-2", "u-3"]},
    "release": {"note": "on leave next week"},
    "notify_rights": {"acknowledged_by": ["张三", "李四"]},
    "record_session": {"session_id": "s-1"},
    "agree_written": {"agreement_number": "ZH-2026-012"},
    "agree_oral": {"content": "李四于三日内修复漏水。"},
    "fail": {"note": "可向人民法院起诉。"},
    "withdraw": {"withdrawn_by": "李四"},
    "refer": {"target": "court", "target_name": "某区人民法院"},
    "wait_for_party": {"waiting_for": "李四补交材料"},
    "request_other_mediator": {"requested_by": "张三"},
    "apply_confirmation": {"court": "某区人民法院"},
    "reject_confirmation": {"reason": "协议内容违反法律规定"},
    "record_breached": {"note": "未按期付款"},
    "merge": {"into": "LC-2026-000001"},
}
REQUIRED = {
    "not_accept": {"reason", "referral"},
    "record_consent": {"consent_by"},
    "record_refusal": {"refused_by", "referral"},
    "assign": {"mediators"},
    "reassign": {"mediators"},
    "release": {"note"},
    "notify_rights": {"acknowledged_by"},
    "record_session": {"session_id"},
    "agree_written": {"agreement_number"},
    "agree_oral": {"content"},
    "fail": {"note"},
    "withdraw": {"withdrawn_by"},
    "refer": {"target", "target_name"},
    "wait_for_party": {"waiting_for"},
    "request_other_mediator": {"requested_by"},
    "apply_confirmation": {"court"},
    "reject_confirmation": {"reason"},
    "record_breached": {"note"},
    "merge": {"into"},
}
INTERNAL = {
    "reassign",
    "release",
    "record_session",
    "request_other_mediator",
    "record_performed",
    "record_breached",
}
ROLE_SETS = (
    [frozenset()] + [frozenset({r}) for r in ROLES] + [frozenset(c) for c in itertools.combinations(ROLES, 2)]
)


def test_the_module_knows_exactly_the_expected_states_and_actions() -> None:
    assert set(lc.STATES) == set(ALL_STATES)
    assert len(lc.STATES) == len(set(lc.STATES))
    assert set(lc.ACTIONS) == {action for _, action in EXPECTED}
    assert set(lc.ROLES) == set(ROLES)


@pytest.mark.parametrize("state", ALL_STATES)
@pytest.mark.parametrize("action", sorted({a for _, a in EXPECTED}))
@pytest.mark.parametrize("roles", ROLE_SETS, ids=lambda r: "+".join(sorted(r)) or "none")
def test_every_state_action_role(state: str, action: str, roles: frozenset[str]) -> None:
    expected = EXPECTED.get((state, action))
    payload = VALID.get(action, {})
    paused_from = "investigating"
    offered = action in lc.allowed_actions(state, roles)
    if expected is None:
        assert not offered
        with pytest.raises(lc.IllegalTransition) as err:
            lc.apply(state, action, roles, payload, paused_from=paused_from)
        assert err.value.reason == "state"
        return
    target, allowed = expected
    if not roles & allowed:
        assert not offered
        with pytest.raises(lc.IllegalTransition) as err:
            lc.apply(state, action, roles, payload, paused_from=paused_from)
        assert err.value.reason == "role"
        return
    assert offered
    result = lc.apply(state, action, roles, payload, paused_from=paused_from)
    want = {SAME: state, BACK: paused_from}.get(target, target)
    assert (result.from_state, result.action, result.to_state) == (state, action, want)
    assert result.public is (action not in INTERNAL)


def test_patrol_members_can_never_move_the_lifecycle() -> None:
    for state in ALL_STATES:
        assert lc.allowed_actions(state, {"patrol_member"}) == []
        for action in lc.ACTIONS:
            with pytest.raises(lc.IllegalTransition):
                lc.apply(state, action, {"patrol_member"}, VALID.get(action), paused_from="mediator_assigned")


def test_a_lead_can_do_everything_a_mediator_can() -> None:
    for state in ALL_STATES:
        assert set(lc.allowed_actions(state, {"mediator"})) <= set(lc.allowed_actions(state, {"studio_lead"}))


def test_only_management_accepts_declines_assigns_reassigns_archives() -> None:
    for state in ALL_STATES:
        for action in ("accept", "not_accept", "assign", "reassign", "archive"):
            assert action not in lc.allowed_actions(state, {"mediator"})
        # District admins oversee: they never record the parties' casework.
        for action in ("agree_written", "agree_oral", "fail", "notify_rights", "record_session"):
            assert action not in lc.allowed_actions(state, {"district_admin"})


def test_closed_states_allow_only_follow_up_and_archive() -> None:
    follow_up = {
        "apply_confirmation",
        "confirm",
        "reject_confirmation",
        "record_performed",
        "record_breached",
        "archive",
    }
    for state in lc.CLOSED_STATES:
        assert set(lc.allowed_actions(state, ROLES)) <= follow_up, state
    assert lc.allowed_actions("archived", ROLES) == []
    assert lc.TERMINAL_STATES == ("archived",)
    assert all(lc.is_closed(s) for s in lc.CLOSED_STATES)
    assert not any(lc.is_closed(s) for s in lc.OPEN_STATES)


def _successors(node: tuple[str, str | None]) -> set[tuple[str, str | None]]:
    # A node is (state, paused_from): resume can only go back where the case paused from.
    state, paused_from = node
    found = set()
    for action in lc.allowed_actions(state, ROLES):
        result = lc.apply(state, action, ROLES, VALID.get(action), paused_from=paused_from)
        found.add((result.to_state, result.paused_from))
    return found


def _reachable(start: str, avoid: frozenset[str] = frozenset()) -> set[str]:
    first = (start, "in_mediation" if start == "waiting_for_party" else None)
    seen, todo = {first}, deque([first])
    while todo:
        for nxt in _successors(todo.popleft()) - seen:
            if nxt[0] not in avoid:
                seen.add(nxt)
                todo.append(nxt)
    return {state for state, _ in seen}


def test_every_state_can_reach_archived_and_every_state_is_reachable() -> None:
    for state in ALL_STATES:
        assert "archived" in _reachable(state), state
    assert lc.INITIAL_STATES == ("received", "awaiting_consent")
    assert _reachable("received") | _reachable("awaiting_consent") == set(ALL_STATES)


def test_mediation_never_starts_before_rights_are_notified() -> None:
    # MoJ 2002 Art 30: rights and duties are explained before mediating.
    assert "in_mediation" not in _reachable("received", avoid=frozenset({"rights_notified"}))


@pytest.mark.parametrize("action", sorted(REQUIRED))
def test_required_payload_fields_are_enforced(action: str) -> None:
    state = next(s for (s, a) in EXPECTED if a == action)
    for name in REQUIRED[action]:
        for bad in (None, "", "   ", []):
            payload = {**VALID[action], name: bad}
            with pytest.raises(lc.IllegalTransition) as err:
                lc.apply(state, action, ROLES, payload)
            assert err.value.reason == "payload"
            assert name in err.value.errors
    assert {need.name for need in lc.required_fields(action)} == REQUIRED[action]


def test_actions_without_required_fields_need_no_payload() -> None:
    for (state, action), _ in EXPECTED.items():
        if action not in REQUIRED:
            lc.apply(state, action, ROLES, None, paused_from="mediator_assigned")


def test_not_accepted_needs_a_known_reason_and_a_referral() -> None:
    with pytest.raises(lc.IllegalTransition, match="reason"):
        lc.apply("screening", "not_accept", {"studio_lead"}, {"reason": "busy", "referral": "法院"})
    with pytest.raises(lc.IllegalTransition, match="referral"):
        lc.apply("screening", "not_accept", {"studio_lead"}, {"reason": "out_of_scope"})
    done = lc.apply("screening", "not_accept", {"studio_lead"}, VALID["not_accept"])
    assert done.outcome == "not_accepted"
    assert done.payload["referral"] == "可向人民法院起诉"


def test_referral_target_must_be_court_arbitration_or_agency() -> None:
    with pytest.raises(lc.IllegalTransition) as err:
        lc.apply("in_mediation", "refer", {"mediator"}, {"target": "police", "target_name": "派出所"})
    assert set(err.value.errors) == {"target"}
    for target in ("court", "arbitration", "agency"):
        lc.apply("in_mediation", "refer", {"mediator"}, {"target": target, "target_name": "x"})


def test_outcomes_of_ending_states_are_the_case_closed_codes() -> None:
    assert set(lc.OUTCOME_OF) == set(lc.ENDING_STATES)
    assert set(lc.OUTCOME_OF.values()) == set(OUTCOMES)
    for (state, action), (target, _) in EXPECTED.items():
        result = lc.apply(state, action, ROLES, VALID.get(action), paused_from="mediator_assigned")
        if target in lc.ENDING_STATES:
            assert result.outcome == target
        else:
            assert result.outcome is None, (state, action)


def test_merging_closes_a_duplicate_nobody_has_taken_up_without_an_outcome() -> None:
    # Only before a mediator has taken the case: after that, its parties have been spoken to.
    mergeable = {state for (state, action) in EXPECTED if action == "merge"}
    assert mergeable == {"received", "screening", "accepted"}
    for state in ALL_STATES:
        assert ("merge" in lc.allowed_actions(state, {"mediator"})) is (state in mergeable), state
    done = lc.apply("accepted", "merge", {"mediator"}, {"into": "LC-2026-000001"})
    assert (done.to_state, done.outcome, done.clock, done.public) == ("merged", None, "stop", True)
    assert done.closes_case and done.payload["into"] == "LC-2026-000001"
    assert lc.is_closed("merged") and lc.label("merged", "en") == "Merged into another case"
    # Closed without a mediation outcome: no `case.closed` code, nothing to follow up but archiving.
    assert "merged" not in lc.OUTCOME_OF and "merged" not in OUTCOMES
    assert lc.allowed_actions("merged", ROLES) == ["archive"]
    with pytest.raises(lc.IllegalTransition) as err:
        lc.apply("merged", "merge", ROLES, {"into": "LC-2026-000002"})
    assert err.value.reason == "state"


def test_closes_case_is_true_exactly_when_an_open_case_ends() -> None:
    for (state, action), _ in EXPECTED.items():
        result = lc.apply(state, action, ROLES, VALID.get(action), paused_from="mediator_assigned")
        assert result.closes_case is (state in lc.OPEN_STATES and result.to_state in lc.CLOSED_STATES)
        # Every ending of an open case but a merge carries its `case.closed` outcome.
        assert result.closes_case is (result.outcome is not None or result.to_state == "merged")


def test_confirmation_reminders_stop_once_applied_for_or_archived() -> None:
    assert lc.confirmation_pending("agreement_written", ["agree_written"])
    # Performance follow-up does not take the right away (a breached agreement is when it matters).
    assert lc.confirmation_pending("breached", ["agree_written", "record_breached"])
    assert lc.confirmation_pending("performed", ["agree_written", "record_performed"])
    assert not lc.confirmation_pending("performed", ["agree_written", "apply_confirmation", "confirm"])
    for state in ("confirmation_applied", "confirmation_confirmed", "confirmation_rejected", "archived"):
        assert not lc.confirmation_pending(state, ["agree_written"]), state
    assert not lc.confirmation_pending("agreement_oral", ["agree_oral"])  # nothing signed to confirm
    assert not any(lc.confirmation_pending(state, []) for state in lc.OPEN_STATES)


def test_waiting_pauses_and_resume_returns_where_it_paused() -> None:
    for state in ("accepted", "mediator_assigned", "rights_notified", "investigating", "in_mediation"):
        paused = lc.apply(state, "wait_for_party", {"mediator"}, VALID["wait_for_party"])
        assert (paused.to_state, paused.paused_from, paused.clock) == ("waiting_for_party", state, "pause")
        resumed = lc.apply(paused.to_state, "resume", {"mediator"}, paused_from=paused.paused_from)
        assert (resumed.to_state, resumed.clock, resumed.paused_from) == (state, "resume", None)
    for bad in (None, "received", "archived", "waiting_for_party"):
        with pytest.raises(lc.IllegalTransition, match="paused from"):
            lc.apply("waiting_for_party", "resume", {"mediator"}, paused_from=bad)


def test_clock_starts_on_acceptance_and_stops_when_the_case_ends() -> None:
    assert lc.apply("screening", "accept", {"studio_lead"}).clock == "start"
    assert lc.apply("in_mediation", "fail", {"mediator"}, VALID["fail"]).clock == "stop"
    assert lc.apply("waiting_for_party", "withdraw", {"mediator"}, VALID["withdraw"]).clock == "stop"
    assert lc.apply("mediator_assigned", "notify_rights", {"mediator"}, VALID["notify_rights"]).clock is None
    assert lc.apply("performed", "archive", {"studio_lead"}).clock is None  # already stopped


def test_errors_name_state_action_and_role() -> None:
    with pytest.raises(lc.IllegalTransition) as err:
        lc.apply("received", "accept", {"studio_lead"})
    assert all(word in str(err.value) for word in ("received", "accept", "studio_lead"))
    with pytest.raises(lc.IllegalTransition) as err:
        lc.apply("screening", "accept", {"mediator"})
    assert all(word in str(err.value) for word in ("screening", "accept", "mediator"))
    assert (err.value.state, err.value.action, err.value.roles) == ("screening", "accept", ("mediator",))
    with pytest.raises(lc.IllegalTransition, match="Unknown case state"):
        lc.apply("closed", "archive", ROLES)
    with pytest.raises(lc.IllegalTransition, match="Unknown action"):
        lc.apply("received", "fly", ROLES)
    with pytest.raises(TypeError):
        lc.allowed_actions("received", "mediator")
    assert lc.allowed_actions("closed", ROLES) == []


def test_every_state_and_action_has_both_labels() -> None:
    for table, codes in ((lc.STATE_LABELS, lc.STATES), (lc.ACTION_LABELS, lc.ACTIONS)):
        assert set(table) == set(codes)
        for code in codes:
            assert table[code]["en"].strip()
            assert any("\u4e00" <= ch <= "\u9fff" for ch in table[code]["zh-CN"])
    assert lc.label("in_mediation", "zh-CN") == "调解中"
    assert lc.label("in_mediation", "en") == "In mediation"
    assert lc.label("archive", "en", lc.ACTION_LABELS) == "Archive"
    assert lc.label("mystery", "en") == "mystery"
    assert set(lc.NOT_ACCEPTED_REASON_LABELS) == set(lc.NOT_ACCEPTED_REASONS)
    assert set(lc.REFERRAL_TARGET_LABELS) == set(lc.REFERRAL_TARGETS)


HISTORIES = (
    (),
    ("agree_written",),
    ("agree_written", "record_performed"),
    ("agree_written", "record_breached"),
    ("agree_oral", "record_performed"),
    ("agree_oral", "record_breached"),
    ("agree_written", "apply_confirmation", "confirm", "record_performed"),
    ("agree_written", "apply_confirmation", "reject_confirmation", "record_breached"),
)


def test_confirmation_is_recordable_exactly_where_it_is_reminded() -> None:
    # PML Art 33: the application may be made within 30 days of the agreement whatever its
    # performance; the desk must accept it wherever the reminders still ask the parties for it.
    for state, history in itertools.product(ALL_STATES, HISTORIES):
        pending = lc.confirmation_pending(state, history)
        offered = "apply_confirmation" in lc.allowed_actions(state, W, history)
        assert offered is pending, (state, history)
        if pending:
            done = lc.apply(state, "apply_confirmation", W, VALID["apply_confirmation"], actions_done=history)
            assert (done.to_state, done.public) == ("confirmation_applied", True)
        else:
            with pytest.raises(lc.IllegalTransition) as err:
                lc.apply(state, "apply_confirmation", W, VALID["apply_confirmation"], actions_done=history)
            assert err.value.reason == "state", (state, history)
    # The cases the issue named: a written agreement performed or breached can still be confirmed.
    assert lc.confirmation_pending("performed", ("agree_written", "record_performed"))
    assert lc.confirmation_pending("breached", ("agree_written", "record_breached"))
    # A performed oral agreement, or one applied for already, has nothing left to apply for.
    assert not lc.confirmation_pending("performed", ("agree_oral", "record_performed"))
    assert not lc.confirmation_pending("performed", HISTORIES[6])


# Voluntariness (PML Art 3, 17, 23): one path through the table each.
def test_an_applicant_who_said_no_reaches_mediation_only_after_their_consent_is_recorded() -> None:
    # No screening, acceptance or taking before consent: only consent, a refusal or a withdrawal.
    assert set(lc.allowed_actions("awaiting_consent", ROLES)) == {
        "record_consent",
        "record_refusal",
        "withdraw",
    }
    assert "accepted" not in _reachable("awaiting_consent", avoid=frozenset({"screening"}))
    with pytest.raises(lc.IllegalTransition) as err:
        lc.apply("awaiting_consent", "record_consent", {"mediator"}, {"consent_by": " "})
    assert err.value.reason == "payload" and set(err.value.errors) == {"consent_by"}
    done = lc.apply("awaiting_consent", "record_consent", {"mediator"}, VALID["record_consent"])
    assert (done.to_state, done.public, done.outcome, done.clock) == ("screening", True, None, None)
    accepted = lc.apply(done.to_state, "accept", {"studio_lead"})
    assert (accepted.to_state, accepted.clock) == ("accepted", "start")


def test_a_partys_clear_refusal_recorded_by_the_mediator_ends_the_case_not_accepted_with_a_referral() -> None:
    for state in ("awaiting_consent", "screening", "accepted", "in_mediation", "waiting_for_party"):
        done = lc.apply(
            state, "record_refusal", {"mediator"}, VALID["record_refusal"], paused_from="in_mediation"
        )
        assert (done.to_state, done.outcome, done.public, done.clock) == (
            "not_accepted",
            "not_accepted",
            True,
            "stop",
        )
        assert done.closes_case
    with pytest.raises(lc.IllegalTransition) as err:
        lc.apply("accepted", "record_refusal", {"mediator"}, {"refused_by": "李四"})
    assert set(err.value.errors) == {"referral"}  # never without a route onward
    with pytest.raises(lc.IllegalTransition) as err:
        lc.apply("agreement_written", "record_refusal", {"mediator"}, VALID["record_refusal"])
    assert err.value.reason == "state"


PARTY = frozenset({"party"})


def test_a_party_may_only_withdraw_or_ask_for_another_mediator() -> None:
    assert "party" not in lc.ROLES  # never a staff role
    for state in ALL_STATES:
        allowed = set(lc.allowed_actions(state, PARTY))
        assert allowed <= {"withdraw", "request_other_mediator"}, state
        assert ("withdraw" in allowed) is (state in lc.OPEN_STATES), state
        mediator_on_case = state in ("mediator_assigned", "rights_notified", "investigating", "in_mediation")
        assert ("request_other_mediator" in allowed) is (mediator_on_case or state == "waiting_for_party"), (
            state
        )
    for action in ("accept", "take", "fail", "agree_written", "archive", "record_consent"):
        with pytest.raises(lc.IllegalTransition) as err:
            lc.apply("screening" if action == "accept" else "in_mediation", action, PARTY, VALID.get(action))
        assert err.value.reason in ("role", "state")


def test_a_party_withdrawing_ends_the_case_as_withdrawn() -> None:
    done = lc.apply("in_mediation", "withdraw", PARTY, {"withdrawn_by": "applicant:0"})
    assert (done.to_state, done.outcome, done.clock, done.public) == ("withdrawn", "withdrawn", "stop", True)
    with pytest.raises(lc.IllegalTransition) as err:  # an ended case: nothing to withdraw
        lc.apply("withdrawn", "withdraw", PARTY, {"withdrawn_by": "applicant:0"})
    assert err.value.reason == "state"


def test_a_party_asking_for_another_mediator_sends_the_case_back_to_the_pool() -> None:
    done = lc.apply("in_mediation", "request_other_mediator", PARTY, {"requested_by": "applicant:0"})
    assert (done.to_state, done.public, done.outcome) == ("accepted", False, None)
    waiting = lc.apply(
        "waiting_for_party",
        "request_other_mediator",
        PARTY,
        {"requested_by": "x"},
        paused_from="in_mediation",
    )
    assert (waiting.to_state, waiting.clock) == ("accepted", "resume")  # the clock runs again
    with pytest.raises(lc.IllegalTransition) as err:  # no mediator yet: nobody to replace
        lc.apply("accepted", "request_other_mediator", PARTY, {"requested_by": "x"})
    assert err.value.reason == "state"
