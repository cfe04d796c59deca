"""The plan that decisions yield: a tree of items ("renovate the old compound" > "replace the gate",
"seal the balcony cracks of building 3"), each with a status and a progress of 0..100 %.

Rules:
- A **leaf**'s progress is its own (a whole or decimal number 0..100). `planned` means 0, `done`
  means 100 (a leaf saying otherwise is refused: a board must not show "done, 60 %").
- A **parent**'s progress is the weighted average of its children's progress (recursively); its own
  stored progress is ignored. Weights are positive decimals (e.g. budget shares); when no child of a
  parent has a weight they count equally; some children with a weight and others without is refused
  as ambiguous. Cancelled children are left out of their parent's average (what will not be done
  does not hold the rest back); a parent whose children are all cancelled keeps progress 0.
- A parent's status is derived: every counted child done -> done; nothing started -> planned; any
  child on hold and none in progress -> on_hold; else in_progress.
- Validation lists every problem: progress outside 0..100, weights not > 0, an unknown parent, a
  cycle, duplicate ids, an unknown status, and the leaf status/progress contradictions above.

Progress is exact (`Fraction`); `percent_display` rounds half up to one decimal. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

PLANNED = "planned"
IN_PROGRESS = "in_progress"
ON_HOLD = "on_hold"
DONE = "done"
CANCELLED = "cancelled"
STATUSES: tuple[str, ...] = (PLANNED, IN_PROGRESS, ON_HOLD, DONE, CANCELLED)

STATUS_LABELS: dict[str, tuple[str, str]] = {
    PLANNED: ("未开始", "Planned"),
    IN_PROGRESS: ("进行中", "In progress"),
    ON_HOLD: ("暂停", "On hold"),
    DONE: ("已完成", "Done"),
    CANCELLED: ("已取消", "Cancelled"),
}


@dataclass(frozen=True)
class PlanItem:
    """One item of the plan; `parent_id` None for a top-level item."""

    item_id: str
    title: str
    status: str = PLANNED
    progress: Decimal = Decimal(0)
    parent_id: str | None = None
    weight: Decimal | None = None


@dataclass(frozen=True)
class PlanProblem:
    """One problem of the plan: the item and a machine code."""

    item_id: str
    code: str


class PlanError(ValueError):
    """A plan with problems; `problems` lists them all."""

    def __init__(self, problems: Sequence[PlanProblem]) -> None:
        super().__init__("; ".join(f"{p.item_id}: {p.code}" for p in problems))
        self.problems = tuple(problems)


def _number(value: object) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool) and Decimal(value).is_finite()


def plan_problems(items: Iterable[PlanItem]) -> list[PlanProblem]:
    """Every problem of a plan (empty when it is sound)."""
    items = list(items)
    out: list[PlanProblem] = []
    by_id: dict[str, PlanItem] = {}
    for it in items:
        if it.item_id in by_id:
            out.append(PlanProblem(it.item_id, "duplicate_id"))
        by_id[it.item_id] = it
    children = _children(items)
    for it in items:
        if it.status not in STATUSES:
            out.append(PlanProblem(it.item_id, "unknown_status"))
        if not _number(it.progress) or not 0 <= it.progress <= 100:
            out.append(PlanProblem(it.item_id, "progress_out_of_range"))
        elif it.item_id not in children:  # a leaf: its status and its progress must agree
            if it.status == DONE and it.progress != 100:
                out.append(PlanProblem(it.item_id, "done_needs_100"))
            if it.status == PLANNED and it.progress != 0:
                out.append(PlanProblem(it.item_id, "planned_needs_0"))
        if it.weight is not None and (not _number(it.weight) or it.weight <= 0):
            out.append(PlanProblem(it.item_id, "weight_not_positive"))
        if it.parent_id is not None and it.parent_id not in by_id:
            out.append(PlanProblem(it.item_id, "unknown_parent"))
    for parent, kids in children.items():
        weighted = [k.weight is not None for k in kids]
        if any(weighted) and not all(weighted):
            out.append(PlanProblem(parent, "partial_weights"))
    out += [PlanProblem(i, "cycle") for i in _in_cycles(by_id)]
    return out


def _children(items: Iterable[PlanItem]) -> dict[str, list[PlanItem]]:
    out: dict[str, list[PlanItem]] = {}
    for it in items:
        if it.parent_id is not None:
            out.setdefault(it.parent_id, []).append(it)
    return out


def _in_cycles(by_id: dict[str, PlanItem]) -> list[str]:
    """The items whose chain of parents comes back to themselves (sorted)."""
    cyclic: set[str] = set()
    for start in by_id:
        seen: list[str] = []
        node: str | None = start
        while node is not None and node in by_id and node not in seen:
            seen.append(node)
            node = by_id[node].parent_id
        if node is not None and node in seen:
            cyclic.update(seen[seen.index(node) :])
    return sorted(cyclic)


@dataclass(frozen=True)
class Rolled:
    """An item's progress and status after rolling up its children."""

    progress: Fraction
    status: str
    leaf: bool


def rollup(items: Iterable[PlanItem]) -> dict[str, Rolled]:
    """Every item's progress and status: leaves as given, parents from their children. Raises
    `PlanError` (listing every problem) for an unsound plan."""
    items = list(items)
    problems = plan_problems(items)
    if problems:
        raise PlanError(problems)
    children = _children(items)
    by_id = {it.item_id: it for it in items}
    done: dict[str, Rolled] = {}

    def visit(item_id: str) -> Rolled:
        if item_id in done:
            return done[item_id]
        it = by_id[item_id]
        kids = children.get(item_id, [])
        if not kids:
            result = Rolled(Fraction(it.progress), it.status, True)
        else:
            rolled = [(k, visit(k.item_id)) for k in kids]
            counted = [(k, r) for k, r in rolled if r.status != CANCELLED]
            if not counted:
                result = Rolled(Fraction(0), CANCELLED, False)
            else:
                weights = [Fraction(k.weight) if k.weight is not None else Fraction(1) for k, _ in counted]
                total = sum(weights, Fraction(0))
                progress = sum(
                    (w * r.progress for w, (_, r) in zip(weights, counted, strict=True)), Fraction(0)
                )
                result = Rolled(progress / total, _derived_status([r.status for _, r in counted]), False)
        done[item_id] = result
        return result

    # Deep plans are short in practice; recursion depth is bounded by the tree's height.
    for it in items:
        visit(it.item_id)
    return done


def _derived_status(statuses: list[str]) -> str:
    if all(s == DONE for s in statuses):
        return DONE
    if all(s == PLANNED for s in statuses):
        return PLANNED
    if IN_PROGRESS not in statuses and ON_HOLD in statuses:
        return ON_HOLD
    return IN_PROGRESS


def percent_display(progress: Fraction) -> Decimal:
    """Progress rounded half up to one decimal for display (66.666... -> 66.7)."""
    exact = Decimal(progress.numerator) / Decimal(progress.denominator)
    return exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def ordered(items: Iterable[PlanItem]) -> list[tuple[int, PlanItem]]:
    """The items depth first, each with its depth (0 for top level), siblings in the given order;
    for showing the tree. Assumes a sound plan (see `plan_problems`)."""
    items = list(items)
    children = _children(items)
    out: list[tuple[int, PlanItem]] = []

    def walk(it: PlanItem, depth: int) -> None:
        out.append((depth, it))
        for k in children.get(it.item_id, []):
            walk(k, depth + 1)

    for it in items:
        if it.parent_id is None:
            walk(it, 0)
    return out
