"""Issue 7: who may call what. One test per (service, method, route) x identity.

`EXPECTED` is the table of record: for every route of every service, the roles allowed, or
`PUBLIC` (anonymous callers get through; what protects those routes is something else: a tracking
token, an Open311 API key, a signed preference link, the login form itself). A route added to an
app without an entry here fails `test_table_covers_every_route`, so nobody ships an endpoint
whose protection was never decided. Only the apps' own static folders (`static`) and the Swagger
UI assets (`swagger_assets.static`) are left out, and they are named in `NOT_IN_TABLE`.

Each cell makes a real request (Flask test client, real SecantusDB and RabbitMQ). Allowed
identities must not get 401/403 or the login redirect (a 404 for a dummy id, a 409 or a 422 for an
empty body are fine: they come after the role check); forbidden ones must get exactly that.
Anonymous callers get 401 on the API and in intake, notify and council (no login page there), and a
redirect to mediation's `/login` on mediation's pages (`shared.auth.requires_role`).

CSRF: the matrix apps run without the CSRF check on forms (the `protect_forms` before-request
hook is removed from these app instances only), so a forbidden POST is refused for its role and
not for a missing token. CSRF itself is tested with the web flows (tests/integration).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pymongo import MongoClient

from services.council.app import create_app as create_council_app
from services.intake.app import create_app as create_intake_app
from services.mediation.app import create_app as create_mediation_app
from services.notify.app import create_app as create_notify_app
from shared.auth import COOKIE_NAME, Staff, issue_token
from shared.config import Settings
from shared.logs import JsonFormatter
from tests.support.stack import delete_broker_namespace

pytestmark = pytest.mark.integration

PUBLIC = "public"
ANON = "anonymous"
MEDIATOR = "mediator"
LEAD = "studio_lead"
PATROL = "patrol_member"
ADMIN = "district_admin"
COMMITTEE = "committee_member"
BUILDING = "building_leader"
IDENTITIES = (ANON, MEDIATOR, LEAD, PATROL, ADMIN, COMMITTEE, BUILDING)

STAFF = frozenset({MEDIATOR, LEAD, PATROL, ADMIN})
LEADS = frozenset({LEAD, ADMIN})
DESK = frozenset({MEDIATOR, LEAD, ADMIN})
CASEWORK = frozenset({MEDIATOR, LEAD})
ADMIN_ONLY = frozenset({ADMIN})
PATROL_ONLY = frozenset({PATROL})
PATROL_AND_LEADS = frozenset({PATROL, LEAD, ADMIN})
# The agreement: the route admits DESK roles, then `agreements` admits only the case's own
# mediators and its studio lead, so a district admin gets 403 there (by design: it holds the
# parties' personal data). The matrix mediator owns the case (see `case_reference`).
# Sessions likewise: scheduling, moving and cancelling are the case's own mediators' and their
# studio lead's (`sessions`). Where a cell's empty body is refused as invalid (422) before the service
# decides, the table says DESK; the service's own refusal of the district admin (403) is tested
# in tests/integration/test_mediation_sessions.py.
CASE_OWNERS = frozenset({MEDIATOR, LEAD})
# Council: committee members and building leaders of the matrix community (lianhua), district
# admins everywhere; only the committee and admins keep the register (`services.council.access`).
COUNCIL = frozenset({COMMITTEE, BUILDING, ADMIN})
REGISTER_KEEPERS = frozenset({COMMITTEE, ADMIN})
# Consultations are written by the committee and admins; building leaders read them and enter paper
# slips of their buildings. Routes admitting COUNCIL leave the finer refusal to `consultations`.
CONSULTATION_KEEPERS = frozenset({COMMITTEE, ADMIN})
# The plan and the public accounts are kept by the community's committee members only; district
# admins read the committee's list of entries (`services.council.plan`, `services.council.accounts`).
COMMITTEE_ONLY = frozenset({COMMITTEE})
ACCOUNT_READERS = frozenset({COMMITTEE, ADMIN})

# Endpoints deliberately not in the table: static files, no data behind them.
NOT_IN_TABLE = {"static", "swagger_assets.static"}

EXPECTED: dict[tuple[str, str, str], str | frozenset[str]] = {
    # intake ------------------------------------------------------------------------------------
    ("intake", "GET", "/"): PUBLIC,  # the resident form
    ("intake", "POST", "/"): PUBLIC,
    ("intake", "GET", "/submitted"): PUBLIC,
    ("intake", "GET", "/track"): PUBLIC,
    ("intake", "GET", "/track/<string:reference>"): PUBLIC,  # tracking token
    # The reception-day walk-in register: the community's staff (committee), mediators, leads, admins.
    ("intake", "GET", "/reception"): frozenset({COMMITTEE, MEDIATOR, LEAD, ADMIN}),
    ("intake", "POST", "/reception"): frozenset({COMMITTEE, MEDIATOR, LEAD, ADMIN}),
    ("intake", "GET", "/building"): frozenset({BUILDING}),
    ("intake", "GET", "/building/cases/<string:reference>"): frozenset({BUILDING}),
    # A party's own request: their tracking token (an applicant's own link), CSRF.
    ("intake", "POST", "/track/<string:reference>/request"): PUBLIC,
    # Finding a lost link: the reference and the phone filed with, then an SMS code (rate-limited).
    ("intake", "GET", "/track/recover"): PUBLIC,
    ("intake", "POST", "/track/recover"): PUBLIC,
    ("intake", "GET", "/track/recover/code"): PUBLIC,
    ("intake", "POST", "/track/recover/code"): PUBLIC,
    ("intake", "GET", "/track/recover/done"): PUBLIC,
    # "Is it settled?": the survey token protects these (issue 14.4).
    ("intake", "GET", "/settled"): PUBLIC,
    ("intake", "GET", "/settled/<string:answer>"): PUBLIC,
    ("intake", "POST", "/settled/comment"): PUBLIC,
    ("intake", "GET", "/admin/api-keys"): ADMIN_ONLY,
    ("intake", "POST", "/admin/api-keys"): ADMIN_ONLY,
    ("intake", "POST", "/admin/api-keys/<string:key_id>/revoke"): ADMIN_ONLY,
    ("intake", "GET", "/staff/cases/<string:reference>/attachments/<string:file_id>"): DESK,  # + studio
    ("intake", "POST", "/api/v1/cases"): PUBLIC,
    ("intake", "GET", "/api/v1/cases/<string:reference>"): PUBLIC,  # tracking token
    ("intake", "GET", "/api/v1/categories"): PUBLIC,
    ("intake", "GET", "/api/v1/communities"): PUBLIC,
    ("intake", "GET", "/api/v1/docs"): PUBLIC,
    ("intake", "GET", "/api/v1/openapi.json"): PUBLIC,
    ("intake", "GET", "/open311/v2/discovery.<fmt>"): PUBLIC,  # Open311: API key, not staff
    ("intake", "POST", "/open311/v2/requests.<fmt>"): PUBLIC,
    ("intake", "GET", "/open311/v2/requests.<fmt>"): PUBLIC,
    ("intake", "GET", "/open311/v2/requests/<string:request_id>.<fmt>"): PUBLIC,
    ("intake", "GET", "/open311/v2/services.<fmt>"): PUBLIC,
    ("intake", "GET", "/open311/v2/services/<string:code>.<fmt>"): PUBLIC,
    ("intake", "GET", "/open311/v2/tokens/<string:token>.<fmt>"): PUBLIC,
    ("intake", "GET", "/healthz"): PUBLIC,
    ("intake", "GET", "/readyz"): PUBLIC,
    # Answers only on the metrics port (shared/metrics.py): 404 here, for everyone.
    ("intake", "GET", "/metrics"): PUBLIC,
    ("intake", "GET", "/static/web/<path:filename>"): PUBLIC,
    # mediation: pages --------------------------------------------------------------------------
    ("mediation", "GET", "/"): PUBLIC,  # sends each identity to its start page (or /login)
    ("mediation", "GET", "/login"): PUBLIC,
    ("mediation", "POST", "/login"): PUBLIC,
    ("mediation", "POST", "/logout"): PUBLIC,
    ("mediation", "GET", "/admin"): ADMIN_ONLY,
    ("mediation", "GET", "/admin/communities/<code>"): ADMIN_ONLY,
    ("mediation", "POST", "/admin/communities/<code>"): ADMIN_ONLY,
    ("mediation", "GET", "/admin/failures"): ADMIN_ONLY,
    # Administration: a studio's lead keeps their own studio (the matrix lead's, zhihe) and its
    # accounts (the matrix mediator's); district admins everything (`domain.administration`).
    ("mediation", "GET", "/admin/studios/new"): ADMIN_ONLY,
    ("mediation", "POST", "/admin/studios/new"): ADMIN_ONLY,
    ("mediation", "GET", "/admin/studios/<code>"): LEADS,
    ("mediation", "POST", "/admin/studios/<code>"): LEADS,
    ("mediation", "POST", "/admin/studios/<code>/members"): LEADS,
    ("mediation", "POST", "/admin/studios/<code>/members/<username>/remove"): LEADS,
    ("mediation", "POST", "/admin/studios/<code>/members/<username>/leave"): LEADS,
    ("mediation", "POST", "/admin/studios/<code>/members/<username>/leave/<start>/remove"): LEADS,
    ("mediation", "GET", "/admin/teams/new"): ADMIN_ONLY,
    ("mediation", "POST", "/admin/teams/new"): ADMIN_ONLY,
    ("mediation", "GET", "/admin/teams/<code>"): ADMIN_ONLY,
    ("mediation", "POST", "/admin/teams/<code>"): ADMIN_ONLY,
    ("mediation", "POST", "/admin/teams/<code>/members"): ADMIN_ONLY,
    ("mediation", "POST", "/admin/teams/<code>/members/<username>/remove"): ADMIN_ONLY,
    ("mediation", "POST", "/admin/teams/<code>/shifts"): ADMIN_ONLY,
    ("mediation", "POST", "/admin/teams/<code>/shifts/<int:index>/remove"): ADMIN_ONLY,
    ("mediation", "GET", "/admin/staff"): LEADS,
    ("mediation", "GET", "/admin/staff/new"): LEADS,
    ("mediation", "POST", "/admin/staff/new"): LEADS,
    ("mediation", "GET", "/admin/staff/<username>"): LEADS,
    ("mediation", "POST", "/admin/staff/<username>/role"): LEADS,
    ("mediation", "POST", "/admin/staff/<username>/active"): LEADS,
    ("mediation", "POST", "/admin/staff/<username>/password"): LEADS,
    ("mediation", "GET", "/account/password"): STAFF | COUNCIL,
    ("mediation", "POST", "/account/password"): STAFF | COUNCIL,
    ("mediation", "GET", "/desk"): DESK,
    ("mediation", "GET", "/desk/search"): DESK,
    ("mediation", "GET", "/desk/ended"): DESK,
    # Follow-up tasks (回访): every desk role lists its own; recording and closing is casework.
    ("mediation", "GET", "/desk/tasks"): DESK,
    ("mediation", "GET", "/desk/tasks/<task_id>"): DESK,
    ("mediation", "POST", "/desk/tasks/<task_id>/visit"): CASEWORK,
    ("mediation", "POST", "/desk/tasks/<task_id>/close"): CASEWORK,
    ("mediation", "GET", "/access-log"): LEADS,
    ("mediation", "GET", "/access-log.csv"): LEADS,
    ("mediation", "POST", "/desk/take-next"): CASEWORK,
    ("mediation", "GET", "/desk/cases/<reference>"): DESK,
    ("mediation", "POST", "/desk/cases/<reference>/take"): CASEWORK,
    ("mediation", "POST", "/desk/cases/<reference>/actions/<action>"): DESK,
    ("mediation", "POST", "/desk/cases/<reference>/notes"): DESK,
    ("mediation", "POST", "/desk/cases/<reference>/handover"): CASEWORK,
    ("mediation", "POST", "/desk/cases/<reference>/merge"): DESK,
    ("mediation", "POST", "/desk/cases/<reference>/reopen"): LEADS,
    ("mediation", "POST", "/desk/cases/<reference>/sessions"): DESK,
    ("mediation", "POST", "/desk/cases/<reference>/sessions/<session_id>/record"): DESK,
    ("mediation", "POST", "/desk/cases/<reference>/sessions/<session_id>/move"): DESK,  # 422 first
    ("mediation", "POST", "/desk/cases/<reference>/sessions/<session_id>/cancel"): CASE_OWNERS,
    ("mediation", "POST", "/desk/cases/<reference>/agreement"): CASE_OWNERS,
    ("mediation", "GET", "/desk/cases/<reference>/agreement.pdf"): CASE_OWNERS,
    ("mediation", "POST", "/desk/cases/<reference>/agreement/sign"): DESK,
    ("mediation", "POST", "/desk/cases/<reference>/agreement/scan"): CASE_OWNERS,
    ("mediation", "GET", "/desk/cases/<reference>/agreement/scan"): CASE_OWNERS,
    ("mediation", "GET", "/desk/cases/<reference>/dossier.pdf"): CASE_OWNERS,  # `dossier`: personal data
    ("mediation", "GET", "/lead"): LEADS,
    ("mediation", "GET", "/lead/cases/<reference>"): LEADS,
    ("mediation", "POST", "/lead/cases/<reference>/<any(risk, move):action>"): LEADS,
    ("mediation", "POST", "/lead/sweeps"): LEADS,
    ("mediation", "GET", "/reports"): LEADS,
    ("mediation", "GET", "/reports/download.<any(csv, xlsx):ext>"): LEADS,
    ("mediation", "GET", "/patrol"): PATROL_ONLY,
    ("mediation", "GET", "/patrol/tasks/<task_id>"): PATROL_AND_LEADS,
    ("mediation", "POST", "/patrol/tasks/<task_id>/<any(accept, close):action>"): PATROL_ONLY,
    ("mediation", "GET", "/patrol/tasks/<task_id>/photos/<int:index>"): PATROL_AND_LEADS,
    ("mediation", "POST", "/patrol/tasks/<task_id>/report"): PATROL_ONLY,
    ("mediation", "GET", "/static/mediation/<path:filename>"): PUBLIC,
    ("mediation", "GET", "/static/web/<path:filename>"): PUBLIC,
    ("mediation", "GET", "/healthz"): PUBLIC,
    ("mediation", "GET", "/readyz"): PUBLIC,
    # Answers only on the metrics port (shared/metrics.py): 404 here, for everyone.
    ("mediation", "GET", "/metrics"): PUBLIC,
    # mediation: API ----------------------------------------------------------------------------
    ("mediation", "GET", "/api/v1/docs"): PUBLIC,
    ("mediation", "GET", "/api/v1/openapi.json"): PUBLIC,
    ("mediation", "GET", "/api/v1/studios"): STAFF,
    ("mediation", "POST", "/api/v1/studios"): ADMIN_ONLY,
    ("mediation", "GET", "/api/v1/studios/<string:code>"): STAFF,
    ("mediation", "PATCH", "/api/v1/studios/<string:code>"): ADMIN_ONLY,
    ("mediation", "GET", "/api/v1/patrol-teams"): STAFF,
    ("mediation", "POST", "/api/v1/patrol-teams"): ADMIN_ONLY,
    ("mediation", "GET", "/api/v1/patrol-teams/<string:code>"): STAFF,
    ("mediation", "PATCH", "/api/v1/patrol-teams/<string:code>"): ADMIN_ONLY,
    ("mediation", "GET", "/api/v1/communities"): STAFF,
    ("mediation", "GET", "/api/v1/communities/<string:code>"): STAFF,
    ("mediation", "PATCH", "/api/v1/communities/<string:code>"): ADMIN_ONLY,
    ("mediation", "GET", "/api/v1/audit"): ADMIN_ONLY,
    ("mediation", "GET", "/api/v1/routing-failures"): ADMIN_ONLY,
    ("mediation", "GET", "/api/v1/cases/<string:reference>"): LEADS,
    ("mediation", "POST", "/api/v1/cases/<string:reference>/risk"): LEADS,
    ("mediation", "POST", "/api/v1/cases/<string:reference>/move"): LEADS,
    ("mediation", "GET", "/api/v1/patrol/tasks"): PATROL_ONLY,
    ("mediation", "POST", "/api/v1/patrol/tasks/<string:task_id>/<any(accept, close):action>"): PATROL_ONLY,
    ("mediation", "POST", "/api/v1/patrol/sweeps"): LEADS,
    ("mediation", "GET", "/api/v1/reports"): LEADS,
    ("mediation", "GET", "/api/v1/patrol/hot-spots"): LEADS,
    ("mediation", "GET", "/api/v1/desk/queue"): DESK,
    ("mediation", "GET", "/api/v1/desk/search"): DESK,
    ("mediation", "GET", "/api/v1/desk/ended"): DESK,
    ("mediation", "GET", "/api/v1/desk/tasks"): DESK,
    ("mediation", "POST", "/api/v1/desk/tasks/<string:task_id>/visit"): CASEWORK,
    ("mediation", "POST", "/api/v1/desk/tasks/<string:task_id>/close"): CASEWORK,
    ("mediation", "POST", "/api/v1/desk/take-next"): CASEWORK,
    ("mediation", "GET", "/api/v1/desk/cases/<string:reference>"): DESK,
    ("mediation", "POST", "/api/v1/desk/cases/<string:reference>/take"): CASEWORK,
    ("mediation", "POST", "/api/v1/desk/cases/<string:reference>/actions"): DESK,
    ("mediation", "POST", "/api/v1/desk/cases/<string:reference>/notes"): DESK,
    ("mediation", "POST", "/api/v1/desk/cases/<string:reference>/handover"): CASEWORK,
    ("mediation", "GET", "/api/v1/desk/cases/<string:reference>/sessions"): DESK,
    ("mediation", "POST", "/api/v1/desk/cases/<string:reference>/sessions"): DESK,
    ("mediation", "POST", "/api/v1/desk/cases/<string:reference>/sessions/<string:session_id>/move"): DESK,
    ("mediation", "POST", "/api/v1/desk/cases/<string:reference>/sessions/<string:session_id>/cancel"): DESK,
    ("mediation", "POST", "/api/v1/desk/cases/<string:reference>/sessions/<string:session_id>/record"): DESK,
    ("mediation", "PUT", "/api/v1/desk/cases/<string:reference>/agreement"): DESK,
    ("mediation", "POST", "/api/v1/desk/cases/<string:reference>/agreement/sign"): DESK,
    # Merging: the route admits DESK roles; `desk.merge` then admits only the primary's mediators
    # and its studio lead (a district admin with a real duplicate gets 403; the matrix's empty
    # body is refused first, 422).
    ("mediation", "POST", "/api/v1/desk/cases/<string:reference>/merge"): DESK,
    # The scan upload takes the staff token as a Bearer header only (the matrix sends it so for
    # /api/); `agreements` then admits the case's own mediators and lead, after the file is given.
    ("mediation", "POST", "/api/v1/desk/cases/<string:reference>/agreement/scan"): DESK,
    ("mediation", "GET", "/api/v1/desk/cases/<string:reference>/dossier"): CASE_OWNERS,
    # notify ------------------------------------------------------------------------------------
    ("notify", "GET", "/"): PUBLIC,  # a redirect to /admin/deliveries
    ("notify", "GET", "/admin/deliveries"): LEADS,
    ("notify", "GET", "/admin/deliveries/<string:delivery_id>"): LEADS,
    ("notify", "POST", "/admin/deliveries/<string:delivery_id>/resend"): LEADS,
    ("notify", "GET", "/admin/templates"): LEADS,
    ("notify", "GET", "/admin/templates/email.html"): LEADS,
    ("notify", "GET", "/api/v1/deliveries"): LEADS,
    ("notify", "GET", "/api/v1/deliveries/<string:delivery_id>"): LEADS,
    ("notify", "POST", "/api/v1/deliveries/<string:delivery_id>/resend"): LEADS,
    ("notify", "GET", "/api/v1/templates/preview"): LEADS,
    # A signed link: a resident's per case, a council household's per community and flat.
    ("notify", "GET", "/preferences/<string:token>"): PUBLIC,  # signed link
    ("notify", "POST", "/preferences/<string:token>"): PUBLIC,
    ("notify", "GET", "/api/v1/docs"): PUBLIC,
    ("notify", "GET", "/api/v1/openapi.json"): PUBLIC,
    ("notify", "GET", "/static/notify/<path:filename>"): PUBLIC,
    ("notify", "GET", "/static/web/<path:filename>"): PUBLIC,
    ("notify", "GET", "/healthz"): PUBLIC,
    ("notify", "GET", "/readyz"): PUBLIC,
    # Answers only on the metrics port (shared/metrics.py): 404 here, for everyone.
    ("notify", "GET", "/metrics"): PUBLIC,
    # council -----------------------------------------------------------------------------------
    ("council", "GET", "/"): COUNCIL,
    ("council", "GET", "/communities/<community>/raised-matters"): REGISTER_KEEPERS,
    ("council", "GET", "/communities/<community>/register"): COUNCIL,
    ("council", "GET", "/communities/<community>/register/flats/<flat_id>"): COUNCIL,  # masked for leaders
    ("council", "POST", "/communities/<community>/register/flats/<flat_id>"): REGISTER_KEEPERS,
    ("council", "GET", "/communities/<community>/register/import"): REGISTER_KEEPERS,
    ("council", "POST", "/communities/<community>/register/import"): REGISTER_KEEPERS,
    ("council", "POST", "/communities/<community>/register/import/<import_id>"): REGISTER_KEEPERS,
    ("council", "GET", "/api/v1/communities/<community>/register/flats"): COUNCIL,
    ("council", "GET", "/api/v1/communities/<community>/register/flats/<flat_id>"): COUNCIL,
    ("council", "PATCH", "/api/v1/communities/<community>/register/flats/<flat_id>"): REGISTER_KEEPERS,
    (
        "council",
        "GET",
        "/api/v1/communities/<community>/register/flats/<flat_id>/access-log",
    ): REGISTER_KEEPERS,
    ("council", "POST", "/api/v1/communities/<community>/register/preview"): REGISTER_KEEPERS,
    ("council", "POST", "/api/v1/communities/<community>/register/import"): REGISTER_KEEPERS,
    # council: consultations (staff) and the resident's answering pages (a code, not staff) ------
    ("council", "GET", "/consultations"): COUNCIL,
    ("council", "GET", "/consultations/new"): CONSULTATION_KEEPERS,
    ("council", "POST", "/consultations/new"): CONSULTATION_KEEPERS,
    ("council", "GET", "/consultations/<consultation_id>"): COUNCIL,
    ("council", "POST", "/consultations/<consultation_id>/questions"): COUNCIL,
    ("council", "POST", "/consultations/<consultation_id>/questions/<key>/remove"): COUNCIL,
    ("council", "POST", "/consultations/<consultation_id>/open"): COUNCIL,
    ("council", "POST", "/consultations/<consultation_id>/extend"): COUNCIL,
    ("council", "POST", "/consultations/<consultation_id>/close"): COUNCIL,
    ("council", "POST", "/consultations/<consultation_id>/slips"): COUNCIL,
    ("council", "GET", "/consultations/<consultation_id>/paper"): COUNCIL,
    ("council", "POST", "/consultations/<consultation_id>/paper"): COUNCIL,
    ("council", "GET", "/api/v1/consultations"): COUNCIL,
    ("council", "POST", "/api/v1/consultations"): COUNCIL,
    ("council", "GET", "/api/v1/consultations/<consultation_id>"): COUNCIL,
    ("council", "PATCH", "/api/v1/consultations/<consultation_id>"): COUNCIL,
    ("council", "POST", "/api/v1/consultations/<consultation_id>/open"): COUNCIL,
    ("council", "POST", "/api/v1/consultations/<consultation_id>/extend"): COUNCIL,
    ("council", "POST", "/api/v1/consultations/<consultation_id>/close"): COUNCIL,
    ("council", "POST", "/api/v1/consultations/<consultation_id>/paper"): COUNCIL,
    ("council", "GET", "/c/<consultation_id>"): PUBLIC,  # answering: the flat's one-time code
    ("council", "POST", "/c/<consultation_id>/code"): PUBLIC,
    ("council", "POST", "/c/<consultation_id>/sms"): PUBLIC,
    ("council", "GET", "/c/<consultation_id>/answer"): PUBLIC,
    ("council", "POST", "/c/<consultation_id>/answer"): PUBLIC,
    ("council", "GET", "/c/<consultation_id>/done"): PUBLIC,
    ("council", "POST", "/c/<consultation_id>/leave"): PUBLIC,
    # council: the plan and the public accounts (public pages and JSON need no login) ------------
    ("council", "GET", "/plan/<community>"): PUBLIC,
    ("council", "GET", "/plan/<community>/photos/<photo_id>"): PUBLIC,
    ("council", "GET", "/communities/<community>/plan"): COMMITTEE_ONLY,
    ("council", "POST", "/communities/<community>/plan"): COMMITTEE_ONLY,
    ("council", "GET", "/communities/<community>/plan/items/<item_id>"): COMMITTEE_ONLY,
    ("council", "POST", "/communities/<community>/plan/items/<item_id>"): COMMITTEE_ONLY,
    ("council", "POST", "/communities/<community>/plan/items/<item_id>/timeline"): COMMITTEE_ONLY,
    ("council", "GET", "/api/v1/plan/<community>"): PUBLIC,
    ("council", "POST", "/api/v1/communities/<community>/plan/items"): COMMITTEE_ONLY,
    ("council", "PATCH", "/api/v1/communities/<community>/plan/items/<item_id>"): COMMITTEE_ONLY,
    ("council", "POST", "/api/v1/communities/<community>/plan/items/<item_id>/timeline"): COMMITTEE_ONLY,
    ("council", "GET", "/accounts/<community>"): PUBLIC,
    ("council", "GET", "/accounts/<community>/entries/<entry_id>"): PUBLIC,
    ("council", "POST", "/accounts/<community>/entries/<entry_id>"): PUBLIC,  # the flat's resident code
    ("council", "GET", "/accounts/<community>/entries/<entry_id>/voucher"): PUBLIC,  # once approved
    ("council", "GET", "/communities/<community>/accounts"): COMMITTEE_ONLY,
    ("council", "POST", "/communities/<community>/accounts"): COMMITTEE_ONLY,
    ("council", "POST", "/communities/<community>/accounts/entries/<entry_id>/approve"): COMMITTEE_ONLY,
    ("council", "POST", "/communities/<community>/accounts/questions/<question_id>/answer"): COMMITTEE_ONLY,
    ("council", "POST", "/communities/<community>/accounts/codes"): COMMITTEE_ONLY,
    ("council", "GET", "/api/v1/accounts/<community>"): PUBLIC,
    ("council", "POST", "/api/v1/accounts/<community>/entries/<entry_id>/questions"): PUBLIC,  # resident code
    ("council", "GET", "/api/v1/communities/<community>/accounts/entries"): ACCOUNT_READERS,
    ("council", "POST", "/api/v1/communities/<community>/accounts/entries"): COMMITTEE_ONLY,
    (
        "council",
        "POST",
        "/api/v1/communities/<community>/accounts/entries/<entry_id>/approve",
    ): COMMITTEE_ONLY,
    ("council", "GET", "/api/v1/communities/<community>/accounts/questions"): COMMITTEE_ONLY,
    (
        "council",
        "POST",
        "/api/v1/communities/<community>/accounts/questions/<question_id>/answer",
    ): COMMITTEE_ONLY,
    ("council", "POST", "/api/v1/communities/<community>/accounts/codes"): COMMITTEE_ONLY,
    # council meetings: anyone of the community's council looks; the committee keeps them; the
    # check-in, amendment and minutes pages are public (a slip's code, published minutes).
    ("council", "GET", "/communities/<community>/meetings"): COUNCIL,
    ("council", "POST", "/communities/<community>/meetings"): REGISTER_KEEPERS,
    ("council", "GET", "/communities/<community>/meetings/<meeting_id>"): COUNCIL,
    ("council", "POST", "/communities/<community>/meetings/<meeting_id>/move"): REGISTER_KEEPERS,
    ("council", "POST", "/communities/<community>/meetings/<meeting_id>/cancel"): REGISTER_KEEPERS,
    ("council", "POST", "/communities/<community>/meetings/<meeting_id>/agenda"): REGISTER_KEEPERS,
    ("council", "POST", "/communities/<community>/meetings/<meeting_id>/invitees"): REGISTER_KEEPERS,
    ("council", "GET", "/communities/<community>/meetings/<meeting_id>/invitees/<key>"): REGISTER_KEEPERS,
    ("council", "POST", "/communities/<community>/meetings/<meeting_id>/invitations"): REGISTER_KEEPERS,
    ("council", "POST", "/communities/<community>/meetings/<meeting_id>/attendance/<key>"): REGISTER_KEEPERS,
    ("council", "POST", "/communities/<community>/meetings/<meeting_id>/codes"): REGISTER_KEEPERS,
    (
        "council",
        "POST",
        "/communities/<community>/meetings/<meeting_id>/agenda/<item_id>/vote",
    ): REGISTER_KEEPERS,
    ("council", "POST", "/communities/<community>/meetings/<meeting_id>/minutes"): REGISTER_KEEPERS,
    ("council", "POST", "/communities/<community>/meetings/<meeting_id>/minutes/circulate"): REGISTER_KEEPERS,
    (
        "council",
        "POST",
        "/communities/<community>/meetings/<meeting_id>/minutes/amendments/<amendment_id>",
    ): REGISTER_KEEPERS,
    ("council", "POST", "/communities/<community>/meetings/<meeting_id>/minutes/adopt"): REGISTER_KEEPERS,
    ("council", "POST", "/communities/<community>/meetings/<meeting_id>/minutes/publish"): REGISTER_KEEPERS,
    ("council", "GET", "/m/<meeting_id>/check-in"): PUBLIC,
    ("council", "POST", "/m/<meeting_id>/check-in"): PUBLIC,
    ("council", "GET", "/m/<meeting_id>/minutes"): PUBLIC,
    ("council", "GET", "/m/<meeting_id>/amend"): PUBLIC,
    ("council", "POST", "/m/<meeting_id>/amend"): PUBLIC,
    ("council", "GET", "/api/v1/communities/<community>/meetings"): COUNCIL,
    ("council", "POST", "/api/v1/communities/<community>/meetings"): REGISTER_KEEPERS,
    ("council", "GET", "/api/v1/communities/<community>/meetings/<meeting_id>"): COUNCIL,
    ("council", "POST", "/api/v1/communities/<community>/meetings/<meeting_id>/move"): REGISTER_KEEPERS,
    ("council", "POST", "/api/v1/communities/<community>/meetings/<meeting_id>/cancel"): REGISTER_KEEPERS,
    ("council", "POST", "/api/v1/communities/<community>/meetings/<meeting_id>/agenda"): REGISTER_KEEPERS,
    ("council", "POST", "/api/v1/communities/<community>/meetings/<meeting_id>/invitees"): REGISTER_KEEPERS,
    (
        "council",
        "POST",
        "/api/v1/communities/<community>/meetings/<meeting_id>/invitations",
    ): REGISTER_KEEPERS,
    (
        "council",
        "POST",
        "/api/v1/communities/<community>/meetings/<meeting_id>/attendance/<key>",
    ): REGISTER_KEEPERS,
    (
        "council",
        "POST",
        "/api/v1/communities/<community>/meetings/<meeting_id>/agenda/<item_id>/vote",
    ): REGISTER_KEEPERS,
    ("council", "PUT", "/api/v1/communities/<community>/meetings/<meeting_id>/minutes"): REGISTER_KEEPERS,
    (
        "council",
        "POST",
        "/api/v1/communities/<community>/meetings/<meeting_id>/minutes/circulate",
    ): REGISTER_KEEPERS,
    (
        "council",
        "POST",
        "/api/v1/communities/<community>/meetings/<meeting_id>/minutes/amendments/<amendment_id>",
    ): REGISTER_KEEPERS,
    (
        "council",
        "POST",
        "/api/v1/communities/<community>/meetings/<meeting_id>/minutes/adopt",
    ): REGISTER_KEEPERS,
    (
        "council",
        "POST",
        "/api/v1/communities/<community>/meetings/<meeting_id>/minutes/publish",
    ): REGISTER_KEEPERS,
    ("council", "POST", "/api/v1/meetings/<meeting_id>/check-in"): PUBLIC,
    # council: participation, reminders, results (the public result after closing), review, export
    ("council", "GET", "/consultations/<consultation_id>/participation"): COUNCIL,
    ("council", "GET", "/consultations/<consultation_id>/participation/<building>"): COUNCIL,
    ("council", "POST", "/consultations/<consultation_id>/participation/<building>/reminder"): COUNCIL,
    ("council", "GET", "/consultations/<consultation_id>/results"): COUNCIL,
    ("council", "GET", "/consultations/<consultation_id>/results/review"): REGISTER_KEEPERS,
    ("council", "POST", "/consultations/<consultation_id>/results/review"): REGISTER_KEEPERS,
    ("council", "GET", "/consultations/<consultation_id>/results/export.<fmt>"): REGISTER_KEEPERS,
    ("council", "GET", "/communities/<community>/building-groups"): REGISTER_KEEPERS,
    ("council", "POST", "/communities/<community>/building-groups"): REGISTER_KEEPERS,
    ("council", "GET", "/c/<consultation_id>/result"): PUBLIC,  # only once closed
    ("council", "GET", "/api/v1/consultations/<string:consultation_id>/result"): COUNCIL,
    ("council", "GET", "/api/v1/consultations/<string:consultation_id>/participation"): COUNCIL,
    (
        "council",
        "GET",
        "/api/v1/consultations/<string:consultation_id>/participation/<string:building>",
    ): COUNCIL,
    (
        "council",
        "POST",
        "/api/v1/consultations/<string:consultation_id>/participation/<string:building>/reminders",
    ): COUNCIL,
    ("council", "GET", "/api/v1/docs"): PUBLIC,
    ("council", "GET", "/api/v1/openapi.json"): PUBLIC,
    ("council", "GET", "/static/council/<path:filename>"): PUBLIC,
    ("council", "GET", "/static/web/<path:filename>"): PUBLIC,
    ("council", "GET", "/healthz"): PUBLIC,
    ("council", "GET", "/readyz"): PUBLIC,
    # Answers only on the metrics port (shared/metrics.py): 404 here, for everyone.
    ("council", "GET", "/metrics"): PUBLIC,
    # The public board: aggregated, suppressed figures for everyone (issue 13 item 5).
    ("council", "GET", "/board/district"): PUBLIC,
    ("council", "GET", "/board/district/figures.csv"): PUBLIC,
    ("council", "GET", "/board/street/<street>"): PUBLIC,
    ("council", "GET", "/board/street/<street>/figures.csv"): PUBLIC,
    ("council", "GET", "/board/<community>"): PUBLIC,
    ("council", "GET", "/board/<community>/figures.csv"): PUBLIC,
    ("council", "GET", "/api/v1/board/district"): PUBLIC,
    ("council", "GET", "/api/v1/board/street/<street>"): PUBLIC,
    ("council", "GET", "/api/v1/board/<community>"): PUBLIC,
}

FACTORIES = {
    "intake": create_intake_app,
    "mediation": create_mediation_app,
    "notify": create_notify_app,
    "council": create_council_app,
}
OPEN311_KEY = "matrix-open311-key"

CELLS = [
    pytest.param(service, method, rule, who, id=f"{service}-{method}-{rule}-{who}")
    for (service, method, rule) in EXPECTED
    for who in IDENTITIES
]


# Fixtures: one set of databases and apps for the whole module (600 requests, one setup) -------
@pytest.fixture(scope="module")
def matrix_settings(mongo_server_url: str, broker_url: str) -> Iterator[Settings]:
    tag = f"t{uuid.uuid4().hex[:10]}"
    settings = Settings.from_env(
        {
            "mongo_url": mongo_server_url,
            "broker_url": broker_url,
            "db_prefix": tag,
            "broker_namespace": tag,
            "publish_timeout": 3.0,
            "connect_timeout": 2.0,
            "open311_api_keys": OPEN311_KEY,
        }
    )
    yield settings
    delete_broker_namespace(settings)
    client = MongoClient(mongo_server_url)
    for name in client.list_database_names():
        if name.startswith(tag):
            client.drop_database(name)
    client.close()


def _without_csrf(app: Flask) -> Flask:
    hooks = app.before_request_funcs.get(None, [])
    app.before_request_funcs[None] = [hook for hook in hooks if hook.__name__ != "protect_forms"]
    assert len(app.before_request_funcs[None]) == len(hooks) - 1, "the CSRF hook was not found"
    return app


@pytest.fixture(scope="module")
def apps(matrix_settings: Settings) -> dict[str, Flask]:
    return {name: _without_csrf(factory(matrix_settings)) for name, factory in FACTORIES.items()}


@pytest.fixture(scope="module")
def case_reference(matrix_settings: Settings, apps: dict[str, Flask]) -> str:
    """A real case in mediation, routed to studio zhihe and accepted (the desk's staple)."""
    from services.mediation import desk
    from services.mediation.bootstrap import bootstrap
    from services.mediation.domain.actor import Actor
    from services.mediation.registry import seed_registry
    from tests.integration.test_mediation_desk import accepted_case

    mediation = bootstrap(matrix_settings)
    seed_registry(mediation.db)
    reference = accepted_case(mediation)
    desk.take(mediation, reference, Actor(_staff(MEDIATOR).user_id, frozenset({MEDIATOR}), "zhihe"))
    return reference


def _staff(role: str) -> Staff:
    return Staff(
        user_id=f"matrix-{role}",
        name=f"Matrix {role}",
        roles=frozenset({role}),
        studio=None if role == PATROL else "zhihe",
        team="lianhua-patrol" if role == PATROL else None,
        community="lianhua" if role in (COMMITTEE, BUILDING) else None,
        buildings=("1",) if role == BUILDING else (),
    )


PARAMS = {
    "reference": None,  # the real case
    "key_id": "000000000000000000000000",
    "fmt": "json",
    "ext": "csv",
    "request_id": "LC-2026-999999",
    "code": "zhihe",
    "token": "not-a-token",
    "action": None,  # taken from the rule's `any(...)`, else a desk action
    "session_id": "000000000000000000000000",
    "task_id": "000000000000000000000000",
    "index": "0",
    "filename": "missing.css",
    "delivery_id": "000000000000000000000000",
    "meeting_id": "000000000000000000000000",
    "amendment_id": "000000000000",
    "file_id": "000000000000000000000000",
    "community": "lianhua",
    "flat_id": "000000000000000000000000",
    "import_id": "000000000000000000000000",
    "consultation_id": "000000000000000000000000",
    "building": "1",
    "key": "q1",
    "street": "qinghe",
    "item_id": "000000000000000000000000",
    "photo_id": "000000000000000000000000",
    "entry_id": "000000000000000000000000",
    "question_id": "000000000000000000000000",
    "username": "mediator",  # the matrix lead's studio's mediator
    "start": "2026-01-01",
    "answer": "settled",
}


CODES = {"communities": "lianhua", "patrol-teams": "lianhua-patrol", "services": "neighbours"}
# Query strings a route needs to reach its role check (the page names the community it is for).
QUERIES = {"/consultations/new": {"community": "lianhua"}}


def _path(app: Flask, method: str, rule_text: str, reference: str) -> str:
    [rule] = [r for r in app.url_map.iter_rules() if r.rule == rule_text and method in (r.methods or ())]
    values: dict[str, Any] = {}
    for name in rule.arguments:
        if name == "reference":
            values[name] = reference
        elif name == "action":
            converter = rule._converters[name]
            choices = getattr(converter, "items", None)
            values[name] = sorted(choices)[0] if choices else "start_screening"
        elif name == "code":  # a real one of each kind
            values[name] = next((v for k, v in CODES.items() if k in rule_text), "zhihe")
        else:
            values[name] = PARAMS[name]
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def _request(client: FlaskClient, method: str, path: str, who: str, settings: Settings) -> Any:
    headers: dict[str, str] = {}
    if who != ANON:
        token = issue_token(settings, _staff(who))
        if path.startswith("/api/"):
            headers["Authorization"] = f"Bearer {token}"
        else:
            client.set_cookie(COOKIE_NAME, token)
    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
    if path in QUERIES:
        kwargs["query_string"] = QUERIES[path]
    if path.startswith("/open311/"):
        if method == "GET":
            kwargs["query_string"] = {"api_key": OPEN311_KEY}
        else:
            kwargs["data"] = {"api_key": OPEN311_KEY}
    elif method in {"POST", "PUT", "PATCH"}:
        if path.startswith("/api/"):
            kwargs["json"] = {}
        else:
            kwargs["data"] = {}
    return client.open(path, method=method, **kwargs)


def _is_login_redirect(response: Any) -> bool:
    return response.status_code in {301, 302, 303, 307} and "/login" in response.headers.get("Location", "")


# Tests ----------------------------------------------------------------------------------------
def test_table_covers_every_route(apps: dict[str, Flask]) -> None:
    actual = {
        (service, method, rule.rule)
        for service, app in apps.items()
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in NOT_IN_TABLE
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert sorted(actual - EXPECTED.keys()) == [], "routes without an authorization decision"
    assert sorted(EXPECTED.keys() - actual) == [], "table entries for routes that no longer exist"


@pytest.mark.parametrize(("service", "method", "rule", "who"), CELLS)
def test_cell(
    apps: dict[str, Flask],
    matrix_settings: Settings,
    case_reference: str,
    service: str,
    method: str,
    rule: str,
    who: str,
) -> None:
    app = apps[service]
    client = app.test_client()
    path = _path(app, method, rule, case_reference)
    response = _request(client, method, path, who, matrix_settings)
    expected = EXPECTED[(service, method, rule)]
    status = response.status_code
    allowed = expected == PUBLIC or who in expected
    if allowed:
        assert status not in {401, 403}, f"{who} refused ({status}) at {method} {path}"
        if expected != PUBLIC:  # `/` and `/logout` send anonymous visitors to the login form
            assert not _is_login_redirect(response), f"{who} sent to login at {method} {path}"
        assert status < 500, f"{method} {path} as {who}: {status} {response.get_data(as_text=True)[:300]}"
    elif who == ANON:
        if service == "mediation" and not path.startswith("/api/"):
            assert _is_login_redirect(response), f"anonymous not sent to login: {status} at {method} {path}"
        else:
            assert status == 401, f"anonymous got {status} at {method} {path}"
    else:
        assert status == 403, f"{who} got {status} at {method} {path}"


@pytest.mark.parametrize("who", IDENTITIES)
def test_a_households_preferences_page_is_public_behind_its_signed_link(
    apps: dict[str, Flask], matrix_settings: Settings, who: str
) -> None:
    """The household page (the same public route) opens for anyone holding the signed link, with or
    without a login; a link signed with another key, or naming no community, is not found."""
    from services.notify.domain.audiences import household_key
    from services.notify.preferences import make_token

    client = apps["notify"].test_client()
    key = household_key("lianhua", "flat-matrix")
    good = _request(
        client, "GET", f"/preferences/{make_token(matrix_settings.secret_key, key)}", who, matrix_settings
    )
    assert good.status_code == 200 and 'name="community_notices"' in good.get_data(as_text=True)
    saved = _request(
        client, "POST", f"/preferences/{make_token(matrix_settings.secret_key, key)}", who, matrix_settings
    )
    assert saved.status_code == 422  # reached the form's checks (no choice made), not refused for the role
    forged = _request(client, "GET", f"/preferences/{make_token('another-key', key)}", who, matrix_settings)
    assert forged.status_code == 404
    nowhere = make_token(matrix_settings.secret_key, household_key("atlantis", "f1"))
    assert _request(client, "GET", f"/preferences/{nowhere}", who, matrix_settings).status_code == 404


# No personal data in the logs -----------------------------------------------------------------
NAME = "泽维尔·赫卡忒"
PHONE = "13712345678"
EMAIL = "xavier.hecate.matrix@example.org"
RESPONDENT = "奥菲莉娅·鲁纳"


class _Keep(logging.Handler):
    """Every record as the services write it (JSON, with its extra fields) and its raw args."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter("test"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{self.format(record)} {record.args!r}")


def test_no_personal_data_in_logs(settings: Settings) -> None:
    from services.mediation import desk, routing
    from services.mediation.bootstrap import bootstrap, ensure_indexes
    from services.mediation.domain import lifecycle as lc
    from services.mediation.domain.actor import Actor
    from services.mediation.registry import seed_registry
    from tests.integration.test_mediation_routing import submitted

    # The services as an operator would run them with LOG_LEVEL=DEBUG: every application logger at
    # DEBUG. `configure_logging` keeps the libraries' chatter (pymongo, kombu, amqp, werkzeug) at
    # WARNING whatever LOG_LEVEL says; pymongo's DEBUG command log would print whole documents.
    settings = replace(settings, log_level="DEBUG")
    intake = _without_csrf(create_intake_app(settings)).test_client()
    mediation_app = create_mediation_app(settings)  # both before: create_app resets the root handlers
    root = logging.getLogger()
    assert root.level == logging.DEBUG
    assert logging.getLogger("pymongo").getEffectiveLevel() >= logging.WARNING
    keep = _Keep()
    root.addHandler(keep)
    try:
        _file_and_work_a_case(settings, intake, mediation_app)
        mediation = bootstrap(settings)
        ensure_indexes(mediation.db)
        seed_registry(mediation.db)
        event = submitted(
            parties=[
                {"role": "applicant", "name": NAME, "phone": PHONE, "email": EMAIL},
                {"role": "respondent", "name": RESPONDENT},
            ]
        )
        routing.on_case_submitted(mediation, event)
        desk_ref = event.data["reference"]
        lead = Actor("matrix-lead", frozenset({LEAD}), "zhihe")
        desk.apply_action(mediation, desk_ref, lead, lc.START_SCREENING)
        desk.apply_action(mediation, desk_ref, lead, lc.ACCEPT)
        client = mediation_app.test_client()
        client.set_cookie(COOKIE_NAME, issue_token(settings, _staff(MEDIATOR)))
        assert client.post(f"/api/v1/desk/cases/{desk_ref}/take").status_code == 200
        view = client.get(f"/api/v1/desk/cases/{desk_ref}")
        assert view.status_code == 200 and PHONE in view.get_data(as_text=True)  # the owner sees it
        assert client.get(f"/desk/cases/{desk_ref}").status_code == 200
        note = {"text": f"Called {NAME} at {PHONE}", "shared": False}
        assert client.post(f"/api/v1/desk/cases/{desk_ref}/notes", json=note).status_code < 300
    finally:
        root.removeHandler(keep)
        root.setLevel(logging.INFO)
    assert len(keep.lines) >= 3, "too few log records: the check would prove nothing"
    logged = "\n".join(keep.lines)
    for secret in (NAME, PHONE, EMAIL, RESPONDENT):
        assert secret not in logged, f"{secret!r} reached the logs"


def _file_and_work_a_case(settings: Settings, intake: FlaskClient, mediation_app: Flask) -> None:
    """Intake: the API, the tracking call and the resident form."""
    case = {
        "category": "neighbours",
        "community": "lianhua",
        "building": "3",
        "unit": "2-301",
        "description": "Loud renovation work every night after 22:00.",
        "applicants": [{"name": NAME, "phone": PHONE, "email": EMAIL}],
        "respondents": [{"name": RESPONDENT}],
        "consent": True,
    }
    created = intake.post("/api/v1/cases", json=case)
    assert created.status_code == 201, created.get_data(as_text=True)
    token = created.json["tracking_token"]
    tracked = intake.get(f"/api/v1/cases/{created.json['reference']}", query_string={"token": token})
    assert tracked.status_code == 200
    bad = dict(case, applicants=[{"name": NAME, "phone": "not-a-phone " + PHONE, "email": EMAIL}])
    assert intake.post("/api/v1/cases", json=bad).status_code == 422  # errors must not log input
    from tests.integration.test_intake_web import valid_form

    person = {"applicants-0-name": NAME, "applicants-0-phone": PHONE, "applicants-0-email": EMAIL}
    form = valid_form("", **person)
    assert intake.post("/", data=form).status_code == 303  # the resident form (CSRF off, see top)
