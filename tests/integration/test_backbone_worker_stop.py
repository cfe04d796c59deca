"""A worker stops promptly on SIGTERM even while its broker is unreachable (rolling deploys,
an operator's Ctrl-C during an outage)."""

from __future__ import annotations

import signal
import time

from devtools.secantus import free_port
from tests.support.stack import Workers, wait_for


def test_worker_stops_on_sigterm_while_broker_is_away(workers: Workers) -> None:
    dead_broker = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    for service in ("intake", "mediation", "notify", "council"):
        workers.start(service, BROKER_URL=dead_broker, CONNECT_TIMEOUT="0.5")
    # Each in its reconnect loop (its signal handlers installed before it first connects): a fixed
    # sleep was too short on a busy machine, and a worker still importing dies of SIGTERM's default.
    for service in ("intake", "mediation", "notify", "council"):
        wait_for(
            lambda service=service: "broker connection lost" in workers.log(service),
            timeout=60,
            what=f"{service}'s worker retrying its broker",
        )
    started = time.monotonic()
    codes = {
        service: workers.stop(service, signal.SIGTERM, timeout=15)
        for service in ("intake", "mediation", "notify", "council")
    }
    assert codes == {"intake": 0, "mediation": 0, "notify": 0, "council": 0}
    assert time.monotonic() - started < 15
    assert "broker connection lost" in workers.log("intake")
