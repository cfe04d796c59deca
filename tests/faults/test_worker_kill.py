"""kill -9 of each worker process while cases flow: a new process takes over, nothing is lost and
nothing happens twice (consumers ack after commit and deduplicate; the outbox relay publishes what
the dead process committed but never published).

Each kill is timed to land mid-message (see `FaultStack.kill_worker`): notify the moment it has
claimed a delivery, the others the moment they are running. A worker killed inside a MongoDB
transaction leaves it open on the server, holding its documents until the server aborts it (its
transaction lifetime, 60 s): the new worker's message conflicts on them all that time and waits
for it (deferred, attempts kept) instead of being dead-lettered, which is why a run that hit a
transaction takes about a minute longer to settle.
"""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import MakeStack
from tests.faults.harness import FaultStack, run_scenario

# Up to a minute and a half to settle after the fault (a killed transaction holds 60 s).
pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

KILLS = 3  # per test, a few seconds apart


@pytest.mark.parametrize("service", ["intake", "mediation", "notify"])
def test_kill_worker_mid_flow(make_stack: MakeStack, service: str) -> None:
    def inject(stack: FaultStack) -> None:
        for _ in range(KILLS):
            stack.kill_worker(service)
            time.sleep(3.0)

    report = run_scenario(make_stack(), f"kill -9 {service} worker x{KILLS}", inject, fault_at=3.0)
    assert report.accepted == report.submitted, "no request should fail when only a worker dies"
    assert not report.problems, report.summary()
