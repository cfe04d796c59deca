# Chinese labels and reasons use Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001, RUF002
"""Owners' votes under the Civil Code (2021) Art 278, counted as the Supreme People's Court's
interpretation on condominium ownership (2009, amended 2020) Art 8–9 says.

The nine matters (Art 278 para 1) are the table `ITEMS`; items 6, 7 and 8 (raising the maintenance
fund, rebuilding or renovating, changing the use of common parts or using them for business) are
*special*, the others *ordinary*.

Counting (SPC Art 8–9):
- **Area**: each flat counts with its registered exclusive area (专有部分面积), flat by flat.
- **Headcount**: one person per flat, except that all flats with the same owner key are ONE person,
  and all developer-held (unsold or undelivered) flats together are ONE person, whatever their
  owner keys. A developer-held flat therefore never adds to an ordinary owner's person.

Quorum (Art 278 para 2): the participating area ≥ 2/3 of the total area AND the participating
headcount ≥ 2/3 of the total headcount. Passing: special items need "for" ≥ 3/4 of the participating
area AND ≥ 3/4 of the participating headcount; ordinary items need "for" > 1/2 of both. Abstaining is
participating (it counts towards the quorum and the base) but not in favour. All comparisons are exact
(`Fraction` over `Decimal` areas), never float: exactly 2/3 meets the quorum, exactly 3/4 passes a
special item, exactly 1/2 fails an ordinary item.

**A person with several flats** (one owner key, or the developer's flats) — the rule chosen here:
- the person *participates* when at least one of their flats has a ballot;
- on **area**, every answered flat counts with its own area and its own choice (area is counted as
  registered, flat by flat; unanswered flats of the same owner do not participate);
- on **headcount**, the person's one voice is their choice when all their answered flats made the
  same choice; when their answered flats disagree the person counts as **abstaining** (participating,
  not in favour, not against). Why: the law gives the person one voice; we cannot lawfully pick one
  of two contradictory wills for them, and treating a split as abstention never manufactures a "for"
  (or an "against") the owner did not give unambiguously. The same rule applies to the developer.
  The service should normally prevent split ballots by asking the owner once; this rule decides the
  case where it could not (e.g. paper slips for different flats).

An empty register (no flats) has no quorum (`no_quorum_empty_register`): a decision needs owners.

Pure: no I/O. The caller reads the register and the ballots and stores the frozen `VoteResult`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

FOR = "for"
AGAINST = "against"
ABSTAIN = "abstain"
CHOICES: tuple[str, ...] = (FOR, AGAINST, ABSTAIN)

PASSED = "passed"
FAILED = "failed"
NO_QUORUM = "no_quorum"
OUTCOMES: tuple[str, ...] = (PASSED, FAILED, NO_QUORUM)

QUORUM = Fraction(2, 3)
SPECIAL_MAJORITY = Fraction(3, 4)  # "for" >= 3/4 (inclusive)
ORDINARY_MAJORITY = Fraction(1, 2)  # "for" > 1/2 (strict)

# The person that all developer-held flats make together (SPC Art 9). Owner keys are the register's
# own strings; this tuple key cannot collide with them.
_DEVELOPER: tuple[str, str] = ("developer", "")


@dataclass(frozen=True)
class VoteItem:
    """One of the nine matters of Civil Code Art 278 para 1."""

    number: int
    code: str
    zh: str
    en: str
    special: bool

    def name(self, language: str) -> str:
        """The label in `language` (zh* gives Chinese, anything else English)."""
        return self.zh if language.lower().startswith("zh") else self.en


ITEMS: dict[int, VoteItem] = {
    item.number: item
    for item in (
        VoteItem(
            1,
            "assembly_rules",
            "制定和修改业主大会议事规则",
            "Rules of procedure of the owners' assembly",
            False,
        ),
        VoteItem(2, "management_statute", "制定和修改管理规约", "The management statute", False),
        VoteItem(
            3,
            "committee_election",
            "选举业主委员会或者更换业主委员会成员",
            "Electing or replacing the owners' committee",
            False,
        ),
        VoteItem(
            4,
            "property_company",
            "选聘和解聘物业服务企业或者其他管理人",
            "Hiring or dismissing the property company or other manager",
            False,
        ),
        VoteItem(
            5,
            "use_maintenance_fund",
            "使用建筑物及其附属设施的维修资金",
            "Using the maintenance fund of the buildings and facilities",
            False,
        ),
        VoteItem(
            6,
            "raise_maintenance_fund",
            "筹集建筑物及其附属设施的维修资金",
            "Raising the maintenance fund of the buildings and facilities",
            True,
        ),
        VoteItem(
            7,
            "rebuild_renovate",
            "改建、重建建筑物及其附属设施",
            "Rebuilding or renovating the buildings and their facilities",
            True,
        ),
        VoteItem(
            8,
            "change_common_use",
            "改变共有部分的用途或者利用共有部分从事经营活动",
            "Changing the use of common parts or using them for business",
            True,
        ),
        VoteItem(
            9,
            "other_major",
            "有关共有和共同管理权利的其他重大事项",
            "Other major matters of common ownership and management",
            False,
        ),
    )
}


class VoteInputError(ValueError):
    """Bad register or ballots: `code` is machine-readable, the message says what is wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Flat:
    """A flat as the register holds it, for counting: its registered exclusive area in m²."""

    flat_id: str
    area: Decimal
    owner_key: str
    developer_held: bool = False


@dataclass(frozen=True)
class Threshold:
    """One test of a count against a fraction of a base, e.g. "for" > 1/2 of the participating area.

    `required` is the exact amount `fraction × base` (a Fraction: 2/3 of an area is rarely a
    decimal); `minimum` is the smallest value that meets the test when counts are whole persons
    (headcount), else None. `strict` means "more than", otherwise "at least"."""

    fraction: Fraction
    strict: bool
    base: Decimal | int
    required: Fraction
    minimum: int | None
    value: Decimal | int
    met: bool

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (fractions and decimals as strings, so nothing is rounded)."""
        return {
            "fraction": str(self.fraction),
            "strict": self.strict,
            "base": str(self.base),
            "required": str(self.required),
            "minimum": self.minimum,
            "value": str(self.value),
            "met": self.met,
        }


@dataclass(frozen=True)
class Dimension:
    """The count on one dimension (area in m², or headcount in persons)."""

    eligible: Decimal | int
    participating: Decimal | int
    for_: Decimal | int
    against: Decimal | int
    abstain: Decimal | int
    quorum: Threshold
    passing: Threshold

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form; amounts as strings (area) or ints (headcount)."""

        def out(v: Decimal | int) -> str | int:
            return v if isinstance(v, int) else str(v)

        return {
            "eligible": out(self.eligible),
            "participating": out(self.participating),
            "for": out(self.for_),
            "against": out(self.against),
            "abstain": out(self.abstain),
            "quorum": self.quorum.as_dict(),
            "passing": self.passing.as_dict(),
        }


@dataclass(frozen=True)
class VoteResult:
    """The outcome of one Art 278 vote, with everything a published result must show."""

    item: int
    special: bool
    area: Dimension
    headcount: Dimension
    outcome: Literal["passed", "failed", "no_quorum"]
    reason_code: str
    reason_zh: str
    reason_en: str

    def reason(self, language: str) -> str:
        """The human reason in `language` (zh* gives Chinese, anything else English)."""
        return self.reason_zh if language.lower().startswith("zh") else self.reason_en

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form to store with the frozen result or put in an event."""
        return {
            "item": self.item,
            "special": self.special,
            "area": self.area.as_dict(),
            "headcount": self.headcount.as_dict(),
            "outcome": self.outcome,
            "reason_code": self.reason_code,
            "reason": {"zh-CN": self.reason_zh, "en": self.reason_en},
        }


def item(number: int) -> VoteItem:
    """The Art 278 item `number` (1–9); a clear error for anything else."""
    if isinstance(number, bool) or not isinstance(number, int) or number not in ITEMS:
        raise VoteInputError("unknown_item", f"the Art 278 item must be 1 to 9, not {number!r}")
    return ITEMS[number]


def _check_flats(flats: Iterable[Flat]) -> dict[str, Flat]:
    by_id: dict[str, Flat] = {}
    for flat in flats:
        if not isinstance(flat.flat_id, str) or not flat.flat_id:
            raise VoteInputError("bad_flat_id", f"a flat needs an id, not {flat.flat_id!r}")
        if flat.flat_id in by_id:
            raise VoteInputError("duplicate_flat", f"flat {flat.flat_id} is in the register twice")
        # Decimal only: a float area would already carry binary rounding into an exact count.
        if not isinstance(flat.area, Decimal) or not flat.area.is_finite() or flat.area <= 0:
            raise VoteInputError(
                "bad_area", f"flat {flat.flat_id}: the area must be a positive Decimal, not {flat.area!r}"
            )
        if not flat.developer_held and (not isinstance(flat.owner_key, str) or not flat.owner_key.strip()):
            raise VoteInputError("bad_owner_key", f"flat {flat.flat_id} has no owner key")
        by_id[flat.flat_id] = flat
    return by_id


def person_of(flat: Flat) -> tuple[str, str]:
    """The person a flat's headcount goes to: its owner, or the developer for developer-held flats."""
    return _DEVELOPER if flat.developer_held else ("owner", flat.owner_key.strip())


def _threshold(value: Decimal | int, base: Decimal | int, fraction: Fraction, strict: bool) -> Threshold:
    required = fraction * Fraction(base)
    v = Fraction(value)
    met = v > required if strict else v >= required
    minimum: int | None = None
    if isinstance(base, int):
        minimum = math.floor(required) + 1 if strict else math.ceil(required)
    return Threshold(fraction, strict, base, required, minimum, value, met)


def _pct(value: Decimal | int, base: Decimal | int, up: bool) -> str:
    """A percentage with one decimal, rounded away from the threshold it was compared with so the
    figure shown never contradicts the verdict (66.66…% that fails 2/3 reads 66.6%, never 66.7%)."""
    if base == 0:
        return "0.0"
    tenths = Fraction(value) * 1000 / Fraction(base)
    n = math.ceil(tenths) if up else math.floor(tenths)
    return f"{n // 10}.{n % 10}"


_FRACTION_ZH = {Fraction(2, 3): "三分之二", Fraction(3, 4): "四分之三", Fraction(1, 2): "二分之一"}


def _clause(dim: str, what: str, t: Threshold) -> tuple[str, str]:
    """One bilingual clause, e.g. "area in favour 70.1% < 3/4"."""
    pct = _pct(t.value, t.base, up=t.met)
    op = (">" if t.met else "≤") if t.strict else ("≥" if t.met else "<")
    dim_en = {"area": "area", "headcount": "headcount"}[dim]
    dim_zh = {"area": "专有部分面积", "headcount": "人数"}[dim]
    what_en = {"quorum": "taking part", "passing": "in favour"}[what]
    what_zh = {"quorum": "参与表决的", "passing": "同意的"}[what]
    en = f"{dim_en} {what_en} {pct}% {op} {t.fraction}"
    verb = {(True, True): "超过", (True, False): "达到", (False, True): "未超过", (False, False): "未达到"}[
        (t.met, t.strict)
    ]
    zh = f"{what_zh}{dim_zh}占比{pct}%，{verb}{_FRACTION_ZH.get(t.fraction, str(t.fraction))}"
    return zh, en


def count_vote(item_number: int, flats: Iterable[Flat], ballots: Mapping[str, str]) -> VoteResult:
    """Count one Art 278 vote.

    `flats` is the community's whole register (every flat eligible), `ballots` maps a flat id to
    "for", "against" or "abstain" (flats without a ballot did not take part). Raises
    `VoteInputError` for an unknown item, a bad register (duplicate flat, non-positive or
    non-Decimal area, missing owner key), a ballot for a flat not in the register, or a bad choice.
    """
    matter = item(item_number)
    register = _check_flats(flats)
    for flat_id, choice in ballots.items():
        if flat_id not in register:
            raise VoteInputError("unknown_flat", f"a ballot names flat {flat_id!r}, not in the register")
        if choice not in CHOICES:
            raise VoteInputError("bad_choice", f"flat {flat_id}: the choice must be for, against or abstain")

    area = {c: Decimal(0) for c in CHOICES}
    total_area = Decimal(0)
    persons: dict[tuple[str, str], set[str]] = {}  # person -> the choices of their answered flats
    for flat in register.values():
        total_area += flat.area
        answered = persons.setdefault(person_of(flat), set())
        choice = ballots.get(flat.flat_id)
        if choice is not None:
            area[choice] += flat.area
            answered.add(choice)

    heads = dict.fromkeys(CHOICES, 0)
    for choices in persons.values():
        if len(choices) == 1:
            heads[next(iter(choices))] += 1
        elif len(choices) > 1:  # a split person: one voice, not a clear will (see the module's docstring)
            heads[ABSTAIN] += 1

    majority = SPECIAL_MAJORITY if matter.special else ORDINARY_MAJORITY
    strict = not matter.special
    part_area = sum(area.values(), Decimal(0))
    part_heads = sum(heads.values())
    area_dim = Dimension(
        total_area,
        part_area,
        area[FOR],
        area[AGAINST],
        area[ABSTAIN],
        _threshold(part_area, total_area, QUORUM, strict=False),
        _threshold(area[FOR], part_area, majority, strict),
    )
    head_dim = Dimension(
        len(persons),
        part_heads,
        heads[FOR],
        heads[AGAINST],
        heads[ABSTAIN],
        _threshold(part_heads, len(persons), QUORUM, strict=False),
        _threshold(heads[FOR], part_heads, majority, strict),
    )
    outcome, code, zh, en = _verdict(area_dim, head_dim, not register)
    return VoteResult(matter.number, matter.special, area_dim, head_dim, outcome, code, zh, en)


def _verdict(area: Dimension, heads: Dimension, empty: bool) -> tuple[Any, str, str, str]:
    if empty:
        zh, en = "未达到法定参与比例：登记册中没有房屋。", "no quorum: the register has no flats"
        return NO_QUORUM, "no_quorum_empty_register", zh, en
    for what, a, h in (("quorum", area.quorum, heads.quorum), ("passing", area.passing, heads.passing)):
        if a.met and h.met:
            continue
        failed = [(dim, t) for dim, t in (("area", a), ("headcount", h)) if not t.met]
        clauses = [_clause(dim, what, t) for dim, t in failed]
        dims = "both" if len(failed) == 2 else failed[0][0]
        if what == "quorum":
            outcome, code = NO_QUORUM, f"no_quorum_{dims}"
            zh_head, en_head = "未达到法定参与比例", "no quorum"
        else:
            outcome, code = FAILED, f"failed_{dims}"
            zh_head, en_head = "未通过", "failed"
        zh = f"{zh_head}：" + "；".join(c[0] for c in clauses) + "。"
        en = f"{en_head}: " + "; ".join(c[1] for c in clauses)
        return outcome, code, zh, en
    clauses = [_clause("area", "passing", area.passing), _clause("headcount", "passing", heads.passing)]
    zh = "通过：" + "；".join(c[0] for c in clauses) + "。"
    en = "passed: " + "; ".join(c[1] for c in clauses)
    return PASSED, "passed", zh, en
