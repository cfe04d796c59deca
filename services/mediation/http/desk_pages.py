"""The mediator desk's pages: the queue (my cases, the studio's pool, cases to screen), the case
page (parties, facts, claims, attachments, risk, routing, duplicates, timeline, notes, lifecycle
actions, sessions, agreement), all plain HTML forms with CSRF tokens: everything works without JS.

Every refusal is shown on the page with the reason and the HTTP status of the API (403, 404, 409,
422); nothing is changed by a refused form.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, get_timezone, gettext
from flask_login import current_user

from services.mediation import agreements, desk, registry, sessions, settlement, visits
from services.mediation.bootstrap import Mediation
from services.mediation.domain import deadlines as dl
from services.mediation.domain import lifecycle as lc
from services.mediation.domain import sessions as ss
from services.mediation.domain import visits as visit_rules
from services.mediation.domain.actor import Actor
from shared.auth import Staff, requires_role
from shared.taxonomy import CATEGORIES, RISK_LEVELS, communities
from shared.uploads import Upload
from shared.web.i18n import refusal_errors, refusal_text

bp = Blueprint("desk", __name__, template_folder=str(Path(__file__).resolve().parents[1] / "templates"))

DESK_ROLES = ("mediator", "studio_lead", "district_admin")


def _mediation() -> Mediation:
    return current_app.extensions["mediation"]


def _actor() -> Actor:
    staff = cast(Staff, current_user)
    return Actor(staff.user_id, frozenset(staff.roles), staff.studio)


def _lang() -> str:
    return "zh-CN" if str(get_locale() or "zh_CN").startswith("zh") else "en"


@bp.app_context_processor
def desk_globals() -> dict[str, Any]:
    lang = _lang()
    return {
        "state_label": lambda code: lc.label(code or "", lang),
        "lc_action_label": lambda code: lc.label(code, lang, lc.ACTION_LABELS),
        "deadline_label": deadline_label,
        "lc_actions": lc.ACTIONS,
        "desk_lang": lang,
        "desk_event_label": desk_event_label,
        "settlement_answer_label": settlement_answer_label,
    }


def desk_event_label(action: str) -> str:
    """Timeline entries that are not lifecycle actions (those use the lifecycle's labels)."""
    labels = {
        "session_scheduled": gettext("Session scheduled"),
        "session_rescheduled": gettext("Session moved"),
        "session_cancelled": gettext("Session cancelled"),
        "note": gettext("Internal note"),
        "note_shared": gettext("Note shared with the parties"),
        "merged": gettext("Duplicate merged in"),
        "merged_into": gettext("Merged into another case"),  # merges recorded before `merge` closed the case
        "escalated": gettext("Escalated (overdue)"),
        "agreement_scan": gettext("Signed agreement scan uploaded"),
        "confirmation_reminder": gettext("Judicial confirmation reminder sent"),
        "settlement_check": gettext("Applicants asked whether the dispute is settled"),
        "settlement_answered": gettext("An applicant answered whether the dispute is settled"),
        "reopen_requested": gettext("A linked case was opened"),
        "visit_recorded": gettext("Follow-up visit recorded"),
        "term_check_due": gettext("Agreement term due: check its performance"),
    }
    if action in labels:
        return labels[action]
    from services.mediation.http.pages import action_label

    return action_label(action)


def settlement_answer_label(answer: str | None) -> str:
    """An applicant's "is it settled?" answer, in the reader's language."""
    labels = {
        "settled": gettext("Stayed settled"),
        "not_settled": gettext("Not settled"),
        "not_sure": gettext("Not sure"),
    }
    return labels.get(answer or "", answer or "")


def deadline_label(status: str | None) -> str:
    return {
        dl.OVERDUE: gettext("Overdue"),
        dl.DUE_SOON: gettext("Due soon"),
        dl.ON_TRACK: gettext("On track"),
        dl.PAUSED: gettext("Paused"),
        dl.STOPPED: gettext("Ended"),
    }.get(status or "", "")


def _term_dues(case: dict[str, Any]) -> list[str]:
    """The agreement form's due-date fields: one per drafted term, and a few more for new terms."""
    terms = (case.get("agreement") or {}).get("terms") or []
    dues = [due.isoformat() if (due := visit_rules.term_due(t)) else "" for t in terms]
    return dues + [""] * max(3, 5 - len(dues))


# The queue ---------------------------------------------------------------------------------------
# Rows per list on the queue page: rendering a 1,000-case pool took ~165 ms of template work, and
# only each list's first page is read (`desk.queue`); "Show more" pages on through one list.
QUEUE_PAGE_ROWS = desk.QUEUE_PAGE


@bp.get("/desk")
@requires_role(*DESK_ROLES)
def queue_page() -> str:
    args = request.args
    filters = desk.QueueFilters(
        risk=args.get("risk") if args.get("risk") in RISK_LEVELS else None,
        category=args.get("category") or None,
        community=args.get("community") or None,
        status=args.get("status") if args.get("status") in lc.OPEN_STATES else None,
    )
    actor = _actor()
    studio = args.get("studio") if desk.is_admin(actor) else None
    # The next page of one list: its name and the reference of the last row shown before.
    paged = args.get("list") if args.get("list") in ("mine", *desk.QUEUE_LISTS) else None
    after = (args.get("after") or "").strip()[:40]
    page_of = (paged, after) if paged and after else None
    lists = desk.queue(_mediation().db, actor, filters, studio, limit=QUEUE_PAGE_ROWS, after=page_of)
    lang = "zh" if _lang() == "zh-CN" else "en"
    tasks = visits.open_tasks(_mediation().db, actor)  # follow-up after endings: the first few here
    base = {k: v for k, v in args.to_dict().items() if k not in ("list", "after")}

    def more_url(name: str) -> str | None:
        """The link to the page after this list's last row shown; None when it shows the rest."""
        rows = getattr(lists, name)
        if len(rows) < QUEUE_PAGE_ROWS or (paged != name and len(rows) >= lists.counts.get(name, 0)):
            return None
        return url_for("desk.queue_page", **base, list=name, after=rows[-1]["_id"])

    return render_template(
        "mediation/desk_queue.html",
        **_row_helpers(),
        lists=lists,
        filters=filters,
        risk_options=[(level, level) for level in reversed(RISK_LEVELS)],
        category_options=[(c.code, c.name(lang)) for c in CATEGORIES],
        community_options=[(c.code, c.name(lang)) for c in communities()],
        status_options=[(s, lc.label(s, _lang())) for s in lc.OPEN_STATES],
        can_take=bool(actor.roles & lc.CASEWORK) and bool(actor.studio),
        paged=paged if after else None,
        more_url=more_url,
        first_page_url=url_for("desk.queue_page", **base),
        tasks=tasks[: visits.HOME_ROWS],
        tasks_total=len(tasks),
    )


# A path segment as werkzeug's converters quote it (`url_for`'s own quoting of a reference).
_SEGMENT_SAFE = "!$&'()*+,/:;=@"
_SLOT = "__reference__"


def _row_helpers() -> dict[str, Any]:
    """What the queue's rows need per row, prepared once per page: `url_for` and babel's date
    formatting cost ~50 µs a call each, and a page has up to 200 rows (case link, take form, due
    day). The links are built once with a placeholder and filled with the quoted reference."""
    case_link = url_for("desk.case_page", reference=_SLOT)
    take_link = url_for("desk.take", reference=_SLOT)
    zone = get_timezone()

    def due_day(at: datetime) -> str:
        # As `datetimeformat("yyyy-MM-dd")` shows it: in the reader's time zone (naive is UTC).
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone).strftime("%Y-%m-%d")

    return {
        "case_url": lambda ref: case_link.replace(_SLOT, quote(str(ref), safe=_SEGMENT_SAFE)),
        "take_url": lambda ref: take_link.replace(_SLOT, quote(str(ref), safe=_SEGMENT_SAFE)),
        "due_day": due_day,
    }


@bp.post("/desk/take-next")
@requires_role("mediator", "studio_lead")
def take_next() -> Response:
    try:
        done = desk.take_next(_mediation(), _actor())
    except desk.DeskError as err:
        flash(refusal_text(err))
        return redirect(url_for("desk.queue_page"))
    if done is None:
        flash(gettext("No unclaimed case is waiting in your studio's pool."))
        return redirect(url_for("desk.queue_page"))
    flash(gettext("You have taken case %(ref)s.", ref=done.case["_id"]))
    return redirect(url_for("desk.case_page", reference=done.case["_id"]))


@bp.post("/desk/cases/<reference>/take")
@requires_role("mediator", "studio_lead")
def take(reference: str) -> Any:
    try:
        desk.take(_mediation(), reference, _actor())
    except desk.NotFound:
        abort(404)
    except desk.DeskError as err:
        flash(gettext("Not taken: %(why)s", why=refusal_text(err)))
        return redirect(url_for("desk.queue_page"))
    flash(gettext("You have taken case %(ref)s.", ref=reference))
    return redirect(url_for("desk.case_page", reference=reference))


# The case page ------------------------------------------------------------------------------------
def _field_kind(need: lc.Need) -> str:
    return need.kind


def _action_forms(case: dict[str, Any], actor: Actor) -> list[dict[str, Any]]:
    """The lifecycle actions this user may take now, each with the fields its form needs."""
    state = case.get("status", lc.RECEIVED)
    lang = _lang()
    forms = []
    for action in lc.allowed_actions(state, actor.roles, desk.actions_done(case)):
        if action in (lc.TAKE, lc.RECORD_SESSION, lc.AGREE_WRITTEN, lc.RELEASE, lc.MERGE):
            continue  # their own forms: take (queue), session record, agreement, hand-over, merge
        if action not in (lc.ASSIGN, lc.REASSIGN, lc.ACCEPT, lc.NOT_ACCEPT, lc.ARCHIVE) and not (
            desk.on_case(actor, case) or desk.is_lead_of(actor, case) or state in desk.SCREENING_STATES
        ):
            continue
        fields = []
        for need in lc.required_fields(action):
            choices: list[tuple[str, str]] = []
            if need.name == "reason" and action == lc.NOT_ACCEPT:
                choices = [(c, lc.label(c, lang, lc.NOT_ACCEPTED_REASON_LABELS)) for c in need.choices]
            elif need.name == "target":
                choices = [(c, lc.label(c, lang, lc.REFERRAL_TARGET_LABELS)) for c in need.choices]
            fields.append({"name": need.name, "kind": need.kind, "choices": choices})
        ending = (
            lc.rule_for(state, action) is not None and lc.rule_for(state, action).target in lc.ENDING_STATES
        )  # type: ignore[union-attr]
        forms.append({"action": action, "fields": fields, "ending": ending})
    return forms


FIELD_LABELS = {
    "reason": "Reason",
    "referral": "Where the parties can turn instead",
    "mediators": "Mediators (usernames, comma-separated)",
    "acknowledged_by": "Who acknowledged their rights and duties (names, comma-separated)",
    "content": "What was agreed",
    "note": "Note",
    "withdrawn_by": "Who ended the mediation",
    "consent_by": "Who agreed to mediation, and how (after the studio explained it)",
    "refused_by": "Which party clearly refuses mediation",
    "target": "Referred to",
    "target_name": "Name of the court, arbitration body or agency",
    "waiting_for": "Waiting for what",
    "requested_by": "Which party asked",
    "court": "Court",
    "agreement_number": "Agreement number",
    "into": "Merged into (case reference)",
    "duplicate": "Duplicate case",
    "criminal_prevented_persons": "Kept from becoming a criminal case: persons concerned (0 if not)",
    "petition_prevented_persons": "Group petition prevented: persons concerned (0 if not)",
}


def _render(
    reference: str,
    errors: dict[str, Any] | None = None,
    message: str | None = None,
    status: int = 200,
    *,
    labels: dict[str, str] | None = None,
    open_form: str | None = None,
    submitted: dict[str, str] | None = None,
) -> tuple[str, int]:
    m = _mediation()
    actor = _actor()
    try:
        case = desk.get_case(m.db, reference, actor)
    except desk.NotFound:
        abort(404)
    view = desk.case_view(m.db, case, actor)
    received = case.get("received_at")
    if isinstance(received, str):
        received = datetime.fromisoformat(received)
    view["received_on"] = (
        received.astimezone(registry.timezone(m.db)).strftime("%Y-%m-%d %H:%M") if received else ""
    )
    db = m.db
    duplicates = [
        d
        for d in db.cases.find(
            {"_id": {"$in": case.get("possible_duplicates") or []}, "studio": case["studio"]},
            {"status": 1, "merged_into": 1, "merged": 1, "owner": 1, "received_at": 1, "mediators": 1},
        )
    ]
    # What the merge buttons offer; `desk.merge` decides again (and says why) when one is pressed.
    can_merge = (
        (desk.on_case(actor, case) or desk.is_lead_of(actor, case))
        and not lc.is_closed(case.get("status", lc.RECEIVED))
        and not case.get("merged_into")
    )
    mergeable = [
        d["_id"]
        for d in duplicates
        if can_merge
        and d.get("status") in lc.MERGEABLE_STATES
        and not d.get("merged_into")
        and not d.get("merged")
    ]
    # The other way round: intake flags the older cases on the newer one's page, and the newer
    # filing is usually the duplicate, so this case can also be merged into one listed here.
    this_mergeable = (
        case.get("status") in lc.MERGEABLE_STATES and not case.get("merged_into") and not case.get("merged")
    )
    merge_into = [
        d["_id"]
        for d in duplicates
        if this_mergeable
        and (desk.on_case(actor, d) or desk.is_lead_of(actor, case))
        and not lc.is_closed(d.get("status", lc.RECEIVED))
        and not d.get("merged_into")
    ]
    studio = db.studios.find_one({"_id": case["studio"]}) or {}
    tz = registry.timezone(db)
    booked = [_with_local_times(s, tz) for s in sessions.case_sessions(m, reference)]
    lang = "zh" if _lang() == "zh-CN" else "en"
    community_view = registry.community_view(db, case["community"]) or {}
    body = render_template(
        "mediation/desk_case.html",
        case=view,
        actor_on_case=desk.on_case(actor, case),
        is_lead=desk.is_lead_of(actor, case),
        is_owner=case.get("owner") == actor.user_id,
        action_forms=_action_forms(case, actor),
        field_labels={**{k: gettext(v) for k, v in FIELD_LABELS.items()}, **(labels or {})},
        open_form=open_form,
        submitted=submitted or {},
        duplicates=duplicates,
        mergeable=mergeable,
        merge_into=merge_into,
        merged=desk.merged_cases(db, case),
        studio=studio,
        sessions=booked,
        suggestions=sessions.suggestions(m, case),
        hall=community_view.get("hall") or {},
        tz=tz,
        schedulable=case.get("status") in sessions.SCHEDULABLE,
        agreement=case.get("agreement") or {},
        agreement_terms=[visit_rules.term_text(t) for t in (case.get("agreement") or {}).get("terms") or []],
        agreement_term_dues=_term_dues(case),
        follow_ups=visits.case_tasks(db, case["_id"]),
        access=desk.access_log(db, reference) if desk.is_lead_of(actor, case) or desk.is_admin(actor) else [],
        mediators=desk.studio_mediators(db, case["studio"]),
        errors=errors or {},
        message=message,
        community_name=next(
            (c.name(lang) for c in communities() if c.code == case["community"]), case["community"]
        ),
        category_name=next(
            (c.name(lang) for c in CATEGORIES if c.code == case.get("category")), case.get("category")
        ),
        results=sessions.RESULTS,
        session_status_label=session_status_label,
    )
    return body, status


@bp.get("/desk/cases/<reference>")
@requires_role(*DESK_ROLES)
def case_page(reference: str) -> Any:
    body, status = _render(reference)
    return body, status, {"Cache-Control": "private, no-store"}


def _refused(reference: str, err: desk.DeskError) -> Any:
    if isinstance(err, desk.NotFound) and "No case" in str(err):
        abort(404)
    errors = refusal_errors(err, ("code", "state"))
    body, status = _render(reference, errors, refusal_text(err), err.status)
    return body, status, {"Cache-Control": "private, no-store"}


def _done(reference: str, message: str, anchor: str = "") -> Response:
    flash(message)
    return redirect(url_for("desk.case_page", reference=reference) + anchor)


def _list(value: str) -> list[str]:
    return [part.strip() for part in value.replace("，", ",").replace("\n", ",").split(",") if part.strip()]  # noqa: RUF001


@bp.post("/desk/cases/<reference>/actions/<action>")
@requires_role(*DESK_ROLES)
def case_action(reference: str, action: str) -> Any:
    payload: dict[str, Any] = {}
    if action in lc.ACTIONS:
        for need in lc.required_fields(action):
            raw = request.form.get(need.name, "")
            payload[need.name] = _list(raw) if need.kind == "list" else raw.strip()
    for name in desk.PREVENTION_FIELDS:  # optional, on the ending forms; desk checks them
        if name in request.form:
            payload[name] = request.form.get(name, "")
    try:
        desk.apply_action(
            _mediation(),
            reference,
            _actor(),
            action,
            payload,
            expected_state=request.form.get("expected_state"),
        )
    except desk.DeskError as err:
        return _refused(reference, err)
    return _done(reference, gettext("Done: %(action)s.", action=lc.label(action, _lang(), lc.ACTION_LABELS)))


@bp.post("/desk/cases/<reference>/notes")
@requires_role(*DESK_ROLES)
def add_note(reference: str) -> Any:
    shared = request.form.get("visibility") == "shared"
    try:
        desk.add_note(_mediation(), reference, _actor(), request.form.get("text", ""), shared)
    except desk.DeskError as err:
        return _refused(reference, err)
    message = gettext("Shared with the parties.") if shared else gettext("Internal note saved.")
    return _done(reference, message, "#notes")


@bp.post("/desk/cases/<reference>/handover")
@requires_role("mediator", "studio_lead")
def handover(reference: str) -> Any:
    try:
        desk.hand_over(
            _mediation(),
            reference,
            _actor(),
            request.form.get("note", ""),
            expected_state=request.form.get("expected_state"),
        )
    except desk.DeskError as err:
        return _refused(reference, err)
    flash(gettext("Case %(ref)s is back in the studio's pool.", ref=reference))
    return redirect(url_for("desk.queue_page"))


@bp.post("/desk/cases/<reference>/merge")
@requires_role(*DESK_ROLES)
def merge(reference: str) -> Any:
    """Close the posted duplicate as merged into this case (a repeated post is refused: 409)."""
    duplicate = request.form.get("duplicate", "").strip()
    try:
        desk.merge(_mediation(), reference, duplicate, _actor())
    except desk.DeskError as err:
        return _refused(reference, err)
    return _done(
        reference, gettext("Case %(ref)s was closed and merged into this case.", ref=duplicate), "#merged"
    )


def _local(day: str, clock: str) -> datetime | None:
    try:
        return datetime.combine(
            datetime.strptime(day, "%Y-%m-%d").date(),
            time.fromisoformat(clock),
            tzinfo=registry.timezone(_mediation().db),
        )
    except ValueError:
        return None


def session_status_label(status: str) -> str:
    return {
        ss.SCHEDULED: gettext("Scheduled"),
        ss.HELD: gettext("Held"),
        ss.CANCELLED: gettext("Cancelled"),
    }.get(status, status)


def _with_local_times(session: dict[str, Any], tz: Any) -> dict[str, Any]:
    """The session with its day and times on the district's clock, to prefill the move form."""
    starts, ends = session["starts_at"].astimezone(tz), session["ends_at"].astimezone(tz)
    return {
        **session,
        "local": {"day": f"{starts:%Y-%m-%d}", "start": f"{starts:%H:%M}", "end": f"{ends:%H:%M}"},
    }


def _session_message(err: desk.DeskError, action: str) -> str:
    """A session refusal in the reader's language, by the code the service gives it (the service's
    own text is English: the API's and the logs')."""
    code = err.errors.get("code")
    by_action = {
        ("record", ss.HELD): gettext("This session has been recorded already."),
        ("move", ss.HELD): gettext("A session that was held cannot be moved; schedule a new one instead."),
        ("cancel", ss.HELD): gettext(
            "A session that was held cannot be cancelled; its record stays on the case."
        ),
        ("record", ss.CANCELLED): gettext("This session was cancelled; it cannot be recorded."),
        ("move", ss.CANCELLED): gettext(
            "This session was cancelled; it cannot be moved. Schedule a new one instead."
        ),
        ("cancel", ss.CANCELLED): gettext("This session has been cancelled already."),
        ("schedule", "not_schedulable"): gettext(
            "Sessions are scheduled once the parties' rights have been explained."
        ),
        ("move", "not_schedulable"): gettext("Sessions are moved while the case is being mediated."),
        ("record", "invalid_times"): gettext(
            "A session ends after it starts and no later than the time it was booked until."
        ),
    }
    any_action = {
        "past": gettext("A session cannot be scheduled in the past."),
        "double_booked": gettext("The council hall is already booked at that time."),
        "invalid_times": gettext(
            "Times are on the quarter hour (e.g. 09:00, 09:15); a session lasts at most 8 hours."
        ),
        "unchanged": gettext("The session is already at that time; nothing was changed."),
        "stale": gettext("The session changed in the meantime (moved or cancelled); nothing was changed."),
        "no_session": gettext("No such session of this case."),
        "not_on_case": gettext(
            "Only the case's own mediators or their studio lead schedule, move or cancel its sessions."
        ),
    }
    if isinstance(code, str):
        return by_action.get((action, code)) or any_action.get(code) or refusal_text(err)
    if "reason" in err.errors:
        return gettext("Give the reason for cancelling; the invitees are told it.")
    return refusal_text(err)


def _session_refused(reference: str, err: desk.DeskError, action: str, session_id: str | None = None) -> Any:
    """A refused session form: the page again with the reason in the reader's language and the field
    at fault marked in the form that was sent (each session has its own move and cancel forms, so
    their fields are prefixed with the action and the session's id)."""
    if isinstance(err, desk.NotFound) and "No case" in str(err):
        abort(404)
    message = _session_message(err, action)
    if action == "record":
        errors = refusal_errors(err, ("code", "state", "session"))
        body, status = _render(reference, errors, message, err.status)
        return body, status, {"Cache-Control": "private, no-store"}
    prefix = f"{action}-{session_id}-" if session_id else ""
    fields = {
        "day": ("day", gettext("New day") if session_id else gettext("Day")),
        "starts_at": ("start", gettext("Starts")),
        "room": ("start", gettext("Starts")),
        "ends_at": ("end", gettext("Ends")),
        "reason": ("reason", gettext("Reason for cancelling")),
    }
    errors: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    for key in err.errors:
        if key in fields:
            name, label = fields[key]
            errors[prefix + name] = [message]
            labels[prefix + name] = label
    open_form = prefix.rstrip("-") or None
    # The refused form comes back open with what was typed, so the message matches what is shown.
    typed = {k: request.form.get(k, "") for k in ("day", "start", "end", "reason") if k in request.form}
    body, status = _render(
        reference, errors, message, err.status, labels=labels, open_form=open_form, submitted=typed
    )
    return body, status, {"Cache-Control": "private, no-store"}


def _expected_sequence() -> int | None:
    """The session's sequence as the form showed it (a repeated or stale post is refused)."""
    try:
        return int(request.form.get("sequence", ""))
    except ValueError:
        return None


@bp.post("/desk/cases/<reference>/sessions")
@requires_role(*DESK_ROLES)
def schedule(reference: str) -> Any:
    starts = _local(request.form.get("day", ""), request.form.get("start", ""))
    ends = _local(request.form.get("day", ""), request.form.get("end", ""))
    if starts is None or ends is None:
        err = desk.Invalid(
            gettext("Give the day and the start and end times."), {"day": [gettext("Required.")]}
        )
        return _refused(reference, err)
    try:
        sessions.schedule(
            _mediation(), reference, _actor(), starts, ends, public=request.form.get("public") == "yes"
        )
    except desk.DeskError as err:
        return _session_refused(reference, err, "schedule")
    return _done(reference, gettext("Session scheduled; the parties are being invited."), "#sessions")


@bp.post("/desk/cases/<reference>/sessions/<session_id>/move")
@requires_role(*DESK_ROLES)
def move_session(reference: str, session_id: str) -> Any:
    day = request.form.get("day", "")
    starts = _local(day, request.form.get("start", ""))
    ends = _local(day, request.form.get("end", ""))
    if starts is None or ends is None:
        err = desk.Invalid(gettext("Give the day and the start and end times."), {"day": ["Required."]})
        return _session_refused(reference, err, "move", session_id)
    try:
        sessions.move(
            _mediation(),
            reference,
            session_id,
            _actor(),
            starts,
            ends,
            expected_sequence=_expected_sequence(),
        )
    except desk.DeskError as err:
        return _session_refused(reference, err, "move", session_id)
    return _done(
        reference, gettext("Session moved; the invitees are sent the new time."), f"#session-{session_id}"
    )


@bp.post("/desk/cases/<reference>/sessions/<session_id>/cancel")
@requires_role(*DESK_ROLES)
def cancel_session(reference: str, session_id: str) -> Any:
    try:
        sessions.cancel(
            _mediation(),
            reference,
            session_id,
            _actor(),
            request.form.get("reason", ""),
            expected_sequence=_expected_sequence(),
        )
    except desk.DeskError as err:
        return _session_refused(reference, err, "cancel", session_id)
    return _done(
        reference,
        gettext("Session cancelled; the hall is free again and the invitees are told."),
        f"#session-{session_id}",
    )


@bp.post("/desk/cases/<reference>/sessions/<session_id>/record")
@requires_role(*DESK_ROLES)
def record_session(reference: str, session_id: str) -> Any:
    ended_at = None
    clock = request.form.get("ended_at", "").strip()
    if clock:
        # The time it ended is on the session's own day; `record` checks who may see the case.
        try:
            found: dict[str, Any] | None = sessions.get_session(_mediation(), reference, session_id)
        except desk.NotFound:
            found = None  # `record` answers it, after checking the case is the actor's to see
        if found is not None:
            day = found["starts_at"].astimezone(registry.timezone(_mediation().db))
            ended_at = _local(f"{day:%Y-%m-%d}", clock)
            if ended_at is None:
                message = gettext("Give the time it ended (e.g. 10:30).")
                return _refused(reference, desk.Invalid(message, {"ended_at": [message]}))
    try:
        sessions.record(
            _mediation(),
            reference,
            session_id,
            _actor(),
            attended=_list(request.form.get("attended", "")),
            statements=request.form.get("statements", ""),
            result=request.form.get("result", ""),
            rights_notice_given=request.form.get("rights_notice_given") == "yes",
            ended_at=ended_at,
            expected_state=request.form.get("expected_state"),
        )
    except desk.DeskError as err:
        if err.errors.get("code"):
            return _session_refused(reference, err, "record")
        return _refused(reference, err)
    return _done(reference, gettext("Session record saved."), "#sessions")


@bp.post("/desk/cases/<reference>/agreement")
@requires_role(*DESK_ROLES)
def save_agreement(reference: str) -> Any:
    try:
        form: dict[str, Any] = request.form.to_dict()
        form["term_dues"] = request.form.getlist("term_dues")
        agreements.save_draft(_mediation(), reference, _actor(), form)
    except desk.DeskError as err:
        return _refused(reference, err)
    return _done(reference, gettext("Agreement saved. Download it, print and have it signed."), "#agreement")


@bp.get("/desk/cases/<reference>/agreement.pdf")
@requires_role(*DESK_ROLES)
def agreement_pdf(reference: str) -> Any:
    language = "en" if request.args.get("language") == "en" else "zh-CN"
    try:
        number, data = agreements.pdf(_mediation(), reference, _actor(), language)
    except desk.NotFound:
        abort(404)
    except desk.DeskError as err:
        return _refused(reference, err)
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="agreement-{number}-{language}.pdf"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/desk/cases/<reference>/agreement/sign")
@requires_role(*DESK_ROLES)
def sign_agreement(reference: str) -> Any:
    try:
        agreements.sign(
            _mediation(),
            reference,
            _actor(),
            expected_state=request.form.get("expected_state"),
            prevention={k: request.form.get(k, "") for k in desk.PREVENTION_FIELDS if k in request.form},
        )
    except desk.DeskError as err:
        return _refused(reference, err)
    return _done(
        reference, gettext("Agreement signed: the case is closed with a written agreement."), "#agreement"
    )


@bp.post("/desk/cases/<reference>/agreement/scan")
@requires_role(*DESK_ROLES)
def upload_scan(reference: str) -> Any:
    file = request.files.get("scan")
    upload = Upload(file.filename or "", file.read()) if file else Upload("", b"")
    try:
        agreements.upload_scan(_mediation(), reference, _actor(), upload)
    except desk.DeskError as err:
        return _refused(reference, err)
    return _done(reference, gettext("Signed scan stored."), "#agreement")


@bp.get("/desk/cases/<reference>/agreement/scan")
@requires_role(*DESK_ROLES)
def agreement_scan(reference: str) -> Any:
    try:
        content_type, data = agreements.scan_file(_mediation(), reference, _actor())
    except desk.NotFound:
        abort(404)
    except desk.Forbidden:
        abort(403)
    response = Response(data, mimetype=content_type)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/desk/cases/<reference>/reopen")
@requires_role("studio_lead", "district_admin")
def reopen_case(reference: str) -> Any:
    """Open a new case linked to this one, for an applicant's answer "not settled" (issue 14.4)."""
    party = request.form.get("party", "").strip()[:40]
    try:
        settlement.request_reopen(_mediation(), reference, _actor(), party)
    except desk.DeskError as err:
        return _refused(reference, err)
    return _done(
        reference,
        gettext("A new case linked to this one is being opened; it appears here once it is filed."),
        "#settlement",
    )
