"""Fixtures for tests that run the services for real."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from pymongo.database import Database

from devtools.smtp_sink import CapturingHandler
from services.intake.app import create_app as create_intake_app
from shared.config import Settings
from shared.db import get_database
from tests.support.stack import Workers

CASE = {
    "category": "neighbours",
    "community": "lianhua",
    "building": "3",
    "unit": "2-301",
    "description": "Loud renovation work every night after 22:00.",
    "applicants": [{"name": "张三", "phone": "13800138000", "email": "zhang@example.com"}],
    "respondents": [{"name": "李四", "phone": "13900139000"}],
    "consent": True,
}


@pytest.fixture
def stack_settings(settings: Settings, smtp: tuple[CapturingHandler, int]) -> Settings:
    """The test's settings with mail going to the test's SMTP server."""
    return replace(settings, smtp_url=f"smtp://127.0.0.1:{smtp[1]}")


@pytest.fixture
def mailbox(smtp: tuple[CapturingHandler, int]) -> CapturingHandler:
    return smtp[0]


@pytest.fixture
def workers(stack_settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    running = Workers(stack_settings, tmp_path)
    try:
        yield running
    finally:
        for log in sorted(tmp_path.glob("*-worker.log")):  # shown by pytest when the test fails
            print(f"===== {log.name}\n{log.read_text(errors='replace')[-6000:]}")
        running.kill_all()


@pytest.fixture
def intake_client(stack_settings: Settings) -> FlaskClient:
    app = create_intake_app(stack_settings)
    return app.test_client()


def database(settings: Settings, service: str) -> Database:
    return get_database(settings, service)
