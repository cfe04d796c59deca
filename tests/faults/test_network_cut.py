"""The network to the broker is cut for every service (web and workers) while cases flow, then
restored: requests are still accepted, nothing is lost, nothing happens twice.

(`tests/integration/test_backbone_outage.py` covers one case filed while intake's line is down;
this is the whole stack under a steady flow.)"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from devtools.tcp_proxy import TcpProxy
from shared.config import Settings
from tests.faults.conftest import MakeStack
from tests.faults.harness import FaultStack, run_scenario

# Up to a minute and a half to settle after the fault (a killed transaction holds 60 s).
pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

CUT_SECONDS = 6.0


@pytest.fixture
def broker_proxy(settings: Settings) -> Iterator[TcpProxy]:
    host_port = settings.broker_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    proxy = TcpProxy((host, int(port)))
    yield proxy
    proxy.close()


def test_broker_network_cut_mid_flow(
    make_stack: MakeStack, settings: Settings, broker_proxy: TcpProxy
) -> None:
    host_port = settings.broker_url.split("@", 1)[1].split("/", 1)[0]
    via_proxy = settings.broker_url.replace(host_port, f"127.0.0.1:{broker_proxy.port}")

    def inject(stack: FaultStack) -> None:
        broker_proxy.cut()
        stack.kill_log.append("broker network cut")
        time.sleep(CUT_SECONDS)
        broker_proxy.restore()
        stack.kill_log.append("broker network restored")

    report = run_scenario(make_stack(broker_url=via_proxy), "broker network cut", inject)
    assert report.accepted == report.submitted, "a broker outage must not fail any request"
    assert not report.problems, report.summary()
