"""Run a service's worker with bench/instrument.py's accounting (bench runs only).

    python -m bench.instrumented_worker services.mediation.worker

Each consumed message is one "request", keyed by its queue: the database's share (pymongo
command durations), the broker's (confirmed publishes) and ours (the rest of the handling).
The worker's outbox relay thread shares the process; its few idle polls are counted with
whatever message is being handled at that moment.
"""

from __future__ import annotations

import atexit
import runpy
import sys
from typing import Any

from bench import instrument


def main() -> None:
    module = sys.argv[1]
    instrument.install()
    from shared.messaging.consumer import EventConsumer

    original = EventConsumer.on_message

    def on_message(self: Any, sub: Any, body: Any, message: Any) -> None:
        instrument.begin()
        try:
            original(self, sub, body, message)
        finally:
            instrument.end(sub.spec.name)

    EventConsumer.on_message = on_message  # type: ignore[method-assign]
    atexit.register(instrument.dump)
    sys.argv = [module]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
