"""The services run under gunicorn with deploy/gunicorn.conf.py: several forked workers, each
opening its own database and broker clients after the fork."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from devtools.secantus import free_port
from shared.config import Settings
from tests.integration.conftest import CASE, database
from tests.support.stack import ROOT, service_env, wait_for


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except OSError:
        return 0


@pytest.mark.parametrize("service", ["intake", "mediation", "notify", "council"])
def test_service_serves_under_gunicorn(settings: Settings, service: str, tmp_path) -> None:
    port = free_port()
    env = service_env(settings, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="2")
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "deploy/gunicorn.conf.py",
            f"services.{service}.app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{port}/healthz") == 200, timeout=20, what="gunicorn up")
        assert get(f"http://127.0.0.1:{port}/readyz") == 200
        if service == "intake":

            def post(_: int) -> int:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/v1/cases",
                    data=json.dumps(CASE).encode(),
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status

            with ThreadPoolExecutor(4) as pool:
                assert list(pool.map(post, range(8))) == [201] * 8
            assert database(settings, "intake").cases.count_documents({}) == 8
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0, (tmp_path / "gunicorn.log").read_text()
