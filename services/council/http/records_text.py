# Chinese texts use Chinese punctuation on purpose.
# ruff: noqa: RUF001
"""What the plan's and the accounts' pages say in the reader's language: reason codes of refusals,
statuses, categories and kinds. The domain's tables are already bilingual (zh-CN, en); the codes
the use cases add are here, bilingual the same way, so they travel as data and need no catalogue."""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import get_locale, gettext

from services.council.domain import accounts as account_rules
from services.council.domain import plan as plan_rules

CODES: Mapping[str, tuple[str, str]] = {
    "required": ("此项必填。", "This is required."),
    "too_long": ("内容太长。", "This is too long."),
    "not_a_field": ("不认识的字段。", "Not a field of this form."),
    "not_editable": ("此项不能修改。", "This cannot be changed."),
    "bad_date": ("日期格式应为 年-月-日，如 2026-05-06。", "A date looks like 2026-05-06."),
    "end_before_start": ("结束日期早于开始日期。", "The end date is before the start date."),
    "bad_budget": ("预算须为不小于0的数，最多两位小数。", "A budget of 0 or more with at most two decimals."),
    "not_a_decision": (
        "找不到这项决定：须为本小区已通过的表决或已采纳的议事会建议。",
        "No such decision: a passed vote or an adopted recommendation of this community.",
    ),
    "progress_out_of_range": ("进度须在0到100之间。", "The progress must be between 0 and 100."),
    "done_needs_100": ("已完成的事项进度须为100%。", "A done item is at 100 %."),
    "planned_needs_0": ("未开始的事项进度须为0。", "A planned item is at 0 %."),
    "weight_not_positive": ("权重须大于0。", "A weight must be above 0."),
    "partial_weights": (
        "同一上级事项下，要么都填权重，要么都不填。",
        "Give every item under one parent a weight, or none.",
    ),
    "unknown_parent": ("找不到上级事项。", "No such parent item."),
    "cycle": ("上级事项不能是它自己或它的下级。", "An item cannot sit under itself or its own children."),
    "unknown_status": ("状态不正确。", "Unknown status."),
    "duplicate_id": ("重复的事项。", "A duplicate item."),
    "wrong_code": (
        "楼栋、单元、房号或住户码不对。",
        "The building, unit, flat or resident code is wrong.",
    ),
    "too_many_tries": ("尝试次数太多，请一小时后再试。", "Too many tries: please try again in an hour."),
    "refused": ("不能这样做。", "This is not possible."),
}


def _pick(pair: tuple[str, str]) -> str:
    return pair[1] if str(get_locale() or "zh_CN").startswith("en") else pair[0]


def reason(code: str) -> str:
    """A refusal's reason code (or an upload's English message, "upload:...") in the page's language."""
    if code.startswith("upload:"):
        return gettext(code[len("upload:") :])
    if code in CODES:
        return _pick(CODES[code])
    if code in account_rules.REASONS:
        return _pick(account_rules.REASONS[code])
    return code


def reasons(errors: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Field → its messages in the page's language (for `web/forms.html`)."""
    return {field: [reason(code) for code in codes] for field, codes in errors.items()}


def status_label(status: str) -> str:
    return _pick(plan_rules.STATUS_LABELS[status]) if status in plan_rules.STATUS_LABELS else status


def category_label(kind: str, category: str) -> str:
    pair = account_rules.CATEGORIES.get(kind, {}).get(category)
    return _pick(pair) if pair else category


def kind_label(kind: str) -> str:
    return _pick({"income": ("收入", "Income"), "spending": ("支出", "Spending")}.get(kind, (kind, kind)))


def localised_title(zh: str, en: str) -> str:
    """An item's title: the English one on English pages when the committee gave one."""
    return en if en and str(get_locale() or "zh_CN").startswith("en") else zh
