"""Fixtures of the fault-injection tests (marker `faults`; `make test PYTEST_ARGS="-m faults"`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from devtools.smtp_sink import CapturingHandler
from shared.config import Settings
from tests.faults.harness import SUMMARIES, FaultStack

MakeStack = Callable[..., FaultStack]


@pytest.fixture
def make_stack(settings: Settings, smtp: tuple[CapturingHandler, int], tmp_path: Path) -> Iterator[MakeStack]:
    """Build the test's stack (once); see `make` for what reroutes the service processes."""
    stacks: list[FaultStack] = []

    def make(
        *,
        mongo_url: str | None = None,
        broker_url: str | None = None,
        via: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        retry_delays: tuple[float, ...] | None = None,
    ) -> FaultStack:
        """`mongo_url`: the database of the test and the processes alike; `via`: what only the
        processes use instead (`mongo_url`, `smtp_url`: a TCP proxy); `env`: their extra settings."""
        stack_settings = replace(settings, smtp_url=f"smtp://127.0.0.1:{smtp[1]}")
        if mongo_url:
            stack_settings = replace(stack_settings, mongo_url=mongo_url)
        if retry_delays:
            stack_settings = replace(stack_settings, retry_delays=retry_delays)
        stack = FaultStack(stack_settings, smtp[0], tmp_path, broker_url=broker_url, env=env, **(via or {}))
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        try:
            stack.stop()
        finally:
            print(stack.logs())  # shown by pytest when the test failed


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The counts of every fault scenario, whether it passed or not."""
    if SUMMARIES:
        terminalreporter.section("fault injection counts")
        for line in SUMMARIES:
            terminalreporter.write_line(line)
