"""Run a service's worker with bench/instrument.py's accounting (bench runs only).

    python -m bench.instrumented_worker services.mediation.worker

Each consumed message is one "request", keyed by its queue: the database's share (pymongo
command durations), the broker's (confirmed publishes) and ours (the rest of the handling).
A worker with several consumer lanes (notify's) handles messages in several threads at once;
each message is accounted in its own thread, so "ours" includes the time a lane waits for the
GIL while others run. The outbox relay's polls and other background threads' calls are counted
apart, by thread name.
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
