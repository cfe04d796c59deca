"""The closing job (a thread of the council worker, like mediation's deadline job): closes every open
consultation whose answering window has ended, freezing its result and telling the households.

Answering already stops at the window's end whether or not this has run (the end is exclusive in
`domain.consultation_states.can_answer`); the job makes the result and the `consultation.closed` event
follow within a minute. With several workers, each closing is one transaction that matches
`status: open`: one wins, the others are refused and skip.
"""

from __future__ import annotations

import logging
import threading

from services.council import consultations
from services.council.bootstrap import Council
from shared.messaging.envelope import utcnow

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 30.0


class ClosingJob(threading.Thread):
    """Runs `consultations.close_due` every `interval` seconds."""

    def __init__(self, council: Council, interval: float = INTERVAL_SECONDS) -> None:
        super().__init__(name="council-closing", daemon=True)
        self.council = council
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                closed = consultations.close_due(self.council, utcnow())
                if closed:
                    log.info("consultations closed", extra={"consultations": closed})
            except Exception:  # database down: try again next round
                log.warning("closing job pass failed", exc_info=True)

    def stop(self) -> None:
        self.stopping.set()
