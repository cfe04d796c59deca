"""RabbitMQ restarts while cases flow: requests keep being accepted (the outbox holds their
events), consumers reconnect, and every case is assigned and notified exactly once.

The broker is the one the whole test suite shares, so it is always brought back (and waited for)
before the test ends, whatever happened.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest
from kombu import Connection

from tests.faults.conftest import MakeStack
from tests.faults.harness import FaultStack, run_scenario
from tests.support.stack import ROOT, wait_for

# Up to a minute and a half to settle after the fault (a killed transaction holds 60 s).
pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

DOWN_SECONDS = 4.0


def broker_up(url: str) -> bool:
    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
            conn.default_channel.queue_declare("concord.faults.probe", auto_delete=True)
        return True
    except Exception:
        return False


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@pytest.fixture
def restartable_broker(broker_url: str) -> Iterator[str]:
    """The shared RabbitMQ; guaranteed running again after the test."""
    yield broker_url
    if not broker_up(broker_url):
        subprocess.run(["rabbitmqctl", "start_app"], capture_output=True, timeout=120)
        subprocess.run(["bash", "devtools/ensure_rabbitmq.sh"], cwd=ROOT, timeout=120)
        wait_for(lambda: broker_up(broker_url), timeout=60, interval=1, what="RabbitMQ back")


def test_rabbitmq_restart_mid_flow(make_stack: MakeStack, restartable_broker: str) -> None:
    def inject(stack: FaultStack) -> None:
        rabbitmqctl("stop_app")  # the Erlang VM stays up: a faster restart of the broker itself
        stack.kill_log.append("rabbitmq stopped")
        time.sleep(DOWN_SECONDS)
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")
        wait_for(lambda: broker_up(restartable_broker), timeout=60, interval=0.5, what="RabbitMQ back")
        stack.kill_log.append("rabbitmq started again")

    report = run_scenario(make_stack(), "RabbitMQ restart", inject)
    assert report.accepted == report.submitted, "a broker outage must not fail any request"
    assert not report.problems, report.summary()
