"""`make run`'s runner starts every service and worker, works end to end, and stops cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from devtools.secantus import free_port
from devtools.smtp_sink import CapturingHandler
from shared.config import Settings
from shared.db import get_database
from tests.integration.conftest import CASE
from tests.support.stack import ROOT, service_env, wait_for


def test_run_local_serves_the_stack_and_stops_on_ctrl_c(
    stack_settings: Settings, mailbox: CapturingHandler, tmp_path: Path
) -> None:
    ports = {name: free_port() for name in ("intake", "mediation", "notify", "council")}
    env = service_env(
        stack_settings,
        CONCORD_VAR=str(tmp_path),
        **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()},
    )
    runner = subprocess.Popen(
        [sys.executable, "-m", "devtools.run_local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = ""
        deadline = time.monotonic() + 60
        while "Press Ctrl-C" not in banner and time.monotonic() < deadline:
            line = runner.stdout.readline()
            if not line:
                break
            banner += line
        assert "Concord is running" in banner, banner
        for port in ports.values():
            assert f"http://127.0.0.1:{port}" in banner

        request = urllib.request.Request(
            f"http://127.0.0.1:{ports['intake']}/api/v1/cases",
            data=json.dumps(CASE).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
        # The studio's new case, the applicant's "routed" message and the applicant's tracking link.
        wait_for(lambda: len(mailbox.messages) == 3, timeout=30, what="the stack to route and notify")
        subjects = " | ".join(str(m["Subject"]) for m in mailbox.messages)
        assert "tracking link" in subjects or "查询链接" in subjects, subjects
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['council']}/readyz", timeout=10) as response:
            assert response.status == 200
        # The demo accounts include council's roles; the seed community's register is loaded.
        assert "committee_member" in banner and "building_leader" in banner, banner
        assert "Demo household register of lianhua: 60 flats added" in banner, banner
        assert get_database(stack_settings, "council").flats.count_documents({"community": "lianhua"}) == 60
    finally:
        runner.send_signal(signal.SIGINT)
        output, _ = runner.communicate(timeout=60)
    assert runner.returncode == 0, output
    assert "Stopping" in output
    for log in ("intake", "intake-worker", "mediation-worker", "notify-worker", "council", "council-worker"):
        assert (tmp_path / "log" / f"{log}.log").exists()
