# Chinese labels use Chinese punctuation on purpose.
# ruff: noqa: RUF001
"""Public accounts (公共收益公示): income from the common parts and spending from it, so residents can
"understand the accounts" (明白账).

- An **entry**: accounting date, income or spending, a category of its kind, an amount in yuan
  (a `Decimal` > 0 with at most two decimals, fen; never a float), a counterparty, who entered it.
- **Approval by a second committee member**: never the member who entered the entry, once. Only
  approved entries are published and counted. An approved entry is not edited; a mistake is put right
  by a new correcting entry (approved the same way), so a published statement never changes silently.
- **Monthly statement**: opening balance + income - spending = closing balance, from the approved
  entries dated in the month; the statements of consecutive months chain (each month opens with the
  previous month's closing balance), so they add up by construction and `check_statement` verifies a
  stored one.
- **Questions**: a resident may ask about a published entry within 15 days: from its approval until
  the end of the 15th calendar day after it, Beijing time (UTC+8, China has no daylight saving time).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

INCOME = "income"
SPENDING = "spending"
KINDS: tuple[str, ...] = (INCOME, SPENDING)

CATEGORIES: dict[str, dict[str, tuple[str, str]]] = {
    INCOME: {
        "parking": ("共有场地停车费", "Parking on common land"),
        "advertising": ("广告收入", "Advertising"),
        "venue_rent": ("共有场所租金", "Rent of the shared venue"),
        "other_income": ("其他收入", "Other income"),
    },
    SPENDING: {
        "maintenance": ("共用部位维修", "Repairs of common parts"),
        "facilities": ("公共设施", "Common facilities"),
        "cleaning_greening": ("保洁绿化", "Cleaning and greening"),
        "committee_costs": ("业委会办公费用", "Owners' committee costs"),
        "other_spending": ("其他支出", "Other spending"),
    },
}

QUESTION_DAYS = 15
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
_FEN = Decimal("0.01")


@dataclass(frozen=True)
class Entry:
    """One entry of the public accounts."""

    entry_id: str
    day: date
    kind: str
    category: str
    amount: Decimal
    counterparty: str
    entered_by: str
    approved_by: str | None = None
    approved_at: datetime | None = None

    @property
    def approved(self) -> bool:
        """Approved by a second committee member (and so published)."""
        return self.approved_by is not None and self.approved_at is not None


@dataclass(frozen=True)
class Decision:
    """Allowed, or refused with a reason code."""

    allowed: bool
    reason: str | None = None


REASONS: dict[str, tuple[str, str]] = {
    "bad_kind": ("收支类型不正确。", "The kind must be income or spending."),
    "bad_category": ("类别与收支类型不符。", "The category does not belong to this kind."),
    "bad_amount": ("金额须大于0，最多两位小数。", "The amount must be above 0 with at most two decimals."),
    "no_counterparty": ("请填写对方单位或个人。", "The counterparty is missing."),
    "future_date": ("日期不能晚于今天。", "The date cannot be in the future."),
    "no_author": ("缺少录入人。", "Who entered it is missing."),
    "self_approval": ("录入人不能审核自己录入的账目。", "The member who entered an entry cannot approve it."),
    "already_approved": ("该账目已审核。", "This entry is already approved."),
    "not_committee": ("只有业委会委员可以审核。", "Only committee members approve entries."),
    "not_published": ("该账目尚未公示。", "This entry is not published."),
    "question_window_closed": ("提问期（15天）已过。", "The 15 days for questions are over."),
    "naive_time": ("时间缺少时区。", "A time without a timezone."),
}


def entry_problems(entry: Entry, today: date) -> list[str]:
    """Every problem of a new entry, as reason codes (empty when it may be stored)."""
    out: list[str] = []
    if entry.kind not in KINDS:
        out.append("bad_kind")
    elif entry.category not in CATEGORIES[entry.kind]:
        out.append("bad_category")
    a = entry.amount
    if not isinstance(a, Decimal) or not a.is_finite() or a <= 0 or a != a.quantize(_FEN):
        out.append("bad_amount")
    if not isinstance(entry.counterparty, str) or not entry.counterparty.strip():
        out.append("no_counterparty")
    if not isinstance(entry.entered_by, str) or not entry.entered_by.strip():
        out.append("no_author")
    if entry.day > today:
        out.append("future_date")
    return out


def can_approve(entry: Entry, approver: str, approver_is_committee_member: bool) -> Decision:
    """A second committee member approves an entry once; never its author."""
    if not approver_is_committee_member:
        return Decision(False, "not_committee")
    if entry.approved:
        return Decision(False, "already_approved")
    if approver == entry.entered_by:
        return Decision(False, "self_approval")
    return Decision(True)


def question_deadline(approved_at: datetime) -> datetime:
    """The end of the question window: the end of the 15th calendar day after publication, Beijing time."""
    local_day = approved_at.astimezone(BEIJING).date()
    return datetime.combine(local_day + timedelta(days=QUESTION_DAYS + 1), time(0), BEIJING)


def can_ask(entry: Entry, now: datetime) -> Decision:
    """May a resident ask about `entry` now? Only a published entry, within its 15 days."""
    if now.tzinfo is None:
        return Decision(False, "naive_time")
    if not entry.approved or entry.approved_at is None:
        return Decision(False, "not_published")
    if entry.approved_at.tzinfo is None:
        return Decision(False, "naive_time")
    if now < entry.approved_at:
        return Decision(False, "not_published")
    if now >= question_deadline(entry.approved_at):
        return Decision(False, "question_window_closed")
    return Decision(True)


@dataclass(frozen=True)
class Statement:
    """One month's statement; `income_by_category`/`spending_by_category` are sorted (category, sum)."""

    year: int
    month: int
    opening: Decimal
    income: Decimal
    spending: Decimal
    closing: Decimal
    income_by_category: tuple[tuple[str, Decimal], ...]
    spending_by_category: tuple[tuple[str, Decimal], ...]
    entries: int

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form (amounts as strings with two decimals)."""
        return {
            "month": f"{self.year:04d}-{self.month:02d}",
            "opening": str(self.opening),
            "income": str(self.income),
            "spending": str(self.spending),
            "closing": str(self.closing),
            "income_by_category": [[c, str(v)] for c, v in self.income_by_category],
            "spending_by_category": [[c, str(v)] for c, v in self.spending_by_category],
            "entries": self.entries,
        }


def monthly_statement(entries: Iterable[Entry], year: int, month: int, opening: Decimal) -> Statement:
    """The statement of one month from the approved entries dated in it."""
    if not isinstance(opening, Decimal) or not opening.is_finite():
        raise ValueError("the opening balance must be a Decimal")
    by_kind: dict[str, dict[str, Decimal]] = {INCOME: {}, SPENDING: {}}
    count = 0
    for e in entries:
        if not e.approved or (e.day.year, e.day.month) != (year, month):
            continue
        sums = by_kind[e.kind]
        sums[e.category] = sums.get(e.category, Decimal(0)) + e.amount
        count += 1
    income = sum(by_kind[INCOME].values(), Decimal(0)).quantize(_FEN)
    spending = sum(by_kind[SPENDING].values(), Decimal(0)).quantize(_FEN)
    opening = opening.quantize(_FEN)
    return Statement(
        year,
        month,
        opening,
        income,
        spending,
        opening + income - spending,
        tuple(sorted((c, v.quantize(_FEN)) for c, v in by_kind[INCOME].items())),
        tuple(sorted((c, v.quantize(_FEN)) for c, v in by_kind[SPENDING].items())),
        count,
    )


def statements(
    entries: Iterable[Entry], first: tuple[int, int], last: tuple[int, int], opening: Decimal
) -> list[Statement]:
    """Consecutive monthly statements from `first` to `last` (year, month), each opening with the
    previous closing balance."""
    entries = list(entries)
    out: list[Statement] = []
    year, month = first
    if (year, month) > last:
        raise ValueError("the first month is after the last")
    while (year, month) <= last:
        s = monthly_statement(entries, year, month, opening)
        out.append(s)
        opening = s.closing
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def check_statement(s: Statement) -> bool:
    """Does a (stored) statement add up: opening + income - spending = closing, and the categories to
    the totals?"""
    return (
        s.opening + s.income - s.spending == s.closing
        and sum((v for _, v in s.income_by_category), Decimal(0)) == s.income
        and sum((v for _, v in s.spending_by_category), Decimal(0)) == s.spending
    )
