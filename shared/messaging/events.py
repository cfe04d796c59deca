"""The schema of every event type, by (type, schema_version).

Event data stays plain JSON (dates as ISO-8601 strings) so that what is validated is exactly what
travels. Unknown fields are tolerated: a producer may add fields without breaking older consumers;
removing or changing one needs a new schema_version.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from shared.messaging.envelope import InvalidMessage
from shared.taxonomy import CATEGORY_CODES, RISK_LEVELS


def _iso_datetime(value: str) -> None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise ValidationError("Not an ISO-8601 date-time.") from err
    if parsed.tzinfo is None:
        raise ValidationError("Date-time must carry a UTC offset.")


def _iso_date(value: str) -> None:
    try:
        date.fromisoformat(value)
    except ValueError as err:
        raise ValidationError("Not an ISO-8601 date.") from err


class EventData(Schema):
    class Meta:
        unknown = EXCLUDE


Reference = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{2}-\d{4}-\d{6}$"))


class PartySchema(EventData):
    role = fields.String(required=True, validate=validate.OneOf(["applicant", "respondent"]))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    phone = fields.String(load_default=None, allow_none=True)
    email = fields.String(load_default=None, allow_none=True)
    language = fields.String(load_default=None, allow_none=True)


class FilerRef(EventData):
    """Whoever filed for the residents (e.g. a building leader), so notify can keep them informed."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    phone = fields.String(load_default=None, allow_none=True)
    email = fields.String(load_default=None, allow_none=True)
    language = fields.String(load_default=None, allow_none=True)


class AttachmentRef(EventData):
    """A file attached to a case, stored in intake's GridFS (bucket `attachments`)."""

    id = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)


# Where a case came from: on application; the mediators' own initiative (patrol or grid discovery,
# a reception day); referred by a court, the police or the petition office.
CASE_SOURCES = (
    "application",
    "own_initiative",
    "patrol_discovery",
    "reception_day",
    "referred_court",
    "referred_police",
    "referred_petition",
    "follow_up",  # a new case opened by the studio lead after an answer "not settled" (issue 14.4)
)


class CaseSubmitted(EventData):
    reference = Reference
    received_at = fields.String(required=True, validate=_iso_datetime)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORY_CODES))
    community = fields.String(required=True)
    building = fields.String(required=True)
    unit = fields.String(load_default="")
    description = fields.String(required=True)
    claims = fields.String(load_default="")
    amount = fields.Float(load_default=None, allow_none=True)
    people_affected = fields.Integer(load_default=None, allow_none=True)
    threat_of_violence = fields.Boolean(load_default=False)
    danger_to_safety = fields.Boolean(load_default=False)
    filed_by = fields.String(load_default="resident")
    language = fields.String(load_default="zh-CN")
    parties = fields.List(fields.Nested(PartySchema), required=True, validate=validate.Length(min=1))
    # Added by intake (issue 3); older messages lack them, so each has a default.
    agrees_to_mediation = fields.Boolean(load_default=True)
    channel = fields.String(load_default="api", validate=validate.OneOf(["web", "api", "open311"]))
    # Open cases of the same community + building + category in the last 30 days: a hint for
    # the mediators, never a rejection. Intake no longer looks them up while filing (mediation
    # does, when it routes the case); the field stays so that older events still load.
    possible_duplicates = fields.List(fields.String(), load_default=list)
    attachments = fields.List(fields.Nested(AttachmentRef), load_default=list)
    # Optional: set when filed_by is "building_leader" (or a clerk) and they gave a contact.
    filer = fields.Nested(FilerRef, load_default=None, allow_none=True)
    # How the case came in (the MoJ table's source split; council's board counts it). Older messages
    # and intake's public forms lack it: a resident filing is an application.
    source = fields.String(load_default="application", validate=validate.OneOf(CASE_SOURCES))
    # A follow-up case opened after an answer "not settled": the old case's reference (issue 14.4).
    linked_to = fields.String(load_default=None, allow_none=True)


class StudioRef(EventData):
    """A studio as events carry it: notify needs its channels, not the registry."""

    code = fields.String(required=True)
    name = fields.String(required=True)
    name_en = fields.String(load_default=None, allow_none=True)
    email = fields.String(load_default=None, allow_none=True)
    lead_email = fields.String(load_default=None, allow_none=True)
    wechat_webhook = fields.String(load_default=None, allow_none=True)


class TeamRef(EventData):
    """A patrol team as events carry it."""

    code = fields.String(required=True)
    name = fields.String(required=True)
    name_en = fields.String(load_default=None, allow_none=True)
    email = fields.String(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True)
    wechat_webhook = fields.String(load_default=None, allow_none=True)


class StaffRef(EventData):
    """A member of staff named in an event (e.g. the mediator who took a case)."""

    user_id = fields.String(required=True)
    name = fields.String(required=True)
    email = fields.String(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True)


class CaseAssigned(EventData):
    reference = Reference
    studio = fields.Nested(StudioRef, required=True)
    assigned_at = fields.String(required=True, validate=_iso_datetime)
    rule = fields.String(required=True)
    needs_manual_routing = fields.Boolean(load_default=False)
    risk_level = fields.String(load_default="none", validate=validate.OneOf(RISK_LEVELS))
    # Optional: the mediator who took the case, when the assignment names one.
    mediator = fields.Nested(StaffRef, load_default=None, allow_none=True)
    # The applicant said "no" to mediation at intake: the studio contacts them to explain first.
    awaiting_consent = fields.Boolean(load_default=False)


class CaseStatusChanged(EventData):
    reference = Reference
    status = fields.String(required=True)
    previous_status = fields.String(load_default=None, allow_none=True)
    changed_at = fields.String(required=True, validate=_iso_datetime)
    # Public changes appear on the resident's tracking page; others stay internal.
    public = fields.Boolean(load_default=True)
    note = fields.String(load_default=None, allow_none=True)
    # True when this change ends the case: a `case.closed` with the outcome follows (a
    # `case.merged` for a duplicate merged into another case), and that is what residents are told
    # (so they hear it once).
    closing = fields.Boolean(load_default=False)


class PatrolDispatched(EventData):
    reference = Reference
    task_id = fields.String(required=True)
    team = fields.Nested(TeamRef, required=True)
    risk_level = fields.String(required=True, validate=validate.OneOf(RISK_LEVELS))
    reason = fields.String(required=True)
    dispatched_at = fields.String(required=True, validate=_iso_datetime)
    due_by = fields.String(load_default=None, allow_none=True, validate=_iso_datetime)
    community = fields.String(load_default=None, allow_none=True)
    studio = fields.Nested(StudioRef, load_default=None, allow_none=True)


class CaseEscalated(EventData):
    reference = Reference
    level = fields.String(required=True, validate=validate.OneOf(["studio_lead", "district_admin"]))
    reason = fields.String(required=True)
    escalated_at = fields.String(required=True, validate=_iso_datetime)
    studio = fields.Nested(StudioRef, required=True)
    due_at = fields.String(load_default=None, allow_none=True, validate=_iso_datetime)
    admin_email = fields.String(load_default=None, allow_none=True)


class PlaceRef(EventData):
    code = fields.String(required=True)
    name = fields.String(required=True)
    name_en = fields.String(load_default=None, allow_none=True)
    address = fields.String(load_default=None, allow_none=True)


class SessionScheduled(EventData):
    reference = Reference
    session_id = fields.String(required=True)
    starts_at = fields.String(required=True, validate=_iso_datetime)
    ends_at = fields.String(required=True, validate=_iso_datetime)
    place = fields.Nested(PlaceRef, required=True)
    public = fields.Boolean(load_default=False)  # sessions are private unless the parties agree
    mediators = fields.List(fields.Nested(StaffRef), load_default=list)
    studio = fields.Nested(StudioRef, load_default=None, allow_none=True)
    # The invitation's iCalendar SEQUENCE: 0 when first scheduled, raised by each move and by the
    # cancellation, so every copy of the .ics replaces the one before (older messages lack it).
    sequence = fields.Integer(load_default=0, validate=validate.Range(min=0))


class SessionRescheduled(SessionScheduled):
    """A scheduled session moved to a new time (same session, same hall): `starts_at`/`ends_at` are
    the new times, the previous ones are kept so the invitees can be told what changed."""

    previous_starts_at = fields.String(required=True, validate=_iso_datetime)
    previous_ends_at = fields.String(required=True, validate=_iso_datetime)
    rescheduled_at = fields.String(required=True, validate=_iso_datetime)
    sequence = fields.Integer(required=True, validate=validate.Range(min=1))


class SessionCancelled(SessionScheduled):
    """A scheduled session was cancelled (its hall released): `starts_at`/`ends_at` are the times it
    had. `reason` is told to the invitees, so it is written for them."""

    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    cancelled_at = fields.String(required=True, validate=_iso_datetime)
    sequence = fields.Integer(required=True, validate=validate.Range(min=1))


OUTCOMES = ("agreement_written", "agreement_oral", "failed", "withdrawn", "referred", "not_accepted")


class CaseClosed(EventData):
    reference = Reference
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    closed_at = fields.String(required=True, validate=_iso_datetime)
    # What the parties are told (e.g. their routes onward after a failure); never internal notes.
    public_note = fields.String(load_default=None, allow_none=True)
    studio = fields.Nested(StudioRef, load_default=None, allow_none=True)
    # Recorded by the mediator at closing (older messages lack them: 0). Persons concerned when the
    # dispute was kept from becoming a criminal case (防止民转刑) / a group petition was prevented
    # (防止群体性上访); 0 when it was not. Counts only: the board's statistics need nothing more.
    criminal_prevented_persons = fields.Integer(load_default=0, validate=validate.Range(min=0, max=9999))
    petition_prevented_persons = fields.Integer(load_default=0, validate=validate.Range(min=0, max=9999))


class CaseMerged(EventData):
    """A duplicate was closed as merged into another case of the same studio, which carries its
    dispute on. Residents may be told the other case's reference, never anything else about it
    (its parties are other residents). Not a `case.closed`: merging is no mediation outcome."""

    reference = Reference  # the duplicate, now closed
    merged_into = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{2}-\d{4}-\d{6}$"))
    merged_at = fields.String(required=True, validate=_iso_datetime)
    studio = fields.Nested(StudioRef, load_default=None, allow_none=True)


class StaffAccessRevoked(EventData):
    """A staff account was disabled, given another role or a new password: its tokens issued
    before `not_before` are void in every service (`shared.staff_access`). Names no one but the
    account's username."""

    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    not_before = fields.String(required=True, validate=_iso_datetime)


class CasePersonalDataErased(EventData):
    """The retention period of an archived case ended (PIPL Art 19): mediation erased the parties'
    names, phones and addresses, and every service erases its own copies. Carries no personal data."""

    reference = Reference
    erased_at = fields.String(required=True, validate=_iso_datetime)
    archived_at = fields.String(load_default=None, allow_none=True, validate=_iso_datetime)


class PatrolReported(EventData):
    """A patrol team's visit report (a dispatch, a same-day task or a hot-spot sweep)."""

    task_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["dispatch", "same_day", "sweep"]))
    reference = fields.String(load_default=None, allow_none=True)  # a sweep has no case
    team = fields.Nested(TeamRef, required=True)
    community = fields.String(required=True)
    calmed = fields.Boolean(required=True)  # whether the dispute calmed down on the visit
    findings = fields.String(required=True)
    people_met_count = fields.Integer(load_default=0)
    photos = fields.Integer(load_default=0)
    reported_at = fields.String(required=True, validate=_iso_datetime)
    studio = fields.Nested(StudioRef, load_default=None, allow_none=True)
    # The visit uncovered a dispute before anyone filed it (older messages lack it).
    found_early = fields.Boolean(load_default=False)


class CaseRiskChanged(EventData):
    """A studio lead raised or lowered a case's risk level, with a reason."""

    reference = Reference
    level = fields.String(required=True, validate=validate.OneOf(RISK_LEVELS))
    previous_level = fields.String(required=True, validate=validate.OneOf(RISK_LEVELS))
    reason = fields.String(required=True)
    changed_at = fields.String(required=True, validate=_iso_datetime)
    changed_by = fields.String(required=True)
    studio = fields.Nested(StudioRef, load_default=None, allow_none=True)


class AgreementConfirmationDue(EventData):
    """The window to apply for judicial confirmation of a written agreement (PML Art 33: within 30
    days of it taking effect) is closing: the parties and their mediator are reminded, on each day
    of the studio's schedule (by default 23 and 30 days after signing)."""

    reference = Reference
    agreement_number = fields.String(required=True)
    signed_at = fields.String(required=True, validate=_iso_datetime)
    deadline = fields.String(required=True, validate=_iso_datetime)  # exclusive: apply before this
    studio = fields.Nested(StudioRef, load_default=None, allow_none=True)
    mediators = fields.List(fields.Nested(StaffRef), load_default=list)
    # Added with the reminder schedule; older messages lack them (`deadline` then says it all).
    last_day = fields.String(load_default=None, allow_none=True, validate=_iso_date)  # local, inclusive
    reminder_day = fields.Integer(load_default=None, allow_none=True)  # days after signing
    final = fields.Boolean(load_default=False)  # sent on the last day: "the window closes today"


class FollowUpRenewedConflict(EventData):
    """A follow-up visit after an ending found the conflict renewed or a hidden danger: the case's
    risk was raised (`level`; the same as `previous_level` when it was red already) and the studio
    lead is told. The party is a stable key (`applicant-1`), never a name."""

    reference = Reference
    task_id = fields.String(required=True)
    party = fields.String(load_default=None, allow_none=True)
    level = fields.String(required=True, validate=validate.OneOf(RISK_LEVELS))
    previous_level = fields.String(required=True, validate=validate.OneOf(RISK_LEVELS))
    reported_at = fields.String(required=True, validate=_iso_datetime)
    reported_by = fields.Nested(StaffRef, required=True)
    studio = fields.Nested(StudioRef, load_default=None, allow_none=True)


class CaseAgreementPerformed(EventData):
    """A follow-up visit after an ending found the case's agreement performed (the lifecycle's own
    "performed" travels as `case.status_changed`). Counted as "agreements performed" by mediation's
    report and council's board alike, in the month of the latest such finding."""

    reference = Reference
    performed_at = fields.String(required=True, validate=_iso_datetime)


class FollowUpTermDue(EventData):
    """A term of a signed written agreement is due today: its mediator is reminded to check that it
    was performed (a `term_check` task waits on their desk). The term's number, not its wording."""

    reference = Reference
    task_id = fields.String(required=True)
    agreement_number = fields.String(load_default="")
    term = fields.Integer(required=True, validate=validate.Range(min=1))
    due = fields.String(load_default=None, allow_none=True, validate=_iso_date)
    studio = fields.Nested(StudioRef, load_default=None, allow_none=True)
    mediators = fields.List(fields.Nested(StaffRef), load_default=list)


class DeliveryDue(EventData):
    """A command inside notify: send one stored delivery."""

    delivery_id = fields.String(required=True)


# Council: consultations (questionnaires and Art 278 votes) ---------------------------------------
LocalisedText = fields.Dict(
    keys=fields.String(validate=validate.OneOf(["zh-CN", "en"])), values=fields.String()
)


class HouseholdRef(EventData):
    """A flat to be told something: its registered phones and language (never how it answered)."""

    flat_id = fields.String(required=True)
    building = fields.String(required=True)
    label = fields.String(required=True)  # "3-2-401": building-unit-flat, for the message
    phones = fields.List(fields.String(), load_default=list)
    language = fields.String(load_default="zh-CN")


class BuildingGroupRef(EventData):
    """A building's WeChat Work group robot (its webhook URL), kept with council's register."""

    building = fields.String(required=True)
    webhook_url = fields.String(required=True)


class ConsultationNotice(EventData):
    """What every consultation event carries: which consultation, where to answer or read it, and
    who is to be told (households by SMS, building groups by WeChat Work)."""

    consultation_id = fields.String(required=True)
    community = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["questionnaire", "vote"]))
    title = LocalisedText
    vote_item = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=9))
    closes_at = fields.String(required=True, validate=_iso_datetime)
    url = fields.String(required=True)  # the public answering page (opened, reminder) or result page (closed)
    households = fields.List(fields.Nested(HouseholdRef), load_default=list)
    building_groups = fields.List(fields.Nested(BuildingGroupRef), load_default=list)


class ConsultationOpened(ConsultationNotice):
    opens_at = fields.String(required=True, validate=_iso_datetime)


class ConsultationClosed(ConsultationNotice):
    """Closed and its result frozen: participation, and for a vote its Art 278 outcome."""

    answered = fields.Integer(required=True, validate=validate.Range(min=0))
    eligible = fields.Integer(required=True, validate=validate.Range(min=0))
    outcome = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(["passed", "failed", "no_quorum"])
    )
    reason = LocalisedText


class ConsultationReminder(ConsultationNotice):
    """Households that have not answered yet (and their building groups) are reminded."""


class ConsultationCodeRequested(EventData):
    """A one-time answering code for a flat, to be sent by SMS to the flat's registered phone.
    Notify redacts `code` from everything it stores or shows (the delivery log, previews)."""

    consultation_id = fields.String(required=True)
    community = fields.String(required=True)
    title = LocalisedText
    flat_label = fields.String(required=True)
    phone = fields.String(required=True)
    language = fields.String(load_default="zh-CN")
    code = fields.String(required=True, validate=validate.Length(min=6, max=12))
    expires_at = fields.String(required=True, validate=_iso_datetime)


# Council: the plan --------------------------------------------------------------------------------
class PlanItemFinished(EventData):
    """An item of a community's plan is done ("the gate is replaced"): residents are told where to see it."""

    item_id = fields.String(required=True)
    community = fields.String(required=True)
    title = LocalisedText
    finished_at = fields.String(required=True, validate=_iso_datetime)
    url = fields.String(required=True)  # the public plan page
    households = fields.List(fields.Nested(HouseholdRef), load_default=list)
    building_groups = fields.List(fields.Nested(BuildingGroupRef), load_default=list)


# The council hall, shared by mediation's sessions and council's meetings (docs/council-hall.md):
# mediation owns the hall's calendar (its `room_slots` claims); council asks it through events.
class HallBookingRequested(EventData):
    """Council asks for the hall for a meeting. `request` rises with every request and release of
    the meeting, so mediation can tell a stale message from the latest one."""

    meeting_id = fields.String(required=True)
    request = fields.Integer(required=True, validate=validate.Range(min=1))
    community = fields.String(required=True)
    room = fields.String(required=True)  # "hall:<community>", the hall's code in mediation
    starts_at = fields.String(required=True, validate=_iso_datetime)
    ends_at = fields.String(required=True, validate=_iso_datetime)
    title = fields.String(load_default="")  # what the hall is booked for (no personal data)


class HallBookingReleased(EventData):
    """Council cancelled a meeting (or no longer wants its time): mediation frees its claims."""

    meeting_id = fields.String(required=True)
    request = fields.Integer(required=True, validate=validate.Range(min=1))
    room = fields.String(required=True)


class HallBookingConfirmed(EventData):
    """Mediation claimed the hall's quarter hours for the meeting's `request`."""

    meeting_id = fields.String(required=True)
    request = fields.Integer(required=True, validate=validate.Range(min=1))
    room = fields.String(required=True)
    starts_at = fields.String(required=True, validate=_iso_datetime)
    ends_at = fields.String(required=True, validate=_iso_datetime)
    place = fields.Nested(PlaceRef, load_default=None, allow_none=True)
    confirmed_at = fields.String(required=True, validate=_iso_datetime)


HALL_REFUSALS = ("double_booked", "past", "invalid_times", "unknown_hall")


class HallBookingRefused(EventData):
    """Mediation could not give the hall for the meeting's `request`; `reason` is a code the pages
    translate, `message` the same in English for logs and the API."""

    meeting_id = fields.String(required=True)
    request = fields.Integer(required=True, validate=validate.Range(min=1))
    room = fields.String(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(HALL_REFUSALS))
    message = fields.String(load_default="")
    refused_at = fields.String(required=True, validate=_iso_datetime)


class InviteeRef(EventData):
    """An invitee of a council meeting as notify needs them: how to reach them, nothing more."""

    key = fields.String(required=True)  # stable within the meeting
    name = fields.String(required=True)
    phone = fields.String(load_default=None, allow_none=True)
    email = fields.String(load_default=None, allow_none=True)
    language = fields.String(load_default="zh-CN")


class MeetingInvited(EventData):
    """A council meeting's invitation (its hall confirmed), sent again with a higher `sequence`
    when it moves (`meeting.rescheduled`) and with METHOD:CANCEL when cancelled."""

    meeting_id = fields.String(required=True)
    reference = fields.String(required=True)  # the meeting's short reference, e.g. "YS-3F2A9C1B"
    community = fields.String(required=True)
    title = fields.String(required=True)
    starts_at = fields.String(required=True, validate=_iso_datetime)
    ends_at = fields.String(required=True, validate=_iso_datetime)
    place = fields.Nested(PlaceRef, required=True)
    invitees = fields.List(fields.Nested(InviteeRef), load_default=list)
    agenda = fields.List(fields.String(), load_default=list)
    sequence = fields.Integer(load_default=0, validate=validate.Range(min=0))
    url = fields.String(load_default=None, allow_none=True)
    # The community is told too: its households (notify sends to those that asked for community
    # notices) and its building groups, with the public board as their link (no check-in for them).
    board_url = fields.String(load_default=None, allow_none=True)
    households = fields.List(fields.Nested(HouseholdRef), load_default=list)
    building_groups = fields.List(fields.Nested(BuildingGroupRef), load_default=list)


class MeetingRescheduled(MeetingInvited):
    previous_starts_at = fields.String(required=True, validate=_iso_datetime)
    sequence = fields.Integer(required=True, validate=validate.Range(min=1))


class MeetingCancelled(MeetingInvited):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    sequence = fields.Integer(required=True, validate=validate.Range(min=1))


class MinutesPublished(EventData):
    """A meeting's minutes were adopted and published: the invitees, the households that asked for
    community notices and the building groups get the public link."""

    meeting_id = fields.String(required=True)
    reference = fields.String(required=True)
    community = fields.String(required=True)
    title = fields.String(required=True)
    starts_at = fields.String(required=True, validate=_iso_datetime)
    invitees = fields.List(fields.Nested(InviteeRef), load_default=list)
    url = fields.String(required=True)
    published_at = fields.String(required=True, validate=_iso_datetime)
    households = fields.List(fields.Nested(HouseholdRef), load_default=list)  # opt-in in notify
    building_groups = fields.List(fields.Nested(BuildingGroupRef), load_default=list)


class WalkInRecorded(EventData):
    """A visitor registered on a reception day (intake's walk-in register): the anonymous fact the
    council's statistics count. Never the visitor's name, phone or words."""

    walk_in_id = fields.String(required=True)
    community = fields.String(required=True)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORY_CODES))
    outcome = fields.String(
        required=True, validate=validate.OneOf(["answered", "referred", "case", "collective"])
    )
    recorded_at = fields.String(required=True, validate=_iso_datetime)


class WalkInCollectiveMatter(EventData):
    """A walk-in's matter for the owners' council (a collective matter): what, where, never who."""

    walk_in_id = fields.String(required=True)
    community = fields.String(required=True)
    building = fields.String(required=True)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORY_CODES))
    matter = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    raised_at = fields.String(required=True, validate=_iso_datetime)


class AttachmentDownloaded(EventData):
    """A member of staff downloaded a case's attachment from intake: mediation keeps it in the
    access log the studio lead reads. Staff ids only; nothing about the residents."""

    reference = Reference
    file_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    user_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    downloaded_at = fields.String(required=True, validate=_iso_datetime)


# Tracking links and parties' requests ----------------------------------------------------------------
class ContactRef(EventData):
    """The one person a message is for, when the event itself carries their contact."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    phone = fields.String(load_default=None, allow_none=True)
    email = fields.String(load_default=None, allow_none=True)
    language = fields.String(load_default="zh-CN")


class CaseTrackingLink(EventData):
    """An applicant's own tracking link, sent to them by SMS and email (intake → notify only). `code`
    is the link's secret token: notify keeps it apart from the delivery (`delivery_secrets`, until
    `expires_at`) and never shows it in the delivery log; the link is `url` + `?token=` + code."""

    reference = Reference
    recipient = fields.Nested(ContactRef, required=True)
    url = fields.String(required=True)
    code = fields.String(required=True, validate=validate.Length(min=16, max=100))
    expires_at = fields.String(required=True, validate=_iso_datetime)
    # "filed": with the filing, whoever filed it; "recovered": after an SMS code on the tracking page.
    occasion = fields.String(load_default="filed", validate=validate.OneOf(["filed", "recovered"]))


class CaseTrackingCodeRequested(EventData):
    """A one-time code for a resident who lost their tracking link, to the applicant's phone."""

    reference = Reference
    phone = fields.String(required=True)
    language = fields.String(load_default="zh-CN")
    code = fields.String(required=True, validate=validate.Length(min=6, max=12))
    expires_at = fields.String(required=True, validate=_iso_datetime)


PARTY_REQUESTS = ("withdraw", "other_mediator")


class CasePartyRequested(EventData):
    """A party asked from their tracking page to withdraw or for another mediator (PML Art 23)."""

    reference = Reference
    request_id = fields.String(required=True)
    request = fields.String(required=True, validate=validate.OneOf(PARTY_REQUESTS))
    party = fields.String(required=True)  # e.g. "applicant:0": which applicant's link was used
    reason = fields.String(load_default="", validate=validate.Length(max=1000))
    requested_at = fields.String(required=True, validate=_iso_datetime)


class CasePartyRequestHandled(EventData):
    """Mediation applied a party's request (or could not: the case had moved on). The mediators the
    case had are told, and the studio lead when a new mediator is needed."""

    reference = Reference
    request_id = fields.String(required=True)
    request = fields.String(required=True, validate=validate.OneOf(PARTY_REQUESTS))
    applied = fields.Boolean(required=True)
    reason = fields.String(load_default="")
    handled_at = fields.String(required=True, validate=_iso_datetime)
    studio = fields.Nested(StudioRef, load_default=None, allow_none=True)
    mediators = fields.List(fields.Nested(StaffRef), load_default=list)


# "Is it settled?" (issue 14.4) -------------------------------------------------------------------
SETTLEMENT_ANSWERS = ("settled", "not_settled", "not_sure")


class CaseSettlementCheckDue(EventData):
    """Mediation: this ended case's applicants are to be asked whether the dispute stayed settled
    (`settlement_check_days` after the ending; once per case). Intake, which holds their contacts,
    asks them."""

    reference = Reference
    language = fields.String(load_default="zh-CN")
    ended_at = fields.String(required=True, validate=_iso_datetime)
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))


class CaseSettlementSurvey(EventData):
    """Intake → notify: one applicant's one-time survey link. `code` is the link's secret token,
    kept apart like a tracking link's; `party` (e.g. "applicant:0") is the applicant's place in the
    case, so their own preferences (an opt-out) apply."""

    reference = Reference
    party = fields.String(required=True)
    recipient = fields.Nested(ContactRef, required=True)
    url = fields.String(required=True)  # the answer page; + "/<answer>?token=" + code
    code = fields.String(required=True, validate=validate.Length(min=16, max=100))
    expires_at = fields.String(required=True, validate=_iso_datetime)


class CaseSettlementAnswered(EventData):
    """Intake: an applicant answered (or changed their answer, or added a comment). Consumers keep
    the latest by `answered_at` per (reference, party). The comment's text is for mediation only:
    council counts answers and keeps nothing else."""

    reference = Reference
    party = fields.String(required=True)
    answer = fields.String(required=True, validate=validate.OneOf(SETTLEMENT_ANSWERS))
    answered_at = fields.String(required=True, validate=_iso_datetime)
    first_answered_at = fields.String(load_default=None, allow_none=True)
    commented = fields.Boolean(load_default=False)
    comment = fields.String(load_default="", validate=validate.Length(max=2000))
    community = fields.String(load_default=None, allow_none=True)  # the board counts by community


class CaseNotSettled(EventData):
    """Mediation → notify: an applicant answered "not settled"; the studio lead has a follow-up task."""

    reference = Reference
    party = fields.String(required=True)
    answered_at = fields.String(required=True, validate=_iso_datetime)
    studio = fields.Nested(StudioRef, load_default=None, allow_none=True)


class CaseReopenRequested(EventData):
    """Mediation → intake: a studio lead opens a new case linked to an ended one answered "not
    settled"; intake files it from the old case's parties and dispute (source: follow_up)."""

    reference = Reference  # the old case
    request_id = fields.String(required=True)  # deterministic per answer: one linked case per answer
    party = fields.String(required=True)
    requested_by = fields.String(required=True)
    requested_at = fields.String(required=True, validate=_iso_datetime)


class CaseLinked(EventData):
    """Intake → mediation: the linked case was filed (so the old case shows it)."""

    reference = Reference  # the old case
    linked_case = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{2}-\d{4}-\d{6}$"))
    request_id = fields.String(required=True)


SCHEMAS: dict[tuple[str, int], type[Schema]] = {
    ("case.settlement_check_due", 1): CaseSettlementCheckDue,
    ("case.settlement_survey", 1): CaseSettlementSurvey,
    ("case.settlement_answered", 1): CaseSettlementAnswered,
    ("case.not_settled", 1): CaseNotSettled,
    ("case.reopen_requested", 1): CaseReopenRequested,
    ("case.linked", 1): CaseLinked,
    ("case.tracking_link", 1): CaseTrackingLink,
    ("case.tracking_code_requested", 1): CaseTrackingCodeRequested,
    ("case.party_requested", 1): CasePartyRequested,
    ("case.party_request_handled", 1): CasePartyRequestHandled,
    ("case.submitted", 1): CaseSubmitted,
    ("case.assigned", 1): CaseAssigned,
    ("case.status_changed", 1): CaseStatusChanged,
    ("patrol.dispatched", 1): PatrolDispatched,
    ("case.escalated", 1): CaseEscalated,
    ("session.scheduled", 1): SessionScheduled,
    ("session.rescheduled", 1): SessionRescheduled,
    ("session.cancelled", 1): SessionCancelled,
    ("case.closed", 1): CaseClosed,
    ("case.merged", 1): CaseMerged,
    ("case.personal_data_erased", 1): CasePersonalDataErased,
    ("staff.access_revoked", 1): StaffAccessRevoked,
    ("patrol.reported", 1): PatrolReported,
    ("case.risk_changed", 1): CaseRiskChanged,
    ("agreement.confirmation_due", 1): AgreementConfirmationDue,
    ("follow_up.renewed_conflict", 1): FollowUpRenewedConflict,
    ("case.agreement_performed", 1): CaseAgreementPerformed,
    ("follow_up.term_due", 1): FollowUpTermDue,
    ("notify.delivery_due", 1): DeliveryDue,
    ("consultation.opened", 1): ConsultationOpened,
    ("consultation.closed", 1): ConsultationClosed,
    ("consultation.reminder", 1): ConsultationReminder,
    ("consultation.code_requested", 1): ConsultationCodeRequested,
    ("plan.item_finished", 1): PlanItemFinished,
    ("hall.booking_requested", 1): HallBookingRequested,
    ("hall.booking_released", 1): HallBookingReleased,
    ("hall.booking_confirmed", 1): HallBookingConfirmed,
    ("hall.booking_refused", 1): HallBookingRefused,
    ("meeting.invited", 1): MeetingInvited,
    ("meeting.rescheduled", 1): MeetingRescheduled,
    ("meeting.cancelled", 1): MeetingCancelled,
    ("minutes.published", 1): MinutesPublished,
    ("walk_in.recorded", 1): WalkInRecorded,
    ("walk_in.collective_matter", 1): WalkInCollectiveMatter,
    ("attachment.downloaded", 1): AttachmentDownloaded,
}


# One instance per event schema, built on first use: building a marshmallow schema deep-copies its
# declared fields (and a nested field builds its own on first use), which cost more than the load
# itself on every event made or received. Instances are reusable and load keeps no state on them.
_INSTANCES: dict[tuple[str, int], Schema] = {}


def validate_data(event_type: str, schema_version: int, data: Any) -> dict[str, Any]:
    """Check `data` against the schema of its event; return it with defaults filled in."""
    key = (event_type, schema_version)
    schema = _INSTANCES.get(key)
    if schema is None:
        schema_class = SCHEMAS.get(key)
        if schema_class is None:
            raise InvalidMessage(f"unknown event {event_type!r} version {schema_version}")
        schema = _INSTANCES.setdefault(key, schema_class())
    if not isinstance(data, dict):
        raise InvalidMessage(f"{event_type}: data is not an object")
    try:
        loaded = schema.load(data)
    except ValidationError as err:
        raise InvalidMessage(f"{event_type} v{schema_version} data invalid: {err.messages}") from err
    # Defaults filled in, unknown (newer) fields kept: handlers can rely on every known field.
    return {**data, **loaded}
