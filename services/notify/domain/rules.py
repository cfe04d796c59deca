"""Who is told what, kept as data: event type → rules (audience, channels, template).

A rule names an audience (resolved to recipients by `services.notify.domain.audiences`), the channels it
may use in order of preference, and the template. A recipient without an address for a channel,
or a channel that is not configured, simply yields no delivery. `essential` messages (legal
notices such as session invitations and the closing of a case, and all staff work messages) are
sent even to residents who opted out of non-essential ones. `when` restricts a rule to events
whose data fields hold one of the listed values (e.g. only red cases, only public changes).

Households (council's flats) have their own preferences, per community and flat (a signed link in
every message they get): whether they want the community's notices, and the channel (SMS today).
Consultation notices (opened, reminder, closed, the answering code) concern the flat's own answer
and are essential, sent whatever the household chose; meetings, minutes and plan items are
`opt_in`: sent only to households that asked for community notices, and always to the building
groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Audiences a rule can name.
APPLICANTS = "applicants"
RESPONDENTS = "respondents"
FILER = "filer"  # the building leader or clerk who filed for the residents
MEDIATORS = "mediators"  # the assigned mediator(s) the event names
STUDIO = "studio"  # the studio's shared mailbox and WeChat Work group
STUDIO_LEAD = "studio_lead"
PATROL_TEAM = "patrol_team"
DUTY_GROUP = "duty_group"  # the district's duty group (WECHAT_WORK_WEBHOOK_URL)
DISTRICT_ADMIN = "district_admin"
SYSTEMS = "systems"  # other systems, by signed webhook (WEBHOOK_URLS)
INVITEES = "invitees"  # a council meeting's invitees, whose contacts the event carries
BUILDING_LEADERS = "building_leaders"  # the case's building's leaders, whose contacts the event carries
# Council's consultations: the households (flats) and building groups the event names, and the one
# phone a one-time answering code goes to.
HOUSEHOLDS = "households"
BUILDING_GROUPS = "building_groups"
CODE_RECIPIENT = "code_recipient"
# The one applicant a tracking link is for, whose contact the event carries.
LINK_RECIPIENT = "link_recipient"
AUDIENCES = (
    APPLICANTS,
    RESPONDENTS,
    FILER,
    MEDIATORS,
    STUDIO,
    STUDIO_LEAD,
    PATROL_TEAM,
    DUTY_GROUP,
    DISTRICT_ADMIN,
    SYSTEMS,
    INVITEES,
    BUILDING_LEADERS,
    HOUSEHOLDS,
    BUILDING_GROUPS,
    CODE_RECIPIENT,
    LINK_RECIPIENT,
)
# Council's events concern no case: no case contacts, studio or digest behind them.
COUNCIL_EVENT_PREFIXES = ("consultation.", "plan.", "meeting.", "minutes.")
RESIDENT_AUDIENCES = frozenset({APPLICANTS, RESPONDENTS, FILER, INVITEES, LINK_RECIPIENT})

CHANNELS = ("email", "sms", "wechat_work", "webhook")
RESIDENT_CHANNELS = ("email", "sms")

# The template of a webhook is the event itself (a fixed JSON shape), not a text file.
WEBHOOK_TEMPLATE = "webhook"


@dataclass(frozen=True)
class Rule:
    audience: str
    channels: tuple[str, ...]
    template: str
    essential: bool = False
    opt_in: bool = False  # only to recipients whose preferences ask for it (households' community notices)
    when: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)


def applies(rule: Rule, data: Mapping[str, Any]) -> bool:
    """True when the event's data meets the rule's `when` conditions (missing field → None)."""
    return all(data.get(name) in allowed for name, allowed in rule.when.items())


_PARTIES = ("email", "sms")
_WEBHOOK = Rule(SYSTEMS, ("webhook",), WEBHOOK_TEMPLATE, essential=True)
_ROUTED = {"mediator": (None,)}

RULES: dict[str, tuple[Rule, ...]] = {
    "case.submitted": (
        Rule(FILER, _PARTIES, "case_received_filer", when={"filed_by": ("building_leader", "clerk")}),
        _WEBHOOK,
    ),
    "case.assigned": (
        # Routing to a studio (no mediator named) tells the studio and the residents; a mediator
        # taking the case later tells that mediator only.
        Rule(STUDIO, ("email", "wechat_work"), "case_assigned_studio", essential=True, when=_ROUTED),
        Rule(APPLICANTS, _PARTIES, "case_assigned_applicant", when=_ROUTED),
        Rule(FILER, _PARTIES, "case_assigned_applicant", when=_ROUTED),
        Rule(MEDIATORS, ("email", "sms"), "case_assigned_mediator", essential=True),
        Rule(DUTY_GROUP, ("wechat_work",), "red_alert", essential=True, when={"risk_level": ("red",)}),
        _WEBHOOK,
    ),
    "case.status_changed": (
        # Internal changes stay internal; residents hear only what their tracking page shows.
        # An ending is told once, by case.closed (with the routes onward).
        Rule(
            APPLICANTS,
            _PARTIES,
            "case_status_changed",
            when={"public": (True, None), "closing": (False, None)},
        ),
        Rule(SYSTEMS, ("webhook",), WEBHOOK_TEMPLATE, essential=True, when={"public": (True, None)}),
    ),
    "session.scheduled": (
        Rule(APPLICANTS, _PARTIES, "session_invitation", essential=True),
        Rule(RESPONDENTS, _PARTIES, "session_invitation", essential=True),
        Rule(MEDIATORS, ("email",), "session_invitation", essential=True),
        # The building's leaders hear when and where, never who (issue 14.5).
        Rule(BUILDING_LEADERS, ("email",), "building_session_scheduled"),
        _WEBHOOK,
    ),
    # A moved or cancelled session reaches everyone the invitation reached, with the .ics that
    # updates (same UID, higher SEQUENCE) or removes the event in their calendars.
    "session.rescheduled": (
        Rule(APPLICANTS, _PARTIES, "session_rescheduled", essential=True),
        Rule(RESPONDENTS, _PARTIES, "session_rescheduled", essential=True),
        Rule(MEDIATORS, ("email",), "session_rescheduled", essential=True),
        Rule(BUILDING_LEADERS, ("email",), "building_session_rescheduled"),
        _WEBHOOK,
    ),
    "session.cancelled": (
        Rule(APPLICANTS, _PARTIES, "session_cancelled", essential=True),
        Rule(RESPONDENTS, _PARTIES, "session_cancelled", essential=True),
        Rule(MEDIATORS, ("email",), "session_cancelled", essential=True),
        Rule(BUILDING_LEADERS, ("email",), "building_session_cancelled"),
        _WEBHOOK,
    ),
    # Each applicant's own tracking link, whoever filed (intake sends one event per applicant); the
    # link's token is kept apart like a one-time code. Without it they cannot follow or withdraw.
    "case.tracking_link": (Rule(LINK_RECIPIENT, _PARTIES, "tracking_link", essential=True),),
    "case.tracking_code_requested": (Rule(CODE_RECIPIENT, ("sms",), "tracking_code", essential=True),),
    # A party withdrew or asked for another mediator (PML Art 23): the mediators the case had are
    # told, and the lead, who assigns the new mediator (with the party's reason).
    "case.party_request_handled": (
        Rule(
            MEDIATORS, ("email", "sms"), "party_request_mediator", essential=True, when={"applied": (True,)}
        ),
        Rule(
            STUDIO_LEAD,
            ("email",),
            "party_request_lead",
            essential=True,
            when={"applied": (True,), "request": ("other_mediator",)},
        ),
    ),
    # "Is it settled?" (issue 14.4): each applicant's survey link, some weeks after the ending. Not
    # essential: an applicant who opted out of messages about their case is not asked.
    "case.settlement_survey": (Rule(LINK_RECIPIENT, _PARTIES, "settlement_survey"),),
    # An applicant answered "not settled": the studio lead has a follow-up task.
    "case.not_settled": (Rule(STUDIO_LEAD, ("email",), "settlement_not_settled_lead", essential=True),),
    "case.escalated": (
        Rule(STUDIO_LEAD, ("email",), "case_escalated", essential=True),
        Rule(STUDIO, ("wechat_work",), "case_escalated", essential=True),
        Rule(
            DISTRICT_ADMIN, ("email",), "case_escalated", essential=True, when={"level": ("district_admin",)}
        ),
        _WEBHOOK,
    ),
    "patrol.dispatched": (
        Rule(PATROL_TEAM, ("wechat_work", "sms", "email"), "patrol_dispatched", essential=True),
        Rule(DUTY_GROUP, ("wechat_work",), "red_alert", essential=True, when={"risk_level": ("red",)}),
        _WEBHOOK,
    ),
    "agreement.confirmation_due": (
        # PML Art 33: the parties may jointly apply for judicial confirmation within 30 days.
        Rule(APPLICANTS, _PARTIES, "confirmation_due", essential=True),
        Rule(RESPONDENTS, _PARTIES, "confirmation_due", essential=True),
        Rule(MEDIATORS, ("email",), "confirmation_due", essential=True),
    ),
    # Follow-up after an ending (回访): a visit found the conflict renewed (the lead decides what
    # next; the risk was raised already), and an agreement's term is due (its mediator checks it).
    "follow_up.renewed_conflict": (
        Rule(STUDIO_LEAD, ("email",), "follow_up_renewed_conflict", essential=True),
        Rule(STUDIO, ("wechat_work",), "follow_up_renewed_conflict", essential=True),
    ),
    "follow_up.term_due": (Rule(MEDIATORS, ("email",), "follow_up_term_due", essential=True),),
    "case.closed": (
        # Closing tells the parties their routes onward (People's Mediation Law Art 26): essential.
        Rule(APPLICANTS, _PARTIES, "case_closed", essential=True),
        Rule(RESPONDENTS, _PARTIES, "case_closed", essential=True),
        Rule(FILER, _PARTIES, "case_closed"),
        Rule(BUILDING_LEADERS, ("email",), "building_case_closed"),
        _WEBHOOK,
    ),
    "case.merged": (
        # The duplicate's record is closed: its parties must learn where their dispute went, like
        # any closing (essential). They hear the other case's reference, nothing else about it.
        Rule(APPLICANTS, _PARTIES, "case_merged", essential=True),
        Rule(RESPONDENTS, _PARTIES, "case_merged", essential=True),
        Rule(FILER, _PARTIES, "case_merged"),
        _WEBHOOK,
    ),
    # Council's consultations. Households are reached by SMS at the phones the register holds, the
    # building's WeChat Work group by its robot. Residents cannot answer without hearing of it:
    # essential, whatever the household chose. The code's SMS carries a one-time code that notify
    # never stores in the delivery.
    "consultation.opened": (
        Rule(HOUSEHOLDS, ("sms",), "consultation_opened", essential=True),
        Rule(BUILDING_GROUPS, ("wechat_work",), "consultation_opened", essential=True),
    ),
    "consultation.reminder": (
        Rule(HOUSEHOLDS, ("sms",), "consultation_reminder", essential=True),
        Rule(BUILDING_GROUPS, ("wechat_work",), "consultation_reminder", essential=True),
    ),
    "consultation.closed": (
        Rule(HOUSEHOLDS, ("sms",), "consultation_closed", essential=True),
        Rule(BUILDING_GROUPS, ("wechat_work",), "consultation_closed", essential=True),
    ),
    "consultation.code_requested": (Rule(CODE_RECIPIENT, ("sms",), "consultation_code", essential=True),),
    # Council's plan: an item is done; the households that asked for community notices and the
    # building groups the event names are told.
    "plan.item_finished": (
        Rule(HOUSEHOLDS, ("sms",), "plan_item_finished", opt_in=True),
        Rule(BUILDING_GROUPS, ("wechat_work",), "plan_item_finished", essential=True),
    ),
}

# Council's representatives' meetings: each invitee is told by email (with the .ics: same UID,
# rising SEQUENCE, METHOD:CANCEL) and SMS; an invitation, its change and its cancellation are
# essential to the person invited, the published minutes are not. The community hears of them too:
# the households that asked for community notices by SMS (opt-in), every building group by its
# robot, with a wording of their own (no check-in, the public board as the link). An invitee who is
# also a household is texted once, by the invitee's rule (listed first).
_INVITEE_CHANNELS = ("email", "sms")


def _community(template: str) -> tuple[Rule, Rule]:
    return (
        Rule(HOUSEHOLDS, ("sms",), template, opt_in=True),
        Rule(BUILDING_GROUPS, ("wechat_work",), template, essential=True),
    )


RULES.update(
    {
        "meeting.invited": (
            Rule(INVITEES, _INVITEE_CHANNELS, "meeting_invitation", essential=True),
            *_community("meeting_announced"),
        ),
        "meeting.rescheduled": (
            Rule(INVITEES, _INVITEE_CHANNELS, "meeting_rescheduled", essential=True),
            *_community("meeting_moved"),
        ),
        "meeting.cancelled": (
            Rule(INVITEES, _INVITEE_CHANNELS, "meeting_cancelled", essential=True),
            *_community("meeting_called_off"),
        ),
        "minutes.published": (
            Rule(INVITEES, _INVITEE_CHANNELS, "minutes_published"),
            *_community("minutes_public"),
        ),
    }
)

# The studio leads' daily digest (planned by services.notify.digest, not by an event).
DIGEST_TEMPLATE = "studio_digest"
