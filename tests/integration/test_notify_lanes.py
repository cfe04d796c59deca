"""Notify's worker handles several events at once (issue 17, item 4): a burst of cases gets every
email exactly once, a slow SMTP recipient holds up only its own case, and one case's events are
still handled one at a time, in order (case.assigned reads the contacts its case.submitted stored).

Real broker, real SecantusDB, a real SMTP server; the worker's consumers run as in
`shared.worker.run_worker` (`ConsumerGroup` over notify's subscriptions), in this process.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from devtools.secantus import free_port
from devtools.smtp_sink import CapturingHandler
from services.notify.bootstrap import Notify, ensure_indexes
from services.notify.bootstrap import bootstrap as notify_bootstrap
from services.notify.worker import subscriptions
from shared.config import Settings
from shared.messaging.consumer import ConsumerGroup
from shared.messaging.envelope import Envelope
from shared.messaging.publisher import Publisher
from shared.messaging.topology import NOTIFY_EVENTS, Topology
from shared.metrics import MESSAGES
from tests.support.notify_events import APPLICANT, RESPONDENT, event
from tests.support.stack import wait_for

LANES = 4
CASES = 16
SLOW_SECONDS = 4.0  # the slow recipient's SMTP server takes this long to accept
SLOW_ADDRESS = "slow@example.com"


class SlowForOne(CapturingHandler):
    """Accepts every message; the one to `SLOW_ADDRESS` only after `SLOW_SECONDS`. Notes when
    each message was accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted_at: dict[str, float] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if any(SLOW_ADDRESS in to for to in envelope.rcpt_tos):
            await asyncio.sleep(SLOW_SECONDS)  # this connection only: the others go on
        answer = await super().handle_DATA(server, session, envelope)
        with self.lock:
            self.accepted_at[str(self.messages[-1]["Message-ID"])] = time.monotonic()
        return answer


@pytest.fixture
def slow_smtp() -> Iterator[tuple[SlowForOne, int]]:
    port = free_port()
    handler = SlowForOne()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def notify(settings: Settings, slow_smtp: tuple[SlowForOne, int]) -> Notify:
    running = notify_bootstrap(
        replace(
            settings,
            smtp_url=f"smtp://127.0.0.1:{slow_smtp[1]}",
            notify_consumers=LANES,
            channel_timeout=SLOW_SECONDS * 3,
        )
    )
    ensure_indexes(running.db)
    return running


class Handled:
    """When each case event was handled, and by which thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans: list[tuple[str, str, float, float, str]] = []

    def wrap(self, handler: Any) -> Any:
        def recorded(envelope: Envelope) -> None:
            started = time.monotonic()
            try:
                handler(envelope)
            finally:
                with self.lock:
                    self.spans.append(
                        (
                            envelope.data["reference"],
                            envelope.type,
                            started,
                            time.monotonic(),
                            threading.current_thread().name,
                        )
                    )

        return recorded

    def most_at_once(self) -> int:
        edges = sorted([(s[2], 1) for s in self.spans] + [(s[3], -1) for s in self.spans])
        level = most = 0
        for _, step in edges:
            level += step
            most = max(most, level)
        return most


@pytest.fixture
def running(notify: Notify) -> Iterator[tuple[ConsumerGroup, Handled]]:
    handled = Handled()
    subs = [
        replace(sub, handlers={k: handled.wrap(h) for k, h in sub.handlers.items()})
        if sub.spec == NOTIFY_EVENTS
        else sub
        for sub in subscriptions(notify)
    ]
    group = ConsumerGroup(notify.settings, subs, publisher=notify.outbox.publisher)
    thread = threading.Thread(target=group.run, name="consumers", daemon=True)
    thread.start()
    wait_for(group.is_ready, timeout=15, what="every lane consuming")
    yield group, handled
    group.should_stop = True
    thread.join(timeout=30)
    assert not thread.is_alive(), "the lanes did not stop"


def test_a_burst_of_cases_gets_every_email_once_and_a_slow_recipient_holds_up_only_its_case(
    notify: Notify, running: tuple[ConsumerGroup, Handled], slow_smtp: tuple[SlowForOne, int]
) -> None:
    group, handled = running
    mailbox = slow_smtp[0]
    assert len(group.lanes) == LANES
    publisher = Publisher(notify.settings)
    queue = Topology(notify.settings).queue_name(NOTIFY_EVENTS)

    def counted(outcome: str) -> float:
        types = ("case.submitted", "case.assigned")
        return sum(MESSAGES.labels(queue, t, outcome)._value.get() for t in types)

    retried_before = counted("retried")
    references = [f"LC-2026-{100 + i:06d}" for i in range(CASES)]
    started = time.monotonic()
    for i, reference in enumerate(references):
        address = SLOW_ADDRESS if i == 0 else f"resident{i}@example.com"
        parties = [{**APPLICANT, "email": address}, RESPONDENT]
        # Each case's two events back to back: lanes pick them up at once, but the assignment's
        # email to the applicant needs the contacts that the filing stores.
        publisher.publish(
            event("case.submitted", reference, filer=None, filed_by="resident", parties=parties)
        )
        publisher.publish(event("case.assigned", reference))
    expected = 2 * CASES  # per case: the studio's email and the applicant's
    wait_for(lambda: len(mailbox.messages) >= expected, timeout=60, what="every email")
    wait_for(lambda: group.handled >= 2 * CASES, timeout=30, what="every event acked")
    time.sleep(1.0)  # room for a duplicate to show up

    # Exactly once: one email per delivery, every delivery sent, none twice.
    ids = Counter(str(m["Message-ID"]) for m in mailbox.messages)
    assert [i for i, n in ids.items() if n > 1] == []
    deliveries = list(notify.db.deliveries.find({"reference": {"$in": references}}))
    assert len(deliveries) == expected
    assert {d["status"] for d in deliveries} == {"sent"}
    assert set(ids) == {f"<{d['_id']}@concord.local>" for d in deliveries}
    per_applicant = Counter(str(m["To"]) for m in mailbox.messages if "studios" not in str(m["To"]))
    assert set(per_applicant.values()) == {1} and len(per_applicant) == CASES

    # The slow recipient held up only its own case: every other email went out before it.
    slow = [m for m in mailbox.messages if SLOW_ADDRESS in str(m["To"])]
    assert len(slow) == 1
    slow_at = mailbox.accepted_at[str(slow[0]["Message-ID"])]
    others = [at for mid, at in mailbox.accepted_at.items() if mid != str(slow[0]["Message-ID"])]
    assert max(others) < slow_at, "another case's email waited for the slow recipient"
    assert max(others) - started < SLOW_SECONDS, "the other cases waited behind the slow one"

    # Several events at once, on several lanes; never two of one case at once, and in order.
    assert handled.most_at_once() > 1
    assert len({span[4] for span in handled.spans}) > 1
    for reference in references:
        spans = sorted((s for s in handled.spans if s[0] == reference), key=lambda s: s[2])
        for earlier, later in itertools.pairwise(spans):
            assert earlier[3] <= later[2], f"two events of {reference} were handled at once"
        # The assignment was handled after the filing, whichever lane got it first: one that
        # came first found no contacts and was handled again once the filing was done, at once.
        assert spans[-1][1] == "case.assigned" and spans[-2][1] == "case.submitted", spans
        assert len(spans) in (2, 3), spans
        assert spans[-1][2] - spans[0][2] < 0.5 + SLOW_SECONDS * (reference == references[0]), spans
    assert counted("retried") == retried_before, "an event waited for the retry tiers"
