"""`make run`: the whole Concord stack on this machine, on embedded defaults.

Starts SecantusDB (data in var/mongo), an SMTP sink (mail in var/mail), and for each service its
gunicorn server and its worker. Uses the local RabbitMQ (starting it if it is down); if none can
be had, falls back to kombu's MongoDB transport on the embedded server, and says so. Ctrl-C
stops everything.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from devtools.secantus import mongo_url, start_secantus

ROOT = Path(__file__).resolve().parents[1]
VAR = Path(os.environ.get("CONCORD_VAR", ROOT / "var"))  # data, mail and logs of local runs
MONGO_PORT = 27018
SMTP_PORT = 8025
# Ports can be moved with INTAKE_PORT, MEDIATION_PORT, NOTIFY_PORT, COUNCIL_PORT (e.g. to run two stacks).
SERVICES = {
    name: int(os.environ.get(f"{name.upper()}_PORT", default))
    for name, default in (("intake", 8001), ("mediation", 8002), ("notify", 8003), ("council", 8004))
}
# Each web service's /metrics listener (shared/metrics.py): its public port + 1000 (9001 for 8001).
METRICS_PORTS = {name: port + 1000 for name, port in SERVICES.items()}
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def ensure_rabbitmq() -> bool:
    if port_open(5672):
        return True
    result = subprocess.run(["bash", str(ROOT / "devtools" / "ensure_rabbitmq.sh")], check=False)
    return result.returncode == 0


def main() -> int:
    VAR.mkdir(exist_ok=True)
    logs = VAR / "log"
    logs.mkdir(exist_ok=True)
    children: list[subprocess.Popen] = []

    def spawn(name: str, args: list[str], env: dict[str, str]) -> None:
        log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 (owned by the child)
        children.append(subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))

    env = dict(os.environ)
    try:
        if "MONGO_URL" not in env:
            if port_open(MONGO_PORT):
                print(f"Using the MongoDB-wire server already on :{MONGO_PORT}")
            else:
                children.append(start_secantus(MONGO_PORT, VAR / "mongo", logs / "secantus.log"))
            env["MONGO_URL"] = mongo_url(MONGO_PORT)
        if "BROKER_URL" not in env:
            if ensure_rabbitmq():
                env["BROKER_URL"] = RABBITMQ_URL
            else:
                env["BROKER_URL"] = f"mongodb://127.0.0.1:{MONGO_PORT}/concord_broker"
                print(
                    "!! No RabbitMQ reachable: using kombu's MongoDB transport on the embedded server.\n"
                    "!! Fine for trying Concord out; tests and production use RabbitMQ."
                )
        if "SMTP_URL" not in env:
            spawn(
                "smtp-sink",
                [
                    sys.executable,
                    "-m",
                    "devtools.smtp_sink",
                    "--port",
                    str(SMTP_PORT),
                    "--maildir",
                    str(VAR / "mail"),
                ],
                env,
            )
            env["SMTP_URL"] = f"smtp://127.0.0.1:{SMTP_PORT}"
        for service, port in SERVICES.items():
            service_env = env | {
                "GUNICORN_BIND": f"127.0.0.1:{port}",
                "METRICS_PORT": str(METRICS_PORTS[service]),
                "PROMETHEUS_MULTIPROC_DIR": str(VAR / "metrics" / service),
            }
            spawn(
                service,
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    "deploy/gunicorn.conf.py",
                    f"services.{service}.app:create_app()",
                ],
                service_env,
            )
            spawn(f"{service}-worker", [sys.executable, "-m", f"services.{service}.worker"], env)
        for port in SERVICES.values():
            deadline = time.monotonic() + 30
            while not port_open(port) and time.monotonic() < deadline:
                time.sleep(0.2)
        print("\nConcord is running:")
        print(f"  intake     http://127.0.0.1:{SERVICES['intake']}/   (API docs: /api/v1/openapi.json)")
        print(f"  mediation  http://127.0.0.1:{SERVICES['mediation']}/")
        print(f"  notify     http://127.0.0.1:{SERVICES['notify']}/")
        print(f"  council    http://127.0.0.1:{SERVICES['council']}/")
        print(f"  metrics    http://127.0.0.1:{{{','.join(str(p) for p in METRICS_PORTS.values())}}}/metrics")
        print(f"  database   {env['MONGO_URL']}")
        print(f"  broker     {env['BROKER_URL'].split('@')[-1]}")
        print(f"  mail       {env['SMTP_URL']} -> {VAR / 'mail'}")
        print(f"  logs       {logs}")
        # Demo staff accounts (one per role) for the staff pages at mediation; prints them.
        subprocess.run(
            [sys.executable, "-m", "services.mediation.staff_accounts", "seed-demo"],
            cwd=ROOT,
            env=env,
            check=False,
        )
        # The seed community's household register for council's pages (loaded once).
        subprocess.run([sys.executable, "-m", "services.council.demo"], cwd=ROOT, env=env, check=False)
        print("Press Ctrl-C to stop.")
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        dead = [c.args for c in children if c.poll() is not None]
        print(f"A process stopped unexpectedly: {dead}; see {logs}. Stopping the rest.")
        return 1
    except KeyboardInterrupt:
        print("\nStopping...")
        return 0
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    sys.exit(main())
