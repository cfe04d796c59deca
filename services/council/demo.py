"""Demo data for local runs: the seed community's household register (development only).

    python -m services.council.demo      # loads services/council/seed/lianhua_register.csv once

`make run` calls it. The file goes through the same checks and the same all-or-nothing import as
a committee member's upload; it is refused when ENV=production.
"""

from __future__ import annotations

import sys
from pathlib import Path

from services.council import register
from services.council.bootstrap import Council, bootstrap, ensure_indexes
from services.council.spreadsheets import read_table
from shared.auth import Staff

SEED = Path(__file__).resolve().parent / "seed"
DEMO_COMMUNITY = "lianhua"
DEMO_FILE = SEED / "lianhua_register.csv"
# Who the seed import is recorded as (created_by of the demo flats).
SEEDER = Staff("demo-seed", "demo seed", frozenset({"district_admin"}))


def seed_demo_register(council: Council) -> int:
    """Import the demo register unless the community already has flats; returns flats added."""
    if council.settings.is_production:
        raise RuntimeError("The demo register is never loaded in production.")
    if council.db.flats.count_documents({"community": DEMO_COMMUNITY}, limit=1):
        return 0
    table = read_table(DEMO_FILE.name, DEMO_FILE.read_bytes())
    return register.import_table(council, DEMO_COMMUNITY, table, SEEDER)


def main() -> int:
    council = bootstrap()
    ensure_indexes(council.db)
    try:
        added = seed_demo_register(council)
    except (RuntimeError, register.Refused) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if added:
        print(f"Demo household register of {DEMO_COMMUNITY}: {added} flats added")
    return 0


if __name__ == "__main__":
    sys.exit(main())
