"""The archive job (a thread of the mediation worker, like the desk's deadline job): each pass builds
the dossier of every archived case that has none yet (`dossier.run_once`) and erases the personal
data of archived cases whose retention period has ended (`retention.run_once`)."""

from __future__ import annotations

import logging
import threading

from services.mediation import dossier, retention
from services.mediation.bootstrap import Mediation

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 60.0


def run_once(mediation: Mediation) -> dict[str, int]:
    """One pass (safe on several replicas at once: both steps are conditional per case)."""
    # Erasure first: a case it anonymises has its dossier rebuilt by the dossier step.
    erased = retention.run_once(mediation)
    return {"erased": erased, "dossiers": dossier.run_once(mediation)}


class ArchiveJob(threading.Thread):
    """Runs `run_once` every `interval` seconds in the mediation worker, the first pass at once (a
    worker that was down catches up on the cases archived meanwhile)."""

    def __init__(self, mediation: Mediation, interval: float = INTERVAL_SECONDS) -> None:
        super().__init__(name="archive-job", daemon=True)
        self.mediation = mediation
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while True:
            try:
                report = run_once(self.mediation)
                if any(report.values()):
                    log.info("archive job", extra=report)
            except Exception:  # database down: try again next round
                log.warning("archive job pass failed", exc_info=True)
            if self.stopping.wait(self.interval):
                return

    def stop(self) -> None:
        self.stopping.set()
