"""API fuzzing: schemathesis generates requests for every operation of each service's OpenAPI
document and checks the answers: no 5xx, every status code documented, every body matching its
documented schema. The apps run on real SecantusDB and RabbitMQ (the test's own databases and
namespace), as a district admin (a staff token) and once anonymously.

Bounded and reproducible for CI: a few examples per operation, derandomized.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance
from schemathesis.generation import GenerationMode

from services.council.app import create_app as create_council
from services.intake.app import create_app as create_intake
from services.mediation.app import create_app as create_mediation
from services.mediation.registry import seed_registry
from services.notify.app import create_app as create_notify
from shared.auth import Staff, issue_token
from shared.config import Settings
from shared.db import get_database

pytestmark = pytest.mark.fuzz

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
MAX_EXAMPLES = 25  # per operation and generation mode: about a minute for the three services

FACTORIES: dict[str, Callable[[Settings], Flask]] = {
    "intake": create_intake,
    "mediation": create_mediation,
    "notify": create_notify,
    "council": create_council,
}

ADMIN = Staff(user_id="fuzz-admin", name="Fuzz Admin", roles=frozenset({"district_admin"}))


def fuzz_app(app: Flask, headers: dict[str, str]) -> list[str]:
    """Run every operation of the app's OpenAPI document; return one line per failing one."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    operations = 0
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis_settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                response = case.call_and_validate(headers=headers, checks=CHECKS)
                statuses[case.operation.label][response.status_code] += 1

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (no parameters, only path strings)
                continue
            except Exception as err:  # collected, so one run shows every failing operation
                failures.append(f"{operation.label} [{mode.value}]: {type(err).__name__}: {str(err)[:1500]}")
    assert operations > 0, "the OpenAPI document lists no operation"
    for label, counts in sorted(statuses.items()):
        print(f"[fuzz] {label}: {dict(sorted(counts.items()))}")
    return failures


@pytest.mark.parametrize("as_admin", [True, False], ids=["district_admin", "anonymous"])
@pytest.mark.parametrize("service", sorted(FACTORIES))
def test_every_operation_answers_as_documented(settings: Settings, service: str, as_admin: bool) -> None:
    if service == "mediation":
        seed_registry(get_database(settings, "mediation"))  # studios and teams to act on
    app = FACTORIES[service](settings)
    headers = {"Authorization": f"Bearer {issue_token(settings, ADMIN)}"} if as_admin else {}
    failures = fuzz_app(app, headers)
    assert not failures, "\n\n".join(failures)
