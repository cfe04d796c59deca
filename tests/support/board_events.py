"""A seeded stream of mediation events for the board's tests: cases received in several
communities over two quarters, accepted, ended (some with the prevention counts), followed up,
and patrol visits (some finding a dispute early). Every case.submitted carries names, phones and a
description, and patrol reports carry free-text findings, so tests can check none of it is kept."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.messaging.envelope import Envelope, make_envelope
from shared.taxonomy import CATEGORY_CODES

SECRET_NAME = "欧阳秘密"
SECRET_PHONE = "13912345678"
SECRET_FINDINGS = "FINDINGS-free-text-must-not-be-stored"
START = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)


def _team() -> dict[str, Any]:
    return {"code": "north", "name": "北片巡查队"}


def events(seed: int = 7, cases: int = 90, weights: dict[str, int] | None = None) -> list[Envelope]:
    """The stream (in a shuffled but seeded order); `weights`: community -> relative share of cases."""
    rng = random.Random(seed)
    weights = weights or {
        "lianhua": 8,
        "heping": 5,
        "xinyuan": 1,
        "chaoyang": 4,
        "taoyuan": 2,
        "binhe": 3,
        "jinxiu": 1,
    }
    names, shares = list(weights), list(weights.values())
    out: list[Envelope] = []
    for n in range(cases):
        ref = f"LC-2026-{n + 1:06d}"
        community = rng.choices(names, shares)[0]
        received = START + timedelta(days=rng.randint(0, 170), hours=rng.randint(0, 10))
        parties = [{"role": "applicant", "name": SECRET_NAME, "phone": SECRET_PHONE}]
        parties += [{"role": "respondent", "name": f"对方{n}"}] * rng.randint(1, 3)
        out.append(
            make_envelope(
                "case.submitted",
                {
                    "reference": ref,
                    "received_at": received.isoformat(),
                    "category": rng.choice(
                        ["neighbours", "neighbours", "property_management", *CATEGORY_CODES]
                    ),
                    "community": community,
                    "building": "3",
                    "description": f"{SECRET_NAME} says the neighbour is loud",
                    "parties": parties,
                    "people_affected": rng.choice([None, None, 4, 12]),
                    "source": rng.choice(
                        ["application", "application", "patrol_discovery", "referred_court", "reception_day"]
                    ),
                },
                source="intake",
            )
        )
        if rng.random() < 0.8:
            accepted = received + timedelta(days=rng.randint(0, 3))
            out.append(
                make_envelope(
                    "case.status_changed",
                    {"reference": ref, "status": "accepted", "changed_at": accepted.isoformat()},
                    source="mediation",
                )
            )
            if rng.random() < 0.85:
                closed = accepted + timedelta(days=rng.randint(1, 60))
                outcome = rng.choice(
                    [
                        "agreement_written",
                        "agreement_oral",
                        "agreement_written",
                        "failed",
                        "withdrawn",
                        "referred",
                    ]
                )
                prevented = rng.random() < 0.25
                out.append(
                    make_envelope(
                        "case.closed",
                        {
                            "reference": ref,
                            "outcome": outcome,
                            "closed_at": closed.isoformat(),
                            "public_note": f"note for {SECRET_NAME}",
                            "criminal_prevented_persons": rng.randint(2, 6) if prevented else 0,
                            "petition_prevented_persons": rng.choice([0, 0, 8]) if prevented else 0,
                        },
                        source="mediation",
                    )
                )
                if outcome.startswith("agreement") and rng.random() < 0.6:
                    out.append(
                        make_envelope(
                            "case.status_changed",
                            {
                                "reference": ref,
                                "status": "performed",
                                "changed_at": (closed + timedelta(days=20)).isoformat(),
                            },
                            source="mediation",
                        )
                    )
    for n in range(40):
        community = rng.choices(names, shares)[0]
        out.append(
            make_envelope(
                "patrol.reported",
                {
                    "task_id": f"T{n}",
                    "kind": "sweep",
                    "team": _team(),
                    "community": community,
                    "calmed": True,
                    "findings": SECRET_FINDINGS,
                    "reported_at": (START + timedelta(days=rng.randint(0, 170))).isoformat(),
                    "found_early": rng.random() < 0.3,
                },
                source="mediation",
            )
        )
    rng.shuffle(out)
    return out
