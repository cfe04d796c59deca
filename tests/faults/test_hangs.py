"""Faults that hang instead of failing fast (issue 17, item 2).

A TCP proxy (devtools/tcp_proxy.py) sits between the service processes and a dependency and
holds every byte without closing anything, for longer than every timeout:
- the database stops answering, then answers again: requests answer 503 within their timeout
  (`DB_TIMEOUT`, then the breaker answers at once) instead of piling up; workers wait for it;
- the broker stops answering, and the partition then heals with the old connections half-open
  (the broker's side closed, the processes' side open and silent): consumers notice through
  missed heartbeats and reconnect, publishers through confirm timeouts; requests still succeed;
- the SMTP server accepts connections and never answers: each attempt ends at `CHANNEL_TIMEOUT`
  and is retried later.
In each, nothing is lost and nothing happens twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from devtools.smtp_sink import CapturingHandler
from devtools.tcp_proxy import TcpProxy
from shared.config import Settings
from tests.faults.conftest import MakeStack
from tests.faults.harness import SERVICES, FaultStack, Report, run_scenario

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

# gunicorn kills a request after 30 s (deploy/gunicorn.conf.py): every answer must come before.
REQUEST_TIMEOUT = 30.0
DB_TIMEOUT = 10.0  # the default operation timeout; the hold outlasts it and the 3 s selection
DB_HOLD_SECONDS = 15.0
BROKER_HEARTBEAT = 4  # seconds; two missed ones (8 s) end a connection
BROKER_HOLD_SECONDS = 15.0
CHANNEL_TIMEOUT = 2.0
SMTP_HOLD_SECONDS = 8.0


def proxy_to(url: str, default_port: int) -> TcpProxy:
    parts = urlsplit(url)
    return TcpProxy((parts.hostname or "127.0.0.1", parts.port or default_port))


@pytest.fixture
def proxies() -> Iterator[list[TcpProxy]]:
    made: list[TcpProxy] = []
    yield made
    for proxy in made:
        proxy.close()


def answered_in_time(stack: FaultStack, report: Report) -> None:
    """Every request got an answer (201, or 503 while the database was away), in time."""
    slow = [s for s in stack.submissions if s.seconds >= REQUEST_TIMEOUT]
    assert not slow, f"{len(slow)} requests took {max(s.seconds for s in slow):.1f}s"
    unanswered = [s for s in stack.submissions if s.status == 0]
    assert not unanswered, f"{len(unanswered)} requests got no answer: {unanswered[0].error}"
    assert {s.status for s in stack.submissions} <= {201, 503}, report.summary()


def reconnected(stack: FaultStack, service: str) -> bool:
    """The worker started consuming again after losing its broker connection."""
    return stack.workers_log(service).count('"msg": "consuming"') >= 2


def test_database_stops_answering_mid_flow(
    make_stack: MakeStack, settings: Settings, proxies: list[TcpProxy]
) -> None:
    proxy = proxy_to(settings.mongo_url, 27017)
    proxies.append(proxy)
    via = {"mongo_url": f"mongodb://127.0.0.1:{proxy.port}/?retryWrites=false&directConnection=true"}
    stack = make_stack(via=via, env={"DB_TIMEOUT": str(DB_TIMEOUT)})

    def inject(stack: FaultStack) -> None:
        proxy.hold()
        stack.kill_log.append("database holds every byte")
        time.sleep(DB_HOLD_SECONDS)
        proxy.release()
        stack.kill_log.append("database answers again")

    report = run_scenario(stack, "database hangs", inject)
    assert not report.problems, report.summary()
    answered_in_time(stack, report)
    assert report.not_accepted > 0, "the hold never reached a request"
    fast = [s for s in stack.submissions if s.status == 503 and s.seconds < 1.0]
    assert fast, "no 503 came at once: requests each waited their timeouts"


def test_broker_stops_answering_then_heals_half_open(
    make_stack: MakeStack, settings: Settings, proxies: list[TcpProxy]
) -> None:
    host_port = settings.broker_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    proxy = TcpProxy((host, int(port)))
    proxies.append(proxy)
    via_proxy = settings.broker_url.replace(host_port, f"127.0.0.1:{proxy.port}")
    stack = make_stack(broker_url=via_proxy, env={"BROKER_HEARTBEAT": str(BROKER_HEARTBEAT)})

    def inject(stack: FaultStack) -> None:
        proxy.hold()
        stack.kill_log.append("broker holds every byte")
        time.sleep(BROKER_HOLD_SECONDS)
        proxy.heal_half_open()
        stack.kill_log.append("partition healed; the held connections are half-open")

    report = run_scenario(stack, "broker hangs, heals half-open", inject)
    assert report.accepted == report.submitted, "a broker outage must not fail any request"
    assert not report.problems, report.summary()
    answered_in_time(stack, report)
    for service in SERVICES:
        assert reconnected(stack, service), f"the {service} worker never reconnected"


def test_smtp_server_accepts_and_never_answers(
    make_stack: MakeStack, smtp: tuple[CapturingHandler, int], proxies: list[TcpProxy]
) -> None:
    proxy = TcpProxy(("127.0.0.1", smtp[1]), hold_new_only=True)
    proxies.append(proxy)
    stack = make_stack(
        via={"smtp_url": f"smtp://127.0.0.1:{proxy.port}"},
        env={"CHANNEL_TIMEOUT": str(CHANNEL_TIMEOUT)},
        # Production-like tiers: a delivery attempted during the hang is retried after it.
        retry_delays=(1.0, 5.0, 15.0),
    )

    def inject(stack: FaultStack) -> None:
        proxy.hold()
        stack.kill_log.append("SMTP server accepts connections and never answers")
        time.sleep(SMTP_HOLD_SECONDS)
        proxy.release()
        stack.kill_log.append("SMTP server answers again")

    report = run_scenario(stack, "SMTP server hangs", inject)
    assert report.accepted == report.submitted
    assert not report.problems, report.summary()
    timeouts = stack.workers_log("notify").count("timed out")
    assert timeouts > 0, "no delivery met the hanging SMTP server"
