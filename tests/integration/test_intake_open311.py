"""Open311 GeoReport v2 in JSON and XML, as an existing Open311 client uses it."""

from __future__ import annotations

from dataclasses import replace
from xml.etree import ElementTree

import pytest
from flask.testing import FlaskClient

from services.intake import apikeys
from services.intake.app import create_app
from services.intake.bootstrap import bootstrap
from shared.config import Settings
from tests.integration.conftest import database

pytestmark = pytest.mark.integration

ENV_KEY = "local-test-key-123"


@pytest.fixture
def client(stack_settings: Settings) -> FlaskClient:
    return create_app(replace(stack_settings, open311_api_keys=f"{ENV_KEY}, other")).test_client()


def request_form(**overrides: str) -> dict[str, str]:
    form = {
        "api_key": ENV_KEY,
        "service_code": "neighbours",
        "lat": "39.9",
        "long": "116.4",
        "first_name": "三",
        "last_name": "张",
        "phone": "13800138000",
        "email": "zhang@example.com",
        "description": "Dog barking all night.",
        "attribute[community]": "heping",
        "attribute[building]": "5",
        "attribute[respondent_name]": "李四",
        "attribute[threat_of_violence]": "no",
        "attribute[consent]": "yes",
    }
    form.update(overrides)
    return form


def test_discovery_services_and_definitions_in_both_formats(client: FlaskClient) -> None:
    services = client.get("/open311/v2/services.json?lang=en").json
    assert {s["service_code"] for s in services} >= {"neighbours", "property_management", "other"}
    assert all(s["metadata"] is True and s["type"] == "realtime" for s in services)
    xml = ElementTree.fromstring(client.get("/open311/v2/services.xml").data)
    assert xml.tag == "services" and len(xml.findall("service")) == len(services)

    definition = client.get("/open311/v2/services/neighbours.json").json
    codes = {a["code"]: a for a in definition["attributes"]}
    assert codes["community"]["required"] is True and codes["community"]["datatype"] == "singlevaluelist"
    assert {v["key"] for v in codes["community"]["values"]} >= {"lianhua", "heping"}
    xml = ElementTree.fromstring(client.get("/open311/v2/services/neighbours.xml").data)
    assert xml.tag == "service_definition"
    assert xml.find("attributes/attribute/values/value/key").text == "lianhua"

    discovery = ElementTree.fromstring(client.get("/open311/v2/discovery.xml").data)
    assert discovery.find("endpoints/endpoint/specification").text == "http://wiki.open311.org/GeoReport_v2"
    assert client.get("/open311/v2/services/nope.json").status_code == 404


def test_post_request_files_a_case_with_the_key_organisation(
    client: FlaskClient, stack_settings: Settings
) -> None:
    answer = client.post("/open311/v2/requests.json", data=request_form())
    assert answer.status_code == 201, answer.json
    [created] = answer.json
    reference = created["service_request_id"]
    case = database(stack_settings, "intake").cases.find_one({"_id": reference})
    assert case["channel"] == "open311" and case["organisation"] == apikeys.ENV_ORGANISATION
    assert case["community"] == "heping" and case["building"] == "5"
    assert [p["name"] for p in case["parties"]] == ["张 三", "李四"]

    # tokens/{token} and requests/{id}, in both formats.
    token = client.get(f"/open311/v2/tokens/{created['token']}.json").json
    assert token == [{"service_request_id": reference, "token": created["token"]}]
    one = client.get(f"/open311/v2/requests/{reference}.json?lang=en").json[0]
    assert (
        one["status"] == "open" and one["status_notes"] == "Received" and one["service_code"] == "neighbours"
    )
    assert one["address"] == "Heping Community"
    public = str(one)
    assert "13800138000" not in public and "张" not in public and "Dog barking" not in public
    xml = ElementTree.fromstring(client.get(f"/open311/v2/requests/{reference}.xml").data)
    assert xml.tag == "service_requests" and xml.find("request/service_request_id").text == reference


def test_post_request_as_xml_answers_xml(client: FlaskClient) -> None:
    answer = client.post("/open311/v2/requests.xml", data=request_form())
    assert answer.status_code == 201 and answer.mimetype == "text/xml"
    root = ElementTree.fromstring(answer.data)
    assert root.find("request/service_request_id").text.startswith("LC-")


def test_api_keys_issued_hashed_and_revoked(client: FlaskClient, stack_settings: Settings) -> None:
    db = bootstrap(stack_settings).db
    key, record = apikeys.issue_key(db, "Lianhua residents' committee")
    stored = db.api_keys.find_one({"_id": record["_id"]})
    assert key not in str(stored) and stored["key_hash"] == apikeys.hash_key(key)

    answer = client.post("/open311/v2/requests.json", data=request_form(api_key=key))
    assert answer.status_code == 201
    reference = answer.json[0]["service_request_id"]
    assert database(stack_settings, "intake").cases.find_one({"_id": reference})["organisation"] == (
        "Lianhua residents' committee"
    )
    assert apikeys.revoke_key(db, record["_id"]) is True
    refused = client.post("/open311/v2/requests.json", data=request_form(api_key=key))
    assert refused.status_code == 403 and refused.json == [{"code": 403, "description": "Invalid api_key."}]


@pytest.mark.parametrize(
    ("overrides", "status", "fragment"),
    [
        ({"api_key": ""}, 400, "api_key is required"),
        ({"api_key": "wrong"}, 403, "Invalid api_key"),
        ({"service_code": ""}, 400, "service_code is required"),
        ({"service_code": "parking"}, 404, "No service"),
        ({"phone": "x"}, 400, "phone: Not a phone number."),
        ({"attribute[community]": "atlantis"}, 400, "attribute[community]: Unknown community."),
        ({"attribute[consent]": ""}, 400, "attribute[consent]"),
        ({"attribute[$where]": "1"}, 400, "Unknown attribute"),
        ({"attribute[colour]": "red"}, 400, "Unknown attribute(s): colour"),
        ({"attribute[people_affected]": "many"}, 400, "attribute[people_affected]"),
    ],
)
def test_bad_requests_answer_spec_errors_and_store_nothing(
    client: FlaskClient, stack_settings: Settings, overrides: dict, status: int, fragment: str
) -> None:
    answer = client.post("/open311/v2/requests.json", data=request_form(**overrides))
    assert answer.status_code == status
    [error] = answer.json
    assert error["code"] == status and fragment in error["description"]
    xml = client.post("/open311/v2/requests.xml", data=request_form(**overrides))
    assert xml.status_code == status
    assert ElementTree.fromstring(xml.data).find("error/code").text == str(status)
    assert database(stack_settings, "intake").cases.count_documents({}) == 0


def test_get_requests_filters(client: FlaskClient, stack_settings: Settings) -> None:
    first = client.post("/open311/v2/requests.json", data=request_form()).json[0]["service_request_id"]
    second = client.post(
        "/open311/v2/requests.json", data=request_form(service_code="property_management")
    ).json[0]["service_request_id"]
    database(stack_settings, "intake").cases.update_one(
        {"_id": second}, {"$set": {"status": "closed", "outcome": "agreement_written", "open": False}}
    )
    everything = client.get("/open311/v2/requests.json").json
    assert [r["service_request_id"] for r in everything] == [second, first]
    assert [r["service_request_id"] for r in client.get("/open311/v2/requests.json?status=open").json] == [
        first
    ]
    closed = client.get("/open311/v2/requests.json?status=closed&lang=en").json
    assert (
        closed[0]["status"] == "closed" and closed[0]["status_notes"] == "Closed: Written agreement reached"
    )
    by_code = client.get("/open311/v2/requests.json?service_code=neighbours").json
    assert [r["service_request_id"] for r in by_code] == [first]
    by_id = client.get(f"/open311/v2/requests.json?service_request_id={first}&status=closed").json
    assert [r["service_request_id"] for r in by_id] == [first]  # other filters ignored, as specified
    future = client.get("/open311/v2/requests.json?start_date=2099-01-01T00:00:00Z").json
    assert future == []
    assert client.get("/open311/v2/requests.json?start_date=yesterday").status_code == 400
    xml = ElementTree.fromstring(client.get("/open311/v2/requests.xml").data)
    assert [e.text for e in xml.findall("request/status")] == ["closed", "open"]
    assert client.get("/open311/v2/requests/LC-2099-000001.json").status_code == 404
    assert client.get("/open311/v2/tokens/nope.xml").status_code == 404
