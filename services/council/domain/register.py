"""The household register's rows: reading a spreadsheet's table into validated flats, pure code.

A register file is a table with a header row. Columns are found by their header, in Chinese or
English (`COLUMNS`), in any order; unknown columns are ignored. Every data row is checked on its
own (`parse_row`) and against the rows before it (a flat listed twice); `parse_table` returns the
good rows and one `RowError` per problem, each with the spreadsheet's row number (the header is
row 1) so a committee member can find it in Excel.

Areas are exact decimals of square metres with at most two places, kept as integer hundredths
(`area_hundredths`): sums of areas for Art 278 votes never go through floats.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

# Field → the headers that name it (compared after NFKC, case and space folding).
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "building": ("building", "楼栋", "楼号", "栋", "幢"),
    "unit": ("unit", "单元"),
    "flat": ("flat", "房号", "室", "户号", "门牌"),
    "area": ("area", "exclusive area", "area (m2)", "area m2", "专有部分面积", "面积", "建筑面积"),
    "owner_names": ("owner", "owners", "owner name", "owner names", "业主", "业主姓名", "姓名"),
    "phones": ("phone", "phones", "contact phone", "联系电话", "电话", "手机"),
    "owner_key": ("owner key", "owner id", "业主编号", "业主代码"),
    "occupancy": ("occupancy", "居住情况", "使用情况", "自住/出租"),
    "developer_held": ("developer held", "developer-held", "developer", "开发商持有", "开发商未售"),
}
REQUIRED_COLUMNS = ("building", "unit", "flat", "area", "owner_names", "occupancy")

OCCUPANCY = ("owner_occupied", "let", "vacant")
# What people type in the occupancy column → the stored value.
OCCUPANCY_WORDS: Mapping[str, str] = {
    "owner_occupied": "owner_occupied",
    "owner-occupied": "owner_occupied",
    "owner occupied": "owner_occupied",
    "owner": "owner_occupied",
    "自住": "owner_occupied",
    "let": "let",
    "rented": "let",
    "rent": "let",
    "出租": "let",
    "vacant": "vacant",
    "empty": "vacant",
    "空置": "vacant",
}
YES_WORDS = frozenset({"yes", "y", "true", "1", "是", "√", "✓"})
NO_WORDS = frozenset({"", "no", "n", "false", "0", "否"})

# A flat's exclusive area: positive, two decimals at most, and below what any one flat has.
MAX_AREA = Decimal("10000")
MAX_LABEL = 20  # building, unit, flat labels: "12", "A座", "1201"
MAX_NAME = 40
MAX_OWNERS = 6
MAX_PHONES = 4
# A mainland mobile (11 digits from 13 to 19) or a landline with its area code (0 + 9 to 11 digits).
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{9,11}$")
# Several names or phones in one cell: separated by an ideographic comma, a comma, a semicolon,
# a slash or a new line (full-width ones are folded to ASCII first).
_SEPARATORS = re.compile(r"[、,;/\n]+")
# The key of an owner's flats when the file gives none for a developer-held flat: all of them
# count as one person in total (SPC interpretation, Art 9).
DEVELOPER_KEY = "developer"


# Every reason a row can be refused: code → English text (%-style placeholders). Pages translate
# the same codes (services/council/http/register_text.py); the API sends code, params and text.
MESSAGES: Mapping[str, str] = {
    "missing": "the %(field)s is missing",
    "too_long": "the %(field)s is longer than %(limit)s characters",
    "area_not_number": "the area %(value)s is not a number",
    "area_not_positive": "the area must be more than 0 m²",
    "area_too_large": "the area must be less than %(limit)s m²",
    "area_decimals": "the area has more than two decimal places",
    "not_yes_no": "%(value)s is not yes or no (是/否)",
    "owner_missing": "the owner's name is missing",
    "too_many_owners": "more than %(limit)s owners in one flat",
    "name_too_long": "a name is longer than %(limit)s characters",
    "too_many_phones": "more than %(limit)s phones in one flat",
    "bad_phone": "%(value)s is not a mobile or landline number",
    "bad_occupancy": "unknown occupancy %(value)s: use owner_occupied (自住), let (出租) or vacant (空置)",
    "duplicate_in_file": "the same flat as row %(first)s",
    "in_register": "this flat is already in the register (edit it there instead)",
    "no_rows": "the file has no rows under its header",
    "not_editable": "the %(field)s cannot be changed here",
}


# Why a whole file cannot be read as a register: code → English text (pages translate the codes).
FILE_MESSAGES: Mapping[str, str] = {
    "empty": "the file is empty",
    "xls": "old .xls files cannot be read: save the sheet as .xlsx or CSV",
    "encoding": "the file is neither UTF-8 nor GB18030 text",
    "not_csv": "the file is not a CSV table",
    "not_xlsx": "the file is not a readable XLSX workbook",
    "columns": "the header row lacks the columns: %(columns)s",
    "too_many_rows": "the file has more than %(limit)s rows; split it by building",
}


class RegisterFileError(ValueError):
    """A file that is not a register table at all (no header, missing columns, unreadable)."""

    def __init__(self, code: str, **params: object) -> None:
        self.code = code
        self.params = {key: str(value) for key, value in params.items()}
        super().__init__(FILE_MESSAGES[code] % self.params)


class Problem(ValueError):
    """A value refused for a reason in `MESSAGES`, with the reason's parameters."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(MESSAGES[code] % {key: str(value) for key, value in params.items()})
        self.code = code
        self.params = {key: str(value) for key, value in params.items()}


@dataclass(frozen=True)
class RowError:
    """One problem of one row: its spreadsheet row number, the field (or None) and the reason's
    code and parameters (see `MESSAGES`)."""

    row: int
    field: str | None
    code: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """The reason in English."""
        return MESSAGES[self.code] % dict(self.params)

    def __str__(self) -> str:
        where = f" ({self.field})" if self.field else ""
        return f"row {self.row}{where}: {self.reason}"


@dataclass(frozen=True)
class FlatRow:
    """One flat of the register as validated from a file or an edit."""

    building: str
    unit: str
    flat: str
    area_hundredths: int
    owner_names: tuple[str, ...]
    phones: tuple[str, ...]
    owner_key: str
    occupancy: str
    developer_held: bool
    row: int = 0  # where it came from in its file (0 for an edit)

    @property
    def area(self) -> Decimal:
        return area_from_hundredths(self.area_hundredths)

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.building, self.unit, self.flat)


@dataclass
class ParsedTable:
    """The outcome of reading a register table: the good rows and every row's problems."""

    rows: list[FlatRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.errors and bool(self.rows)


def fold(text: str) -> str:
    """NFKC (full-width digits and letters become ASCII), trimmed, inner spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text or "").split())


def flat_label(value: str) -> str:
    """A building, unit or flat label as stored: folded, upper-case letters (`a座` = `A座`)."""
    return fold(value).upper()


def area_from_hundredths(hundredths: int) -> Decimal:
    return (Decimal(hundredths) / 100).quantize(Decimal("0.01"))


def parse_area(raw: str) -> int:
    """Square metres as written ("89.5", "89.50", "89.5㎡") → integer hundredths; `Problem` if not."""
    text = fold(raw).lower().replace("㎡", "").replace("m2", "").replace("m²", "").replace(",", "").strip()
    if not text:
        raise Problem("missing", field="area")
    try:
        value = Decimal(text)
    except InvalidOperation as err:
        raise Problem("area_not_number", value=repr(raw.strip())) from err
    if not value.is_finite():
        raise Problem("area_not_number", value=repr(raw.strip()))
    if value <= 0:
        raise Problem("area_not_positive")
    if value >= MAX_AREA:
        raise Problem("area_too_large", limit=MAX_AREA)
    hundredths = value * 100
    if hundredths != hundredths.to_integral_value():
        raise Problem("area_decimals")
    return int(hundredths)


def parse_phone(raw: str) -> str:
    """A phone as stored: digits only (spaces, dashes and a +86 prefix dropped); `Problem` if not."""
    digits = re.sub(r"[\s\-()]", "", fold(raw))  # fold() turns full-width brackets into ASCII
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not digits.isdigit() or not (_MOBILE.match(digits) or _LANDLINE.match(digits)):
        raise Problem("bad_phone", value=repr(raw.strip()))
    return digits


def split_cell(raw: str) -> list[str]:
    """Several values in one cell ("王芳、李强") → the values, trimmed, empty ones dropped."""
    parts = _SEPARATORS.split(unicodedata.normalize("NFKC", raw or ""))
    return [part for part in (fold(p) for p in parts) if part]


def parse_occupancy(raw: str) -> str:
    value = OCCUPANCY_WORDS.get(fold(raw).lower())
    if value is None:
        raise (
            Problem("missing", field="occupancy")
            if not fold(raw)
            else Problem("bad_occupancy", value=repr(raw.strip()))
        )
    return value


def parse_yes_no(raw: str) -> bool:
    text = fold(raw).lower()
    if text in YES_WORDS:
        return True
    if text in NO_WORDS:
        return False
    raise Problem("not_yes_no", value=repr(raw.strip()))


def validate_flat(values: Mapping[str, str], row: int = 0) -> tuple[FlatRow | None, list[RowError]]:
    """Check one flat's fields (strings as typed); the flat, or None with every problem found.

    Used for file rows and for edits of one flat, so both follow the same rules.
    """
    errors: list[RowError] = []

    def bad(field_name: str | None, code: str, **params: object) -> None:
        errors.append(RowError(row, field_name, code, {k: str(v) for k, v in params.items()}))

    def refused(field_name: str, problem: Problem) -> None:
        errors.append(RowError(row, field_name, problem.code, problem.params))

    labels: dict[str, str] = {}
    for name in ("building", "unit", "flat"):
        label = flat_label(values.get(name, ""))
        if not label:
            bad(name, "missing", field=name)
        elif len(label) > MAX_LABEL:
            bad(name, "too_long", field=name, limit=MAX_LABEL)
        labels[name] = label

    area = 0
    try:
        area = parse_area(values.get("area", ""))
    except Problem as err:
        refused("area", err)

    developer_held = False
    try:
        developer_held = parse_yes_no(values.get("developer_held", ""))
    except Problem as err:
        refused("developer_held", err)

    names = split_cell(values.get("owner_names", ""))
    if not names and not developer_held:
        bad("owner_names", "owner_missing")
    elif len(names) > MAX_OWNERS:
        bad("owner_names", "too_many_owners", limit=MAX_OWNERS)
    elif any(len(name) > MAX_NAME for name in names):
        bad("owner_names", "name_too_long", limit=MAX_NAME)

    phones: list[str] = []
    raw_phones = split_cell(values.get("phones", ""))
    if len(raw_phones) > MAX_PHONES:
        bad("phones", "too_many_phones", limit=MAX_PHONES)
    for raw in raw_phones:
        try:
            phone = parse_phone(raw)
        except Problem as err:
            refused("phones", err)
            continue
        if phone not in phones:
            phones.append(phone)

    occupancy = ""
    try:
        occupancy = parse_occupancy(values.get("occupancy", ""))
    except Problem as err:
        refused("occupancy", err)

    owner_key = fold(values.get("owner_key", ""))
    if len(owner_key) > MAX_NAME:
        bad("owner_key", "too_long", field="owner key", limit=MAX_NAME)
    if not owner_key:
        # No key given: a developer's flat joins the developer's one person; any other flat is
        # its own owner (merging owners by name or phone would guess, and a wrong merge takes a
        # household's voice away).
        owner_key = DEVELOPER_KEY if developer_held else "flat:" + "-".join(labels.values())

    if errors:
        return None, errors
    return (
        FlatRow(
            building=labels["building"],
            unit=labels["unit"],
            flat=labels["flat"],
            area_hundredths=area,
            owner_names=tuple(names),
            phones=tuple(phones),
            owner_key=owner_key,
            occupancy=occupancy,
            developer_held=developer_held,
            row=row,
        ),
        [],
    )


def map_columns(header: Sequence[str]) -> dict[str, int]:
    """Field → column index for a header row; RegisterFileError names what is missing."""
    wanted = {fold(alias).lower(): name for name, aliases in COLUMNS.items() for alias in aliases}
    found: dict[str, int] = {}
    for index, title in enumerate(header):
        name = wanted.get(fold(str(title or "")).lower())
        if name is not None and name not in found:
            found[name] = index
    missing = [name for name in REQUIRED_COLUMNS if name not in found]
    if missing:
        raise RegisterFileError("columns", columns=", ".join(missing))
    return found


def parse_table(table: Sequence[Sequence[str]], max_rows: int = 5000) -> ParsedTable:
    """Validate a whole table (header first). Blank rows are skipped; row numbers are the file's."""
    if not table:
        raise RegisterFileError("empty")
    columns = map_columns(table[0])
    result = ParsedTable()
    seen: dict[tuple[str, str, str], int] = {}
    data = [(number, cells) for number, cells in enumerate(table[1:], start=2) if any(fold(c) for c in cells)]
    if len(data) > max_rows:
        raise RegisterFileError("too_many_rows", limit=max_rows)
    for number, cells in data:
        values = {name: (cells[index] if index < len(cells) else "") for name, index in columns.items()}
        flat, errors = validate_flat(values, number)
        result.errors.extend(errors)
        if flat is None:
            continue
        first = seen.get(flat.identity)
        if first is not None:
            result.errors.append(RowError(number, "flat", "duplicate_in_file", {"first": str(first)}))
            continue
        seen[flat.identity] = number
        result.rows.append(flat)
    if not data:
        result.errors.append(RowError(1, None, "no_rows"))
    return result


def against_register(rows: Iterable[FlatRow], existing: Iterable[tuple[str, str, str]]) -> list[RowError]:
    """Rows naming a flat the register already holds (an import adds flats; edits change them)."""
    known = set(existing)
    return [RowError(row.row, "flat", "in_register") for row in rows if row.identity in known]


@dataclass(frozen=True)
class CountedFlat:
    """What the Art 278 count needs of one flat, and nothing personal: the register's flat id,
    its building, its exclusive area (integer hundredths of m²), its owner key (one person per
    key) and whether the developer still holds it (all such flats count as one person)."""

    flat_id: str
    building: str
    area_hundredths: int
    owner_key: str
    developer_held: bool

    @property
    def area(self) -> Decimal:
        return area_from_hundredths(self.area_hundredths)


def natural_key(label: str) -> tuple[tuple[int, object], ...]:
    """Sort labels as people count: building 2 before building 10, "A座" after them."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", label) if part
    )
