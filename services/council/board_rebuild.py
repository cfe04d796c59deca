"""Rebuild the public board's statistics, or replay mediation's events and compare.

    python -m services.council.board_rebuild                       # every quarter from the stored facts
    python -m services.council.board_rebuild --events events.jsonl --check
        # replay the envelopes (one JSON envelope per line, as published) into figures in memory and
        # compare them with the stored board: exit 1 and list the differences if they disagree
    python -m services.council.board_rebuild --events events.jsonl --replace
        # forget the stored facts and board, and rebuild both from the envelopes

Replaying gives the same figures as the live consumer because both go through the same
`statistics.fact_of` and the same pure fold (order and repetition do not matter).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from services.council import statistics
from services.council.bootstrap import Council, bootstrap, ensure_indexes
from shared.messaging.envelope import Envelope, parse_envelope
from shared.messaging.events import validate_data


def read_envelopes(lines: Iterable[str]) -> Iterator[Envelope]:
    """Envelopes from JSON lines (blank lines skipped); each is validated like a consumed message."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            envelope = parse_envelope(json.loads(line))
        except Exception as err:
            raise ValueError(f"line {number}: not an event envelope ({err})") from err
        if envelope.type in statistics.EVENTS:
            data = validate_data(envelope.type, envelope.schema_version, envelope.data)
            yield Envelope(**{**envelope.to_dict(), "data": data})


def replay(envelopes: Iterable[Envelope], secret: str) -> dict[str, dict[str, Any]]:
    """The board built from events alone (no database): quarter -> tables and medians."""
    facts = [f for e in envelopes if (f := statistics.fact_of(e, secret)) is not None]
    return statistics.build_board(facts)


def stored_board(council: Council) -> dict[str, dict[str, Any]]:
    """The board as the live read model stored it: quarter -> tables and medians."""
    return {
        d["_id"]: {"tables": d["tables"], "medians": d["medians"]} for d in council.db.board_quarters.find({})
    }


def differences(live: dict[str, dict[str, Any]], replayed: dict[str, dict[str, Any]]) -> list[str]:
    """What differs between two boards, one line per differing table or quarter (empty: the same)."""
    out = []
    for quarter in sorted(set(live) | set(replayed)):
        if quarter not in live or quarter not in replayed:
            out.append(f"{quarter}: only in {'the replay' if quarter in replayed else 'the stored board'}")
            continue
        a, b = live[quarter], replayed[quarter]
        for name in sorted(set(a["tables"]) | set(b["tables"])):
            if a["tables"].get(name) != b["tables"].get(name):
                out.append(f"{quarter}: table {name} differs")
        if a["medians"] != b["medians"]:
            out.append(f"{quarter}: medians differ")
    return out


def replace_from(council: Council, envelopes: Iterable[Envelope]) -> list[str]:
    """Forget the stored facts and board and rebuild both from `envelopes` (an operator's repair)."""
    db = council.db
    db.mediation_facts.delete_many({})
    db.board_quarters.delete_many({})
    db.board_dirty.delete_many({})
    docs = {}
    for e in envelopes:
        fact = statistics.fact_of(e, council.settings.secret_key)
        if fact is not None:
            docs[fact.message_id] = statistics.fact_to_doc(fact)
    if docs:
        db.mediation_facts.insert_many(list(docs.values()))
    return statistics.rebuild_quarters(council)


def main(argv: list[str] | None = None, stdout: TextIO = sys.stdout) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m services.council.board_rebuild", description=__doc__)
    parser.add_argument("--events", help="a file of JSON envelopes, one per line ('-' for stdin)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="compare the replay with the stored board")
    mode.add_argument("--replace", action="store_true", help="rebuild facts and board from the events")
    args = parser.parse_args(argv)
    council = bootstrap()
    ensure_indexes(council.db)
    if not args.events:
        if args.check or args.replace:
            parser.error("--check and --replace need --events")
        built = statistics.rebuild_quarters(council)
        print(f"rebuilt {len(built)} quarter(s): {', '.join(built) or 'none'}", file=stdout)
        return 0
    source = sys.stdin if args.events == "-" else open(args.events, encoding="utf-8")  # noqa: SIM115
    with source:
        envelopes = list(read_envelopes(source))
    if args.replace:
        built = replace_from(council, envelopes)
        print(f"replaced: {len(built)} quarter(s) from {len(envelopes)} event(s)", file=stdout)
        return 0
    diff = differences(stored_board(council), replay(envelopes, council.settings.secret_key))
    for line in diff:
        print(line, file=stdout)
    print("the same" if not diff else f"{len(diff)} difference(s)", file=stdout)
    return 1 if diff and args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
