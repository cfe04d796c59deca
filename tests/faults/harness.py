"""The fault-injection harness: the real stack under a steady flow of cases, then a count.

`FaultStack` runs intake under gunicorn (the way it is deployed), the three worker processes and
a real SMTP server, all on one test's databases and broker namespace. `run_scenario` files cases
at a steady rate through intake's HTTP API, injects one fault while they flow, waits for the
system to settle and counts what happened to every submission:

- submitted: POSTs sent; accepted: answered 201;
- assigned: accepted cases mediation routed exactly once (one case, one `case.assigned` event,
  studio load counters consistent, intake's tracking shows one assignment);
- notified: (recipient, case) pairs that received their email exactly once;
- duplicates: second effects (a second email, the same Message-ID twice, a second assignment);
- lost: accepted cases never assigned, expected emails never received.

A submission that did not get a 201 (a 5xx while the database was down, a dropped connection) is
not accepted. It must leave nothing behind, or, when its case was stored after all (the commit
reached the database but the answer never reached the client), that case must flow like any
other: the contract is "nothing half-done", and both outcomes are counted.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from devtools.secantus import free_port
from devtools.smtp_sink import CapturingHandler
from services.intake.bootstrap import Intake
from shared.config import Settings
from shared.db import get_database
from tests.support.outbox import pending_events
from tests.support.stack import ROOT, Workers, service_env, wait_for

SERVICES = ("intake", "mediation", "notify")
# The counts line of every scenario run in this session, shown at the end of the pytest run.
SUMMARIES: list[str] = []
REFERENCE = re.compile(r"LC-\d{4}-\d{6}")

# A modest steady flow: ~6 cases/s for 18 s (about 110 cases, 330 emails), so every fault lands
# while cases are in every stage of the pipeline, and the whole faults suite stays in minutes.
RATE = 6.0
DURATION = 18.0
# How long the stack gets to catch up after the flow and the fault ended.
SETTLE_TIMEOUT = 90.0
# Seconds before a delivery claimed by a killed notify worker is taken over (production: 30).
SENDING_LEASE = 4.0
# After everything arrived: time for any late duplicate effect to show before counting.
QUIET_PERIOD = 3.0


def case_payload(index: int, run: str) -> dict[str, Any]:
    """A valid filing whose applicant address is unique, so each case's emails can be told apart."""
    return {
        "category": "neighbours",
        "community": "lianhua",
        "building": str(1 + index % 9),
        "unit": f"{1 + index % 6}-{100 + index}",
        "description": f"Fault-injection case {index}: noise from the flat above every night.",
        "applicants": [{"name": "张三", "phone": "13800138000", "email": applicant_email(index, run)}],
        "respondents": [{"name": "李四"}],
        "consent": True,
    }


def applicant_email(index: int, run: str) -> str:
    return f"applicant-{index}@{run}.faults.test"


@dataclass
class Submission:
    index: int
    email: str
    status: int = 0  # HTTP status; 0 when no answer came (connection refused, reset, timeout)
    reference: str | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Report:
    """The counts a fault test prints, and every problem found (a test fails on any)."""

    fault: str
    submitted: int = 0
    accepted: int = 0
    not_accepted: int = 0
    stored_without_201: int = 0  # not accepted, but the case was stored: it must have flowed
    assigned: int = 0
    expected_emails: int = 0
    notified: int = 0
    duplicates: int = 0
    lost: int = 0
    known_gap_duplicates: int = 0  # see `Report.allow_known_gap`
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        counts = {
            "submitted": self.submitted,
            "accepted": self.accepted,
            "not_accepted": self.not_accepted,
            "stored_without_201": self.stored_without_201,
            "assigned": self.assigned,
            "expected_emails": self.expected_emails,
            "notified": self.notified,
            "duplicates": self.duplicates,
            "known_gap_duplicates": self.known_gap_duplicates,
            "lost": self.lost,
        }
        lines = [f"[faults] {self.fault}: " + " ".join(f"{k}={v}" for k, v in counts.items())]
        lines += [f"[faults]   note: {n}" for n in self.notes]
        lines += [f"[faults]   PROBLEM: {p}" for p in self.problems[:40]]
        if len(self.problems) > 40:
            lines.append(f"[faults]   ... and {len(self.problems) - 40} more problems")
        return "\n".join(lines)


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of a process, in clock ticks (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def http_status(url: str, timeout: float = 3.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


class FaultStack:
    """Intake under gunicorn, the three workers and an SMTP sink, on one test's settings.

    `broker_url`/`mongo_url`/`smtp_url` override what the service processes use (a TCP proxy);
    the test itself reads the databases through `settings`. `env` adds environment variables to
    every service process (e.g. shorter timeouts).
    """

    def __init__(
        self,
        settings: Settings,
        mailbox: CapturingHandler,
        log_dir: Path,
        *,
        broker_url: str | None = None,
        mongo_url: str | None = None,
        smtp_url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.mailbox = mailbox
        self.log_dir = log_dir
        self.run = settings.db_prefix
        self.env = dict(env or {})
        self.process_settings = replace(
            settings,
            broker_url=broker_url or settings.broker_url,
            mongo_url=mongo_url or settings.mongo_url,
            smtp_url=smtp_url or settings.smtp_url,
        )
        self.workers = Workers(self.process_settings, log_dir)
        self.gunicorn: subprocess.Popen | None = None
        self.port = free_port()
        self.submissions: list[Submission] = []
        self.kill_log: list[str] = []
        # Only the scenario that kills notify at random moments (test_notify_gap.py) admits the
        # known gap, and only for the deliveries being sent at one of its kills (allow_known_gap);
        # in every other scenario a second copy is a duplicate.
        self.known_gap_admitted = False
        self.in_flight_at_kill: set[str] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # starting and stopping ------------------------------------------------------------------
    def start(self) -> None:
        for service in SERVICES:
            self.start_worker(service)
        self.start_intake_web()
        for service in SERVICES:
            wait_for(
                lambda s=service: self.worker_ready(s), timeout=30, what=f"the {service} worker consuming"
            )

    def start_intake_web(self) -> None:
        env = service_env(
            self.process_settings,
            GUNICORN_BIND=f"127.0.0.1:{self.port}",
            GUNICORN_WORKERS="2",
            INTAKE_RATE_LIMIT="1000000/60",  # the flow comes from one address
            **self.env,
        )
        log = open(self.log_dir / "intake-web.log", "ab")  # noqa: SIM115 (owned by the child)
        self.gunicorn = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "deploy/gunicorn.conf.py",
                "services.intake.app:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: http_status(f"{self.url}/readyz") == 200, timeout=30, what="intake under gunicorn")

    def start_worker(self, service: str) -> None:
        # Each (re)start gets a fresh "consuming" marker to wait for.
        (self.log_dir / f"{service}-worker.log").open("a").write(f"\n=== start {time.time():.3f}\n")
        # A short sending lease, so a delivery claimed by a killed notify is taken over quickly.
        self.workers.start(service, **{"NOTIFY_SENDING_LEASE": str(SENDING_LEASE), **self.env})

    def workers_log(self, service: str) -> str:
        path = self.log_dir / f"{service}-worker.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def worker_ready(self, service: str) -> bool:
        text = self.workers.log(service)
        return '"msg": "consuming"' in text.rsplit("=== start", 1)[-1]

    def kill_worker(self, service: str) -> None:
        """kill -9 the worker of `service` mid-message, then start a new one (as a supervisor would).

        Notify is killed in the middle of an SMTP conversation: the message's data has reached the
        SMTP server, which has neither kept nor accepted it yet (`CapturingHandler.before_accept`),
        the worst moment short of the one gap the design admits (after the 250, before the
        delivery is marked sent; measured by test_notify_gap.py). The others are killed the
        moment the kernel counts CPU time for them (a clock tick: they are running, almost always
        inside a handler, since an idle worker only waits on its sockets); the redeliveries
        counted afterwards show it.
        """
        process = self.workers.processes[service]
        if service == "notify":
            killed = threading.Event()

            def kill_before_accepting() -> None:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)
                killed.set()

            self.mailbox.before_accept = kill_before_accepting
            if not killed.wait(10):  # no email on its way: kill it wherever it is
                self.mailbox.before_accept = None
                if not killed.is_set():
                    process.send_signal(signal.SIGKILL)
                    self.kill_log.append("notify killed outside an SMTP conversation")
            deliveries = get_database(self.settings, "notify").deliveries
            in_flight = deliveries.count_documents({"status": "sending"})
            self.kill_log.append(f"notify killed with {in_flight} deliveries being sent")
        else:
            deadline = time.monotonic() + 5
            start = cpu_ticks(process.pid)
            while time.monotonic() < deadline and cpu_ticks(process.pid) == start:
                time.sleep(0.001)
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        del self.workers.processes[service]
        self.kill_log.append(f"{service} killed at {time.monotonic():.1f}")
        self.start_worker(service)

    @contextlib.contextmanager
    def paused_workers(self, seconds: float) -> Iterator[None]:
        """SIGSTOP every worker for `seconds` (a backlog builds up), run the block, SIGCONT."""
        for process in self.workers.processes.values():
            process.send_signal(signal.SIGSTOP)
        try:
            time.sleep(seconds)
            yield
        finally:
            for process in self.workers.processes.values():
                process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.workers.kill_all()
        if self.gunicorn is not None:
            self.gunicorn.terminate()
            try:
                self.gunicorn.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.gunicorn.kill()
                self.gunicorn.wait()

    def logs(self) -> str:
        parts = []
        for log in sorted(self.log_dir.glob("*.log")):
            text = log.read_text(errors="replace")
            problems = [
                line for line in text.splitlines() if '"level": "error"' in line or "Traceback" in line
            ]
            parts.append(f"===== {log.name}: {len(problems)} error lines\n" + "\n".join(problems[-15:]))
            parts.append(text[-3000:])
        return "\n".join(parts)

    # the flow ----------------------------------------------------------------------------------
    def submit(self, index: int) -> Submission:
        submission = Submission(index, applicant_email(index, self.run))
        body = json.dumps(case_payload(index, self.run)).encode()
        request = urllib.request.Request(
            f"{self.url}/api/v1/cases", data=body, headers={"Content-Type": "application/json"}
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=40) as response:
                submission.status = response.status
                submission.reference = json.loads(response.read())["reference"]
        except urllib.error.HTTPError as err:
            submission.status = err.code
            submission.error = err.read()[:300].decode(errors="replace")
        except OSError as err:
            submission.error = f"{type(err).__name__}: {err}"
        submission.seconds = time.monotonic() - started
        return submission

    def flow(self, rate: float, duration: float) -> threading.Thread:
        """File cases at `rate` per second for `duration` seconds, in the background."""
        count = int(rate * duration)

        def run() -> None:
            start = time.monotonic()
            with ThreadPoolExecutor(max_workers=12) as pool:
                futures = []
                for index in range(count):
                    delay = start + index / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    futures.append(pool.submit(self.submit, index))
                self.submissions = [f.result() for f in futures]

        thread = threading.Thread(target=run, name="case-flow", daemon=True)
        thread.start()
        return thread

    # counting ----------------------------------------------------------------------------------
    def tally(self, fault: str) -> Report:
        intake = get_database(self.settings, "intake")
        mediation = get_database(self.settings, "mediation")
        notify = get_database(self.settings, "notify")
        report = Report(fault, submitted=len(self.submissions))

        accepted = {s.reference: s for s in self.submissions if s.status == 201}
        report.accepted = len(accepted)
        rejected = [s for s in self.submissions if s.status != 201]
        report.not_accepted = len(rejected)
        statuses = Counter(s.status for s in rejected)
        if rejected:
            report.notes.append(f"answers other than 201: {dict(statuses)}")
        # Which cases must have flowed: every accepted one, and any stored without a 201.
        expected: dict[str, Submission] = dict(accepted)
        for s in rejected:
            stored = intake.cases.find_one({"parties.email": s.email}, {"_id": 1})
            if stored is not None:
                report.stored_without_201 += 1
                expected[stored["_id"]] = s
                report.notes.append(f"case {stored['_id']} stored though its request got {s.status}")
            elif s.status in (0, 503):
                # Not stored (an outage answers 503): nothing may appear anywhere else either,
                # which the checks below see as a case no submission accounts for.
                pass
            else:
                report.problems.append(f"submission {s.index} answered {s.status}: {s.error}")

        intake_cases = {c["_id"]: c for c in intake.cases.find({}, {"timeline": 1, "status": 1})}
        for ref in set(intake_cases) - set(expected):
            report.problems.append(f"intake holds case {ref} that no submission accounts for")
        for ref in expected:
            if ref not in intake_cases:
                report.lost += 1
                report.problems.append(f"accepted case {ref} is missing from intake")

        # Mediation: exactly one case and one assignment per expected reference.
        cases = {c["_id"]: c for c in mediation.cases.find({}, {"studio": 1})}
        assigned_events = Counter(
            row["envelope"]["data"]["reference"]
            for row in mediation.outbox.find(
                {"envelope.type": "case.assigned"}, {"envelope.data.reference": 1}
            )
        )
        for ref in set(cases) - set(expected):
            report.problems.append(f"mediation holds case {ref} that no submission accounts for")
        for ref in expected:
            if ref not in cases:
                report.lost += 1
                report.problems.append(f"case {ref} was never assigned")
                continue
            if assigned_events[ref] != 1:
                report.duplicates += max(0, assigned_events[ref] - 1)
                report.problems.append(f"case {ref} has {assigned_events[ref]} case.assigned events")
                continue
            tracked = intake_cases.get(ref) or {}
            assignments = [e for e in tracked.get("timeline", []) if e.get("status") == "assigned"]
            if len(assignments) != 1 or tracked.get("status") != "assigned":
                report.duplicates += max(0, len(assignments) - 1)
                report.problems.append(
                    f"intake tracks {ref} as {tracked.get('status')!r} with {len(assignments)} assignments"
                )
                continue
            report.assigned += 1
        loads = Counter(c["studio"] for c in cases.values())
        for studio in mediation.studios.find({}, {"open_cases": 1}):
            if studio.get("open_cases", 0) != loads.get(studio["_id"], 0):
                report.problems.append(
                    f"studio {studio['_id']} counts {studio.get('open_cases')} open cases, "
                    f"holds {loads.get(studio['_id'], 0)}"
                )

        # Notify: each case's applicant gets exactly one email of each kind (routed to a studio, their
        # own tracking link) and its studio's mailbox exactly one; the kind is the delivery's template.
        studio_email = {s["_id"]: s.get("email") for s in mediation.studios.find({}, {"email": 1})}
        wanted: set[tuple[str, str, str]] = set()
        for ref, s in expected.items():
            wanted.add((s.email, ref, "case_assigned_applicant"))
            wanted.add((s.email, ref, "tracking_link"))
            if ref in cases and studio_email.get(cases[ref]["studio"]):
                wanted.add((studio_email[cases[ref]["studio"]], ref, "case_assigned_studio"))
        report.expected_emails = len(wanted)
        deliveries = {
            d["_id"]: d for d in notify.deliveries.find({}, {"status": 1, "attempt_log": 1, "template": 1})
        }
        received: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        with self.mailbox.lock:
            messages = list(self.mailbox.messages)
        for message in messages:
            found = REFERENCE.search(str(message["Subject"]))
            did = str(message["Message-ID"]).strip("<>").split("@")[0]
            template = str((deliveries.get(did) or {}).get("template", ""))
            key = (str(message["To"]), found.group(0) if found else "", template)
            received[key].append(str(message["Message-ID"]))
        for key in received:
            if key not in wanted:
                report.problems.append(f"unexpected email to {key[0]} about {key[1]!r}")
        for key in sorted(wanted):
            ids = received.get(key, [])
            if not ids:
                report.lost += 1
                report.problems.append(f"no email to {key[0]} about {key[1]}")
                continue
            report.notified += 1
            for message_id, copies in Counter(ids).items():
                extra = copies - 1
                if not extra:
                    continue
                did = message_id.strip("<>").split("@")[0]
                if self.allow_known_gap(did, deliveries.get(did)):
                    report.known_gap_duplicates += extra
                    report.notes.append(
                        f"known gap: delivery {did} to {key[0]} sent {copies} times "
                        "(notify was killed after the SMTP server took it, before it was marked sent)"
                    )
                else:
                    report.duplicates += extra
                    report.problems.append(f"{copies} copies of {message_id} to {key[0]} about {key[1]}")
            if len(set(ids)) > 1:
                report.duplicates += len(set(ids)) - 1
                report.problems.append(f"{len(set(ids))} different emails to {key[0]} about {key[1]}")
        unsent = Counter(d["status"] for d in deliveries.values() if d["status"] != "sent")
        if unsent:
            report.problems.append(f"deliveries not sent: {dict(unsent)}")
        for service, db, carriers in (
            ("intake", intake, Intake.carriers),
            ("mediation", mediation, ()),
            ("notify", notify, ()),
        ):
            pending = pending_events(db, carriers)
            if pending:
                report.problems.append(f"{service} outbox still holds {pending} pending events")
        report.notes += self.kill_log
        redelivered = {
            service: self.workers_log(service).count('"redelivered": true') for service in SERVICES
        }
        report.notes.append(f"messages handled again after a redelivery: {redelivered}")
        deferred = {
            service: self.workers_log(service).count('"msg": "handler deferred"') for service in SERVICES
        }
        report.notes.append(f"messages deferred (waiting, attempts kept): {deferred}")
        return report

    def allow_known_gap(self, delivery_id: str, delivery: dict[str, Any] | None) -> bool:
        """The one duplicate the design admits (README, "Notifications"): notify was killed
        (kill -9) between the SMTP server accepting a message and the delivery being marked sent,
        so the delivery's next claimant sends it again, with the same Message-ID. It is only
        admitted in the scenario that kills notify at random moments (`known_gap_admitted`), for
        a delivery that was being sent at the moment of a kill, and whose log shows the killed
        attempt left no outcome (claimed, never finished)."""
        if not self.known_gap_admitted:
            return False
        if delivery is None or delivery_id not in self.in_flight_at_kill:
            return False
        outcomes = [entry.get("outcome") for entry in delivery.get("attempt_log", [])]
        return delivery.get("status") == "sent" and outcomes.count("sent") == 1

    def settle(self, fault: str) -> Report:
        """Wait until every accepted case has flowed (or the timeout), then count."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        report = self.tally(fault)
        while report.problems and time.monotonic() < deadline:
            time.sleep(1.0)
            report = self.tally(fault)
        time.sleep(QUIET_PERIOD)
        return self.tally(fault)


def run_scenario(
    stack: FaultStack,
    fault: str,
    inject: Callable[[FaultStack], None],
    *,
    fault_at: float = 5.0,
    rate: float = RATE,
    duration: float = DURATION,
) -> Report:
    """Start the stack, flow cases, inject the fault at `fault_at` s (blocking until it is
    recovered), let the flow finish, settle and count. Prints the counts."""
    stack.start()
    flow = stack.flow(rate, duration)
    time.sleep(fault_at)
    inject(stack)
    flow.join(timeout=duration + 120)
    assert not flow.is_alive(), "the case flow did not finish"
    report = stack.settle(fault)
    print(report.summary())
    SUMMARIES.append(report.summary().splitlines()[0])
    return report
