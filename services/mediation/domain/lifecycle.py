# Chinese labels use Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""The case lifecycle: one explicit transition table (state x action -> next state, with the roles
allowed and the payload required), used alike by the desk pages, the API and the tests.

    received → screening → accepted | not_accepted (reason + referral)
    awaiting_consent (the applicant said "no" to mediation at intake) → screening once a mediator
    records their consent; a party's clear refusal, recorded by the mediator, → not_accepted (+ referral)
    accepted → mediator_assigned (a lead assigns, or a mediator takes it) → rights_notified (acknowledgement)
    → investigating → in_mediation (sessions) → agreement_written | agreement_oral | failed | withdrawn
    | referred; a party may withdraw, and a case may be referred or fail, before mediation too.
    agreement → follow-up: performed | breached; judicial confirmation applied → confirmed | rejected
    (a written agreement may be applied for after performed | breached too: `confirmation_pending`)
    a duplicate nobody has taken up yet → merged (closed; its dispute continues in another case)
    every ended / followed-up / merged case → archived (the only terminal state).

Parties act too (PML Art 23), from their tracking page through intake: the `party` role (never a
staff account's) may only withdraw and ask for another mediator.

Cross-cutting: `wait_for_party` pauses the deadline clock and `resume` returns to the state the case
paused from; `request_other_mediator` (a party's Art 23 right) sends the case back to `accepted` for a
new assignment; `reassign` lets a lead change mediators without moving the case; `release` hands a
case nobody has worked on yet back to the studio's pool (a hand-over, or the desk job's timeout).
A risk level is not a state: it can change in any open state and is handled by `risk.py`.

Roles (shared.auth.ROLES): mediators do the casework; studio leads can do everything mediators can,
plus the committee's decisions (accept or decline a case, assign, reassign, archive); district admins
oversee — they can take those management decisions (e.g. when a case is escalated to them) but do
not record casework such as agreements; patrol members never move the lifecycle (their visits are
patrol tasks, see `patrol.py`). Whether a user may act on *this* case (their studio, their case) is
the caller's check; this table only answers "may this role do this action in this state".

Pure: no I/O. The caller stores the new state, `paused_from`, the timeline entry and the events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# States -----------------------------------------------------------------------------------------
RECEIVED = "received"
# The applicant answered "no" to mediation at intake (PML Art 3, 17): the studio explains, and the case
# goes no further until a mediator records their consent.
AWAITING_CONSENT = "awaiting_consent"
SCREENING = "screening"
ACCEPTED = "accepted"
NOT_ACCEPTED = "not_accepted"
ASSIGNED = "mediator_assigned"  # mediators named (not "routed to a studio": that is case.assigned)
RIGHTS_NOTIFIED = "rights_notified"
INVESTIGATING = "investigating"
IN_MEDIATION = "in_mediation"
WAITING_FOR_PARTY = "waiting_for_party"
AGREEMENT_WRITTEN = "agreement_written"
AGREEMENT_ORAL = "agreement_oral"
FAILED = "failed"
WITHDRAWN = "withdrawn"
REFERRED = "referred"
CONFIRMATION_APPLIED = "confirmation_applied"
CONFIRMATION_CONFIRMED = "confirmation_confirmed"
CONFIRMATION_REJECTED = "confirmation_rejected"
PERFORMED = "performed"
BREACHED = "breached"
MERGED = "merged"  # closed as a duplicate: its dispute continues in the case named `merged_into`
ARCHIVED = "archived"

# Where a case is still being worked on; the deadline clock runs from `accepted` on.
OPEN_STATES: tuple[str, ...] = (
    RECEIVED,
    AWAITING_CONSENT,
    SCREENING,
    ACCEPTED,
    ASSIGNED,
    RIGHTS_NOTIFIED,
    INVESTIGATING,
    IN_MEDIATION,
    WAITING_FOR_PARTY,
)
# Where a case starts: routing opens it as `received`, or `awaiting_consent` when the applicant said
# "no" to mediation at intake.
INITIAL_STATES: tuple[str, ...] = (RECEIVED, AWAITING_CONSENT)
# Entering one of these closes the case: a `case.closed` event with the outcome below.
ENDING_STATES: tuple[str, ...] = (
    NOT_ACCEPTED,
    AGREEMENT_WRITTEN,
    AGREEMENT_ORAL,
    FAILED,
    WITHDRAWN,
    REFERRED,
)
# Closed without an outcome of its own: a duplicate merged into the case that carries its dispute
# on. Merging is no mediation outcome (it must not count in success rates), so it is announced by
# `case.merged`, not `case.closed`.
MERGED_STATES: tuple[str, ...] = (MERGED,)
# Closed cases under follow-up (performance, judicial confirmation): no new outcome, still closed.
FOLLOW_UP_STATES: tuple[str, ...] = (
    CONFIRMATION_APPLIED,
    CONFIRMATION_CONFIRMED,
    CONFIRMATION_REJECTED,
    PERFORMED,
    BREACHED,
)
TERMINAL_STATES: tuple[str, ...] = (ARCHIVED,)
CLOSED_STATES: tuple[str, ...] = ENDING_STATES + MERGED_STATES + FOLLOW_UP_STATES + TERMINAL_STATES
STATES: tuple[str, ...] = OPEN_STATES + CLOSED_STATES

# Where waiting for a party may pause the clock: after acceptance (the clock starts there) and
# before the case ends.
PAUSABLE_STATES: tuple[str, ...] = (ACCEPTED, ASSIGNED, RIGHTS_NOTIFIED, INVESTIGATING, IN_MEDIATION)
# Where a mediator is on the case (reassignment, a party asking for another mediator).
MEDIATOR_STATES: tuple[str, ...] = (ASSIGNED, RIGHTS_NOTIFIED, INVESTIGATING, IN_MEDIATION)
# Where a duplicate may be merged into another case: before any mediator has taken it up, so no
# mediator has spoken to its parties yet. Later on, the mediators end one of the two cases the
# ordinary way (withdrawn, referred...), which tells its parties why.
MERGEABLE_STATES: tuple[str, ...] = (RECEIVED, SCREENING, ACCEPTED)
# A signed written agreement whose parties may still apply for judicial confirmation (PML Art 33:
# within 30 days of the agreement, whatever its performance): recording performance or a breach
# does not take that right away, so the application can be recorded in these states and the
# reminders run in exactly the same ones — for a written agreement nobody has applied for yet
# (`confirmation_pending`). Applying (or archiving) ends both.
CONFIRMATION_PENDING_STATES: tuple[str, ...] = (AGREEMENT_WRITTEN, PERFORMED, BREACHED)

# The `case.closed` outcome code (shared/messaging/events.py OUTCOMES) of each ending state.
OUTCOME_OF: Mapping[str, str] = {
    NOT_ACCEPTED: "not_accepted",
    AGREEMENT_WRITTEN: "agreement_written",
    AGREEMENT_ORAL: "agreement_oral",
    FAILED: "failed",
    WITHDRAWN: "withdrawn",
    REFERRED: "referred",
}

# Roles ------------------------------------------------------------------------------------------
MEDIATOR = "mediator"
STUDIO_LEAD = "studio_lead"
PATROL_MEMBER = "patrol_member"
DISTRICT_ADMIN = "district_admin"
ROLES: tuple[str, ...] = (MEDIATOR, STUDIO_LEAD, PATROL_MEMBER, DISTRICT_ADMIN)

CASEWORK: frozenset[str] = frozenset({MEDIATOR, STUDIO_LEAD})  # the case's own mediators and their lead
# A party to the case acting from their tracking page (intake proved their tracking link): not a
# staff role, so never in ROLES and never held by a login.
PARTY = "party"
MANAGEMENT: frozenset[str] = frozenset({STUDIO_LEAD, DISTRICT_ADMIN})  # the committee's decisions

# Actions ----------------------------------------------------------------------------------------
START_SCREENING = "start_screening"
RECORD_CONSENT = "record_consent"
RECORD_REFUSAL = "record_refusal"
ACCEPT = "accept"
NOT_ACCEPT = "not_accept"
ASSIGN = "assign"
TAKE = "take"
REASSIGN = "reassign"
RELEASE = "release"
NOTIFY_RIGHTS = "notify_rights"
START_INVESTIGATION = "start_investigation"
START_MEDIATION = "start_mediation"
RECORD_SESSION = "record_session"
AGREE_WRITTEN = "agree_written"
AGREE_ORAL = "agree_oral"
FAIL = "fail"
WITHDRAW = "withdraw"
REFER = "refer"
WAIT_FOR_PARTY = "wait_for_party"
RESUME = "resume"
REQUEST_OTHER_MEDIATOR = "request_other_mediator"
APPLY_CONFIRMATION = "apply_confirmation"
CONFIRM = "confirm"
REJECT_CONFIRMATION = "reject_confirmation"
RECORD_PERFORMED = "record_performed"
RECORD_BREACHED = "record_breached"
MERGE = "merge"
ARCHIVE = "archive"

# Payload vocabularies.
NOT_ACCEPTED_REASONS: tuple[str, ...] = (
    "out_of_scope",  # not a civil dispute mediation can settle (e.g. a crime)
    "before_court_or_agency",  # already before a court, arbitration or an agency (PML Art 18 / MoJ 2002)
    "party_refuses",  # a party clearly refuses mediation (PML Art 17)
    "other",
)
REFERRAL_TARGETS: tuple[str, ...] = ("court", "arbitration", "agency")

# `resume` goes back to where the case paused from; the table marks that with this placeholder.
PREVIOUS = "<paused_from>"


@dataclass(frozen=True)
class Need:
    """A payload field an action requires: `text` (non-blank string), `list` (non-empty list of
    non-blank strings) or `choice` (one of `choices`)."""

    name: str
    kind: str = "text"
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    """One row of the table: `action` in any of `sources` leads to `target`."""

    action: str
    sources: tuple[str, ...]
    target: str
    roles: frozenset[str]
    needs: tuple[Need, ...] = ()
    public: bool = True  # shown on the resident's tracking page


# Once rights are notified, mediation can fail; a case can be referred once accepted.
_FAILABLE = (RIGHTS_NOTIFIED, INVESTIGATING, IN_MEDIATION, WAITING_FOR_PARTY)
_REFERABLE = (ACCEPTED, ASSIGNED, *_FAILABLE)

# THE table. Order is the order actions are offered on the desk page.
RULES: tuple[Rule, ...] = (
    Rule(START_SCREENING, (RECEIVED,), SCREENING, CASEWORK),
    # The studio explained mediation to an applicant who had said "no"; they now agree (who, how).
    Rule(RECORD_CONSENT, (AWAITING_CONSENT,), SCREENING, CASEWORK, (Need("consent_by"),)),
    Rule(ACCEPT, (SCREENING,), ACCEPTED, MANAGEMENT),
    Rule(
        NOT_ACCEPT,
        (SCREENING,),
        NOT_ACCEPTED,
        MANAGEMENT,
        # The reason, and where the parties are directed instead (they are never left without a route).
        (Need("reason", "choice", NOT_ACCEPTED_REASONS), Need("referral")),
    ),
    Rule(ASSIGN, (ACCEPTED,), ASSIGNED, MANAGEMENT, (Need("mediators", "list"),)),
    Rule(TAKE, (ACCEPTED,), ASSIGNED, CASEWORK),  # a mediator takes the case for themself
    # Changing mediators does not move the case; internal (the parties are told by their mediator).
    Rule(
        REASSIGN, (*MEDIATOR_STATES, WAITING_FOR_PARTY), "", MANAGEMENT, (Need("mediators", "list"),), False
    ),
    # The mediator hands an untouched case back to the studio's pool, with a note for the next one
    # (also done by the desk's periodic job when a taken case stays untouched too long). Internal.
    Rule(RELEASE, (ASSIGNED,), ACCEPTED, CASEWORK, (Need("note"),), False),
    # Rights and duties are explained before mediating (MoJ 2002 Art 30): who acknowledged them.
    Rule(NOTIFY_RIGHTS, (ASSIGNED,), RIGHTS_NOTIFIED, CASEWORK, (Need("acknowledged_by", "list"),)),
    Rule(START_INVESTIGATION, (RIGHTS_NOTIFIED,), INVESTIGATING, CASEWORK),
    # A simple dispute may go straight to a session once rights are notified — never before.
    Rule(START_MEDIATION, (RIGHTS_NOTIFIED, INVESTIGATING), IN_MEDIATION, CASEWORK),
    Rule(RECORD_SESSION, (IN_MEDIATION,), "", CASEWORK, (Need("session_id"),), False),
    Rule(AGREE_WRITTEN, (IN_MEDIATION,), AGREEMENT_WRITTEN, CASEWORK, (Need("agreement_number"),)),
    # An oral agreement's content is recorded (PML Art 30).
    Rule(AGREE_ORAL, (IN_MEDIATION,), AGREEMENT_ORAL, CASEWORK, (Need("content"),)),
    # Failure ends mediation and the parties are told their routes onward (PML Art 26).
    Rule(FAIL, _FAILABLE, FAILED, CASEWORK, (Need("note"),)),
    # A party may end mediation at any time before it ends (PML Art 23): recorded by the mediator, or
    # asked for by the party from their tracking page.
    Rule(
        WITHDRAW,
        (RECEIVED, AWAITING_CONSENT, SCREENING, ACCEPTED, *MEDIATOR_STATES, WAITING_FOR_PARTY),
        WITHDRAWN,
        CASEWORK | {PARTY},
        (Need("withdrawn_by"),),
    ),
    Rule(
        REFER,
        _REFERABLE,
        REFERRED,
        CASEWORK,
        (Need("target", "choice", REFERRAL_TARGETS), Need("target_name")),
    ),
    # A party clearly refuses mediation (PML Art 17), as the mediator heard it: the case is not
    # accepted, and the parties are told where to turn instead.
    Rule(
        RECORD_REFUSAL,
        (AWAITING_CONSENT, SCREENING, ACCEPTED, *MEDIATOR_STATES, WAITING_FOR_PARTY),
        NOT_ACCEPTED,
        CASEWORK,
        (Need("refused_by"), Need("referral")),
    ),
    Rule(WAIT_FOR_PARTY, PAUSABLE_STATES, WAITING_FOR_PARTY, CASEWORK, (Need("waiting_for"),)),
    Rule(RESUME, (WAITING_FOR_PARTY,), PREVIOUS, CASEWORK),
    # A party asks for another mediator (PML Art 23): the case waits in the pool for a new one (the
    # mediator replaced cannot take it back; `desk.take`). Internal: the party knows they asked.
    Rule(
        REQUEST_OTHER_MEDIATOR,
        (*MEDIATOR_STATES, WAITING_FOR_PARTY),
        ACCEPTED,
        CASEWORK | {PARTY},
        (Need("requested_by"),),
        False,
    ),
    # Judicial confirmation (PML Art 33) needs the written agreement.
    # Also after performance follow-up, but only for a written agreement not applied for yet: the
    # history the row needs is checked by `apply` (`confirmation_pending`).
    Rule(APPLY_CONFIRMATION, CONFIRMATION_PENDING_STATES, CONFIRMATION_APPLIED, CASEWORK, (Need("court"),)),
    Rule(CONFIRM, (CONFIRMATION_APPLIED,), CONFIRMATION_CONFIRMED, CASEWORK),
    Rule(REJECT_CONFIRMATION, (CONFIRMATION_APPLIED,), CONFIRMATION_REJECTED, CASEWORK, (Need("reason"),)),
    # Performance follow-up concerns the parties' conduct: internal.
    Rule(
        RECORD_PERFORMED,
        (AGREEMENT_WRITTEN, AGREEMENT_ORAL, CONFIRMATION_CONFIRMED, CONFIRMATION_REJECTED),
        PERFORMED,
        CASEWORK,
        public=False,
    ),
    Rule(
        RECORD_BREACHED,
        (AGREEMENT_WRITTEN, AGREEMENT_ORAL, CONFIRMATION_CONFIRMED, CONFIRMATION_REJECTED),
        BREACHED,
        CASEWORK,
        (Need("note"),),
        public=False,
    ),
    # A duplicate is closed as merged into the case that carries its dispute on (`into`: that case's
    # reference). Public: the resident's tracking page says where their dispute went.
    Rule(MERGE, MERGEABLE_STATES, MERGED, CASEWORK, (Need("into"),)),
    # Records are archived (PML Art 27); not while a court is still deciding on confirmation.
    Rule(
        ARCHIVE,
        tuple(s for s in CLOSED_STATES if s not in (CONFIRMATION_APPLIED, ARCHIVED)),
        ARCHIVED,
        MANAGEMENT,
    ),
)
ACTIONS: tuple[str, ...] = tuple(rule.action for rule in RULES)

_BY_KEY: dict[tuple[str, str], Rule] = {
    (source, rule.action): rule for rule in RULES for source in rule.sources
}


# Labels -----------------------------------------------------------------------------------------
STATE_LABELS: Mapping[str, Mapping[str, str]] = {
    RECEIVED: {"zh-CN": "已受理登记", "en": "Received"},
    AWAITING_CONSENT: {"zh-CN": "待申请人同意调解", "en": "Awaiting the applicant's consent"},
    SCREENING: {"zh-CN": "审查中", "en": "Screening"},
    ACCEPTED: {"zh-CN": "已受理", "en": "Accepted"},
    NOT_ACCEPTED: {"zh-CN": "不予受理", "en": "Not accepted"},
    ASSIGNED: {"zh-CN": "已指派调解员", "en": "Mediator assigned"},
    RIGHTS_NOTIFIED: {"zh-CN": "已告知权利义务", "en": "Rights notified"},
    INVESTIGATING: {"zh-CN": "调查核实中", "en": "Investigating"},
    IN_MEDIATION: {"zh-CN": "调解中", "en": "In mediation"},
    WAITING_FOR_PARTY: {"zh-CN": "等待当事人", "en": "Waiting for a party"},
    AGREEMENT_WRITTEN: {"zh-CN": "达成书面协议", "en": "Written agreement"},
    AGREEMENT_ORAL: {"zh-CN": "达成口头协议", "en": "Oral agreement"},
    FAILED: {"zh-CN": "调解不成", "en": "Mediation failed"},
    WITHDRAWN: {"zh-CN": "当事人终止调解", "en": "Withdrawn"},
    REFERRED: {"zh-CN": "已移送/引导", "en": "Referred"},
    CONFIRMATION_APPLIED: {"zh-CN": "已申请司法确认", "en": "Judicial confirmation applied for"},
    CONFIRMATION_CONFIRMED: {"zh-CN": "司法确认有效", "en": "Judicially confirmed"},
    CONFIRMATION_REJECTED: {"zh-CN": "司法确认被驳回", "en": "Judicial confirmation rejected"},
    PERFORMED: {"zh-CN": "协议已履行", "en": "Agreement performed"},
    BREACHED: {"zh-CN": "协议未履行", "en": "Agreement breached"},
    MERGED: {"zh-CN": "已并入其他案件", "en": "Merged into another case"},
    ARCHIVED: {"zh-CN": "已归档", "en": "Archived"},
}

ACTION_LABELS: Mapping[str, Mapping[str, str]] = {
    START_SCREENING: {"zh-CN": "开始审查", "en": "Start screening"},
    RECORD_CONSENT: {"zh-CN": "记录申请人同意调解", "en": "Record the applicant's consent"},
    RECORD_REFUSAL: {"zh-CN": "当事人明确拒绝调解，不予受理", "en": "A party refuses: not accepted"},
    ACCEPT: {"zh-CN": "受理", "en": "Accept"},
    NOT_ACCEPT: {"zh-CN": "不予受理", "en": "Decline"},
    ASSIGN: {"zh-CN": "指派调解员", "en": "Assign mediators"},
    TAKE: {"zh-CN": "承办本案", "en": "Take this case"},
    REASSIGN: {"zh-CN": "更换调解员", "en": "Reassign"},
    RELEASE: {"zh-CN": "退回待办池", "en": "Hand back to the pool"},
    NOTIFY_RIGHTS: {"zh-CN": "告知权利义务", "en": "Record rights notice"},
    START_INVESTIGATION: {"zh-CN": "开始调查核实", "en": "Start investigating"},
    START_MEDIATION: {"zh-CN": "开始调解", "en": "Start mediation"},
    RECORD_SESSION: {"zh-CN": "记录调解会", "en": "Record a session"},
    AGREE_WRITTEN: {"zh-CN": "达成书面协议", "en": "Record written agreement"},
    AGREE_ORAL: {"zh-CN": "达成口头协议", "en": "Record oral agreement"},
    FAIL: {"zh-CN": "调解不成，终止调解", "en": "End: mediation failed"},
    WITHDRAW: {"zh-CN": "当事人终止调解", "en": "End: a party withdrew"},
    REFER: {"zh-CN": "移送/引导至其他途径", "en": "Refer elsewhere"},
    WAIT_FOR_PARTY: {"zh-CN": "等待当事人（暂停计时）", "en": "Wait for a party (pause clock)"},
    RESUME: {"zh-CN": "恢复办理", "en": "Resume"},
    REQUEST_OTHER_MEDIATOR: {"zh-CN": "当事人要求更换调解员", "en": "A party asks for another mediator"},
    APPLY_CONFIRMATION: {"zh-CN": "申请司法确认", "en": "Judicial confirmation applied for"},
    CONFIRM: {"zh-CN": "司法确认有效", "en": "Confirmation granted"},
    REJECT_CONFIRMATION: {"zh-CN": "司法确认被驳回", "en": "Confirmation rejected"},
    RECORD_PERFORMED: {"zh-CN": "回访：已履行", "en": "Follow-up: performed"},
    RECORD_BREACHED: {"zh-CN": "回访：未履行", "en": "Follow-up: breached"},
    MERGE: {"zh-CN": "作为重复案件并入其他案件", "en": "Merge into another case (duplicate)"},
    ARCHIVE: {"zh-CN": "归档", "en": "Archive"},
}

NOT_ACCEPTED_REASON_LABELS: Mapping[str, Mapping[str, str]] = {
    "out_of_scope": {"zh-CN": "不属于人民调解范围", "en": "Outside the scope of people's mediation"},
    "before_court_or_agency": {
        "zh-CN": "已由法院、仲裁或行政机关受理",
        "en": "Already before a court, arbitration or an agency",
    },
    "party_refuses": {"zh-CN": "当事人明确拒绝调解", "en": "A party clearly refuses mediation"},
    "other": {"zh-CN": "其他", "en": "Other"},
}

REFERRAL_TARGET_LABELS: Mapping[str, Mapping[str, str]] = {
    "court": {"zh-CN": "人民法院", "en": "Court"},
    "arbitration": {"zh-CN": "仲裁机构", "en": "Arbitration"},
    "agency": {"zh-CN": "行政机关", "en": "Government agency"},
}


def label(code: str, language: str, table: Mapping[str, Mapping[str, str]] = STATE_LABELS) -> str:
    """The `language` label of a state (or of an action, with `table=ACTION_LABELS`); the code itself
    when there is none, so a page never breaks on a state it does not know."""
    labels = table.get(code)
    if labels is None:
        return code
    return labels["zh-CN"] if language.lower().startswith("zh") else labels["en"]


# Applying actions -------------------------------------------------------------------------------
class IllegalTransition(Exception):
    """An action that cannot be done: `reason` says why — "state" (not available in this state, or an
    unknown state/action), "role" (none of the user's roles may do it) or "payload" (a required
    field is missing or invalid; `errors` maps each field to its problem)."""

    def __init__(
        self,
        message: str,
        *,
        state: str,
        action: str,
        roles: Iterable[str],
        reason: str,
        errors: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.state = state
        self.action = action
        self.roles = tuple(sorted(roles))
        self.reason = reason
        self.errors = dict(errors or {})


@dataclass(frozen=True)
class Transition:
    """What `apply` decided. The caller stores `to_state` (and `paused_from` while waiting), adds a
    timeline entry (public or internal), emits `case.status_changed` when the state changed, and
    `case.closed` with `outcome` when it is set."""

    from_state: str
    action: str
    to_state: str
    public: bool
    payload: Mapping[str, Any] = field(default_factory=dict)
    outcome: str | None = None  # set when the case closes: a shared.messaging.events OUTCOMES code
    clock: str | None = None  # deadline clock: "start" | "pause" | "resume" | "stop" | None
    paused_from: str | None = None  # while waiting for a party: the state `resume` returns to

    @property
    def changes_state(self) -> bool:
        return self.from_state != self.to_state

    @property
    def closes_case(self) -> bool:
        """The case ends with this change (it was open): `case.closed` follows with `outcome`, or
        `case.merged` for a duplicate merged into another case."""
        return self.from_state in OPEN_STATES and self.to_state in CLOSED_STATES


def _roles(roles: Iterable[str]) -> frozenset[str]:
    # A bare string would be iterated letter by letter: a common slip, refused loudly.
    if isinstance(roles, str):
        raise TypeError("roles must be a collection of role names, not a string")
    return frozenset(roles)


def _history_allows(state: str, action: str, actions_done: Iterable[str] | None) -> bool:
    """The one row that depends on the case's history as well as its state: applying for judicial
    confirmation after performance follow-up needs a written agreement nobody has applied for
    (a performed oral agreement, or one confirmed already, has nothing left to apply for)."""
    if action != APPLY_CONFIRMATION:
        return True
    if actions_done is None:  # no history given: the table's own row (a fresh written agreement)
        return state == AGREEMENT_WRITTEN
    return confirmation_pending(state, actions_done)


def allowed_actions(state: str, roles: Iterable[str], actions_done: Iterable[str] | None = None) -> list[str]:
    """The actions a user with `roles` may take in `state`, in desk order (none in an unknown state).
    `actions_done` (the timeline's actions) lets the history-dependent row be offered when it applies."""
    held = _roles(roles)
    done = None if actions_done is None else tuple(actions_done)
    return [
        rule.action
        for rule in RULES
        if state in rule.sources and rule.roles & held and _history_allows(state, rule.action, done)
    ]


def rule_for(state: str, action: str) -> Rule | None:
    """The table row for `action` in `state`, if the action exists there."""
    return _BY_KEY.get((state, action))


def required_fields(action: str) -> tuple[Need, ...]:
    """What `action`'s payload must carry (so a page can build its form)."""
    for rule in RULES:
        if rule.action == action:
            return rule.needs
    raise KeyError(action)


def _check_payload(rule: Rule, payload: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for need in rule.needs:
        value = payload.get(need.name)
        if need.kind == "list":
            ok = isinstance(value, list | tuple) and bool(value)
            ok = ok and all(isinstance(v, str) and v.strip() for v in value)
            if not ok:
                errors[need.name] = "Required: a non-empty list."
        elif need.kind == "choice":
            if value not in need.choices:
                errors[need.name] = f"Must be one of: {', '.join(need.choices)}."
        elif not (isinstance(value, str) and value.strip()):
            errors[need.name] = "Required."
    return errors


def _clock(from_state: str, to_state: str) -> str | None:
    # Derived from the states so no row can forget it: the clock runs from acceptance to the end.
    if to_state in CLOSED_STATES:
        return "stop" if from_state in OPEN_STATES else None
    if to_state == WAITING_FOR_PARTY:
        return "pause"
    if from_state == WAITING_FOR_PARTY:
        return "resume"
    if from_state in (RECEIVED, SCREENING) and to_state == ACCEPTED:
        return "start"
    return None


def apply(
    state: str,
    action: str,
    roles: Iterable[str],
    payload: Mapping[str, Any] | None = None,
    *,
    paused_from: str | None = None,
    actions_done: Iterable[str] | None = None,
) -> Transition:
    """Decide `action` on a case in `state` by a user with `roles`; raise `IllegalTransition` if it is
    not allowed. `paused_from` is the stored state a waiting case resumes to (needed by `resume`);
    `actions_done` the case's timeline actions (needed to apply for confirmation after follow-up)."""
    held = _roles(roles)
    payload = dict(payload or {})
    who = ", ".join(sorted(held)) or "no role"
    if state not in STATES:
        raise IllegalTransition(
            f"Unknown case state {state!r}.", state=state, action=action, roles=held, reason="state"
        )
    if action not in ACTIONS:
        raise IllegalTransition(
            f"Unknown action {action!r}.", state=state, action=action, roles=held, reason="state"
        )
    rule = _BY_KEY.get((state, action))
    if rule is None or not _history_allows(state, action, actions_done):
        raise IllegalTransition(
            f"Cannot {action!r} a case in state {state!r} (as {who}); allowed here: "
            f"{', '.join(allowed_actions(state, ROLES, actions_done)) or 'nothing'}.",
            state=state,
            action=action,
            roles=held,
            reason="state",
        )
    if not rule.roles & held:
        raise IllegalTransition(
            f"Role {who} may not {action!r} a case in state {state!r}; "
            f"it needs one of: {', '.join(sorted(rule.roles))}.",
            state=state,
            action=action,
            roles=held,
            reason="role",
        )
    errors = _check_payload(rule, payload)
    if errors:
        raise IllegalTransition(
            f"Cannot {action!r} a case in state {state!r} (as {who}): "
            + "; ".join(f"{name}: {problem}" for name, problem in errors.items()),
            state=state,
            action=action,
            roles=held,
            reason="payload",
            errors=errors,
        )
    if rule.target == PREVIOUS:
        if paused_from not in PAUSABLE_STATES:
            raise IllegalTransition(
                f"Cannot {action!r} a case in state {state!r}: the state it paused from "
                f"({paused_from!r}) is not one a case can pause in.",
                state=state,
                action=action,
                roles=held,
                reason="state",
            )
        target = paused_from
    else:
        target = rule.target or state  # "" marks a row that records without moving the case
    return Transition(
        from_state=state,
        action=action,
        to_state=target,
        public=rule.public,
        payload=payload,
        outcome=OUTCOME_OF.get(target) if target != state else None,
        clock=_clock(state, target),
        # Entering the wait remembers where from; a row recorded while waiting keeps it.
        paused_from=(paused_from if state == WAITING_FOR_PARTY else state)
        if target == WAITING_FOR_PARTY
        else None,
    )


def is_closed(state: str) -> bool:
    """Whether a case in `state` has ended (ended, merged, in follow-up or archived)."""
    return state in CLOSED_STATES


def confirmation_pending(state: str, actions_done: Iterable[str]) -> bool:
    """Whether the parties of a case in `state` whose timeline holds `actions_done` may still apply
    for judicial confirmation — and so be reminded to, and have the application recorded: a
    written agreement (possibly followed up since) for which nobody has applied yet, not archived."""
    done = set(actions_done)
    if state not in CONFIRMATION_PENDING_STATES or APPLY_CONFIRMATION in done:
        return False
    # Performance follow-up also follows oral agreements: only a written one can be confirmed.
    return state == AGREEMENT_WRITTEN or AGREE_WRITTEN in done
