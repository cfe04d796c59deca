"""Open311 GeoReport v2 under /open311/v2, in JSON and XML, for existing Open311 clients.

- `discovery`, `services` (one per dispute category), `services/{code}` (its definition: the
  community, building and other party are attributes, since every category needs them),
- `POST requests` (form-encoded, `api_key` required, `attribute[CODE]` parsed) files a case
  through the same schema and use case as the JSON API; the organisation of the key is recorded,
- `GET requests` (filters: service_request_id, service_code, start_date, end_date, status),
  `GET requests/{id}` and `GET tokens/{token}`.

Status is `open` or `closed`; the detailed state is in `status_notes`. The public listing never
carries names, phones, the description or the building: only category, community and state
("never names or case facts" in public).  Errors use the spec's shape
`[{"code": 400, "description": "..."}]` / `<errors><error>...` with a matching HTTP status.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from flask_babel import get_locale, gettext
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from services.intake import apikeys, filing
from services.intake.bootstrap import Intake
from services.intake.domain import case_rules
from services.intake.http.resident_pages import OUTCOME_LABELS, STATE_LABELS
from services.intake.http.schemas import CaseCreateSchema
from shared.taxonomy import CATEGORIES, CATEGORY_CODES, communities
from shared.web.i18n import html_lang

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

FORMATS = {"json": "application/json", "xml": "text/xml"}
MAX_RESULTS = 1000
DEFAULT_SPAN = timedelta(days=90)
_ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_]{1,50})\](\[\])?$")
YES_NO_VALUES = [{"key": "yes", "name": "yes"}, {"key": "no", "name": "no"}]


class Open311Error(Exception):
    """An error answered in the spec's format."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _intake() -> Intake:
    return current_app.extensions["intake"]


def _language() -> str:
    return html_lang(str(get_locale() or "zh_CN"))


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(404, f"Unknown format {fmt!r}: use .json or .xml")
    return fmt


def _xml(root: str, item: str | None, data: Any) -> bytes:
    """Render GeoReport XML: a list becomes repeated `item` elements under `root`."""
    element = Element(root)

    def fill(parent: Element, value: Any, list_item: str = "item") -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if isinstance(inner, list):
                    # Spec nesting: attributes/attribute, values/value, formats/format, ...
                    container = SubElement(parent, key)
                    for entry in inner:
                        fill(SubElement(container, key[:-1] if key.endswith("s") else key), entry)
                else:
                    fill(SubElement(parent, key), inner)
        elif isinstance(value, bool):
            parent.text = "true" if value else "false"
        elif value is not None:
            parent.text = str(value)

    if isinstance(data, list):
        for entry in data:
            fill(SubElement(element, item or "item"), entry)
    else:
        fill(element, data)
    return b'<?xml version="1.0" encoding="utf-8"?>' + tostring(element, encoding="unicode").encode("utf-8")


def respond(fmt: str, data: Any, root: str, item: str | None = None, status: int = 200) -> Response:
    """`data` as JSON or as XML with `root` (and `item` for each list entry)."""
    if fmt == "xml":
        return Response(_xml(root, item, data), status=status, mimetype="text/xml")
    response = jsonify(data)
    response.status_code = status
    return response


def _error_response(fmt: str, code: int, description: str) -> Response:
    return respond(fmt, [{"code": code, "description": description}], "errors", "error", status=code)


def _requested_format() -> str:
    return "xml" if request.path.endswith(".xml") else "json"


@bp.errorhandler(Open311Error)
def open311_error(error: Open311Error) -> Response:
    return _error_response(_requested_format(), error.code, error.description)


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    code = error.code or 500
    return _error_response(_requested_format(), code, error.description or error.name)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds")


def _category_name(code: str) -> str:
    return next((c.name(_language()) for c in CATEGORIES if c.code == code), code)


def _service(code: str) -> dict[str, Any]:
    return {
        "service_code": code,
        "service_name": _category_name(code),
        "description": gettext(
            "Free people's mediation of a %(category)s dispute.", category=_category_name(code)
        ),
        "metadata": True,
        "type": "realtime",
        "keywords": "mediation",
        "group": gettext("Mediation"),
    }


def _definition(code: str) -> dict[str, Any]:
    """Every category asks the same extra attributes (where, against whom, urgency, consent)."""
    language = _language()
    attributes = [
        (
            "community",
            "singlevaluelist",
            True,
            gettext("Community"),
            [{"key": c.code, "name": c.name(language)} for c in communities()],
        ),
        ("building", "string", True, gettext("Building"), None),
        ("unit", "string", False, gettext("Unit or room"), None),
        ("respondent_name", "string", True, gettext("Name or organisation of the other side"), None),
        ("respondent_phone", "string", False, gettext("Phone of the other side"), None),
        ("claims", "text", False, gettext("What you ask for"), None),
        ("amount", "number", False, gettext("Amount involved (yuan)"), None),
        ("people_affected", "number", False, gettext("Number of people affected"), None),
        (
            "threat_of_violence",
            "singlevaluelist",
            False,
            gettext("Has anyone threatened violence?"),
            YES_NO_VALUES,
        ),
        (
            "danger_to_safety",
            "singlevaluelist",
            False,
            gettext("Is anyone's safety in danger?"),
            YES_NO_VALUES,
        ),
        (
            "agrees_to_mediation",
            "singlevaluelist",
            False,
            gettext("Do you agree to mediation?"),
            YES_NO_VALUES,
        ),
        (
            "consent",
            "singlevaluelist",
            True,
            gettext("The applicant agrees to the privacy notice"),
            [{"key": "yes", "name": "yes"}],
        ),
    ]
    return {
        "service_code": code,
        "attributes": [
            {
                "variable": True,
                "code": name,
                "datatype": datatype,
                "required": required,
                "datatype_description": "",
                "order": order,
                "description": description,
                **({"values": values} if values is not None else {}),
            }
            for order, (name, datatype, required, description, values) in enumerate(attributes, start=1)
        ],
    }


@bp.get("/discovery.<fmt>")
def discovery(fmt: str) -> Response:
    """Where this endpoint is and what it speaks."""
    fmt = _format(fmt)
    data = {
        "changeset": "2026-01-01T00:00:00+08:00",
        "contact": gettext("District people's mediation office"),
        "key_service": gettext("API keys are issued by the district administrator."),
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": url_for("open311.services", fmt="json", _external=True).rsplit("/", 1)[0],
                "changeset": "2026-01-01T00:00:00+08:00",
                "type": "production",
                "formats": list(FORMATS.values()),
            }
        ],
    }
    return respond(fmt, data, "discovery")


@bp.get("/services.<fmt>")
def services(fmt: str) -> Response:
    """One service per dispute category."""
    fmt = _format(fmt)
    return respond(fmt, [_service(code) for code in CATEGORY_CODES], "services", "service")


@bp.get("/services/<string:code>.<fmt>")
def service_definition(code: str, fmt: str) -> Response:
    fmt = _format(fmt)
    if code not in CATEGORY_CODES:
        raise Open311Error(404, f"No service {code!r}.")
    return respond(fmt, _definition(code), "service_definition")


def _attributes(form: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for key in form:
        if not key.startswith("attribute"):
            continue
        match = _ATTRIBUTE.match(key)
        if not match:  # e.g. attribute[$where] or attribute[a.b]: never passed on
            raise Open311Error(400, f"Unknown attribute(s): {key[:60]}")
        found[match.group(1)] = form.get(key, "")
    return found


def _yes_no(value: str | None, default: bool) -> Any:
    if value in (None, ""):
        return default
    return {"yes": True, "no": False, "true": True, "false": False}.get(value.lower(), value)


def _number(value: str | None, kind: type) -> Any:
    if value in (None, ""):
        return None
    try:
        return kind(value)
    except ValueError:
        return value


def case_payload(form: Any) -> dict[str, Any]:
    """An Open311 request as the JSON API's case payload (validated by its schema)."""
    attributes = _attributes(form)
    unknown = set(attributes) - {a["code"] for a in _definition("other")["attributes"]}
    if unknown:
        raise Open311Error(400, f"Unknown attribute(s): {', '.join(sorted(unknown))}")
    name = " ".join(part for part in (form.get("last_name", ""), form.get("first_name", "")) if part).strip()
    applicant: dict[str, Any] = {"name": name, "phone": form.get("phone", "")}
    if form.get("email"):
        applicant["email"] = form["email"]
    respondent: dict[str, Any] = {"name": attributes.get("respondent_name", "")}
    if attributes.get("respondent_phone"):
        respondent["phone"] = attributes["respondent_phone"]
    payload: dict[str, Any] = {
        "category": form.get("service_code", ""),
        "community": attributes.get("community", ""),
        "building": attributes.get("building", ""),
        "unit": attributes.get("unit", ""),
        "description": form.get("description", ""),
        "claims": attributes.get("claims", ""),
        "amount": _number(attributes.get("amount"), float),
        "people_affected": _number(attributes.get("people_affected"), int),
        "threat_of_violence": _yes_no(attributes.get("threat_of_violence"), False),
        "danger_to_safety": _yes_no(attributes.get("danger_to_safety"), False),
        "agrees_to_mediation": _yes_no(attributes.get("agrees_to_mediation"), True),
        "consent": _yes_no(attributes.get("consent"), False),
        "language": _language(),
        "applicants": [applicant],
        "respondents": [respondent],
    }
    return payload


def _describe(errors: dict[str, Any], prefix: str = "") -> list[str]:
    """Schema errors as `field: message` lines, with Open311's names for the applicant."""
    names = {
        "applicants.0.name": "first_name/last_name",
        "applicants.0.phone": "phone",
        "applicants.0.email": "email",
        "category": "service_code",
        "description": "description",
        "respondents.0.name": "attribute[respondent_name]",
        "respondents.0.phone": "attribute[respondent_phone]",
    }
    lines = []
    for key, value in errors.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            lines += _describe(value, path)
        else:
            field = names.get(path, f"attribute[{path}]")
            lines += [f"{field}: {message}" for message in value]
    return lines


@bp.post("/requests.<fmt>")
def create_request(fmt: str) -> Response:
    """File a case; answers its service_request_id (the case reference) and a token."""
    fmt = _format(fmt)
    form = request.form
    if not form.get("api_key"):
        raise Open311Error(400, "api_key is required.")
    intake = _intake()
    organisation = apikeys.organisation_for(intake, form["api_key"])
    if organisation is None:
        raise Open311Error(403, "Invalid api_key.")
    if not form.get("service_code"):
        raise Open311Error(400, "service_code is required.")
    if form["service_code"] not in CATEGORY_CODES:
        raise Open311Error(404, f"No service {form['service_code']!r}.")
    if not intake.limiter.hit("open311"):
        raise Open311Error(429, "Too many requests; try again later.")
    try:
        data = CaseCreateSchema().load(case_payload(form))
    except ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {"request": err.messages}
        raise Open311Error(400, "; ".join(_describe(messages))) from err
    token = secrets.token_urlsafe(12)
    created = filing.submit_case(
        intake, data, channel="open311", organisation=organisation, open311_token=token
    )
    notice = gettext("A mediator will contact the applicant. Free of charge.")
    body = [
        {
            "service_request_id": created["reference"],
            "token": token,
            "service_notice": notice,
            "account_id": None,
        }
    ]
    return respond(fmt, body, "service_requests", "request", status=201)


def _public(case: dict[str, Any]) -> dict[str, Any]:
    """A case as the public sees it: no names, phones, facts or building."""
    note = str(STATE_LABELS.get(case["status"], case["status"]))
    if case.get("outcome"):
        note += ": " + str(OUTCOME_LABELS.get(case["outcome"], case["outcome"]))
    community = next((c.name(_language()) for c in communities() if c.code == case["community"]), "")
    return {
        "service_request_id": case["_id"],
        "status": case_rules.open311_status(case["status"]),
        "status_notes": note,
        "service_name": _category_name(case["category"]),
        "service_code": case["category"],
        "agency_responsible": case.get("studio_name") or gettext("District people's mediation office"),
        "service_notice": "",
        "requested_datetime": _iso(case["received_at"]),
        "updated_datetime": _iso(case.get("updated_at") or case["received_at"]),
        "expected_datetime": None,
        "address": community,
        "address_id": case["community"],
        "zipcode": None,
        "media_url": None,
    }


_PUBLIC_FIELDS = {
    "_id": 1,
    "status": 1,
    "outcome": 1,
    "community": 1,
    "category": 1,
    "studio_name": 1,
    "received_at": 1,
    "updated_at": 1,
}


def _parse_date(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as err:
        raise Open311Error(400, f"{name} must be a W3C date-time, e.g. 2026-03-01T00:00:00Z.") from err
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@bp.get("/requests.<fmt>")
def list_requests(fmt: str) -> Response:
    """Requests matching the spec's filters (default: the last 90 days, at most 1000)."""
    fmt = _format(fmt)
    ids = [i.strip() for i in request.args.get("service_request_id", "").split(",") if i.strip()]
    query: dict[str, Any]
    if ids:
        # The spec: with service_request_id every other filter is ignored.
        query = {"_id": {"$in": [i for i in ids[:MAX_RESULTS] if case_rules.is_reference(i)]}}
    else:
        query = {}
        codes = [c.strip() for c in request.args.get("service_code", "").split(",") if c.strip()]
        if codes:
            query["category"] = {"$in": [c for c in codes if c in CATEGORY_CODES]}
        end = _parse_date("end_date")
        start = _parse_date("start_date")
        if start is None:
            start = (end or datetime.now(UTC)) - DEFAULT_SPAN
        query["received_at"] = {"$gte": start, **({"$lte": end} if end else {})}
        statuses = {s.strip() for s in request.args.get("status", "").split(",") if s.strip()}
        if statuses - {"open", "closed"}:
            raise Open311Error(400, "status must be open, closed or both.")
        if statuses == {"open"}:
            query["status"] = {"$nin": sorted(case_rules.FINAL_STATES)}
        elif statuses == {"closed"}:
            query["status"] = {"$in": sorted(case_rules.FINAL_STATES)}
    rows = _intake().db.cases.find(query, _PUBLIC_FIELDS).sort("received_at", -1).limit(MAX_RESULTS)
    return respond(fmt, [_public(row) for row in rows], "service_requests", "request")


@bp.get("/requests/<string:request_id>.<fmt>")
def get_request(request_id: str, fmt: str) -> Response:
    fmt = _format(fmt)
    case = (
        _intake().db.cases.find_one({"_id": request_id}, _PUBLIC_FIELDS)
        if case_rules.is_reference(request_id)
        else None
    )
    if case is None:
        raise Open311Error(404, f"No request {request_id!r}.")
    return respond(fmt, [_public(case)], "service_requests", "request")


@bp.get("/tokens/<string:token>.<fmt>")
def get_token(token: str, fmt: str) -> Response:
    fmt = _format(fmt)
    case = _intake().db.cases.find_one({"open311_token": token}, {"_id": 1}) if len(token) <= 64 else None
    if case is None:
        raise Open311Error(404, "No request for this token.")
    return respond(fmt, [{"service_request_id": case["_id"], "token": token}], "service_requests", "request")
