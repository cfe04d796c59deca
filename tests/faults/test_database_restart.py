"""The database server stops and restarts while cases flow (a dedicated SecantusDB on a storage
folder, so its data survives the restart).

While it is down intake cannot store a case, so it answers 5xx: such a request is not accepted
and must leave nothing behind, or, if its commit reached the server before the answer was lost,
its case must flow like any accepted one. Workers wait for the database instead of spending
their messages' attempts, so nothing is dead-lettered for the outage.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.secantus import free_port, mongo_url, start_secantus
from tests.faults.conftest import MakeStack
from tests.faults.harness import FaultStack, run_scenario

# Up to a minute and a half to settle after the fault (a killed transaction holds 60 s).
pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

# Longer than a message's whole retry budget in these tests (3 attempts of a 3 s server
# selection timeout, 0.2 s and 0.4 s apart): only waiting for the database saves them.
DOWN_SECONDS = 12.0
BACKLOG_SECONDS = 2.0


class DatabaseServer:
    def __init__(self, storage: Path, log: Path) -> None:
        self.port = free_port()
        self.storage = storage
        self.log = log
        self.url = mongo_url(self.port)
        self.process = start_secantus(self.port, storage, log)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    def start(self) -> None:
        self.process = start_secantus(self.port, self.storage, self.log)


@pytest.fixture
def database_server(tmp_path: Path) -> Iterator[DatabaseServer]:
    (tmp_path / "db").mkdir()
    server = DatabaseServer(tmp_path / "db", tmp_path / "secantus.log")
    yield server
    server.stop()


def test_database_restart_mid_flow(database_server: DatabaseServer, make_stack: MakeStack) -> None:
    # (database_server first: torn down after the stack, so the workers never see it vanish)
    def inject(stack: FaultStack) -> None:
        # The pipeline drains in milliseconds; a short pause of the workers gives them a backlog,
        # so the outage meets messages in hand (not only requests).
        with stack.paused_workers(BACKLOG_SECONDS):
            database_server.stop()
            stack.kill_log.append("database stopped")
        time.sleep(DOWN_SECONDS)
        database_server.start()
        stack.kill_log.append("database started again")

    report = run_scenario(make_stack(mongo_url=database_server.url), "database restart", inject)
    assert report.accepted > 0
    assert not report.problems, report.summary()
