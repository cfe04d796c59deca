"""Start a SecantusDB server (a MongoDB-wire server, GPL-2.0, dev/test only) as a separate process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mongo_url(port: int) -> str:
    # retryWrites=false: SecantusDB keeps every retryable write's record and scans them on
    # each write, which slows writes twenty-fold after 10,000 of them.
    return f"mongodb://127.0.0.1:{port}/?retryWrites=false"


def wait_for_mongo(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    client = MongoClient(url, serverSelectionTimeoutMS=500)
    try:
        while True:
            try:
                client.admin.command("ping")
                return
            except PyMongoError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        client.close()


def start_secantus(
    port: int, storage: str | Path = ":memory:", log_path: Path | None = None
) -> subprocess.Popen:
    """Run `python -m secantus` on `port` and wait until it answers."""
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 (owned by the child)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "secantus",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            str(storage),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_mongo(mongo_url(port))
    except Exception:
        process.kill()
        raise
    return process
