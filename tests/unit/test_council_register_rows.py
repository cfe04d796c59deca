"""The household register's rows as pure code: reading CSV/XLSX bytes into a table, and checking
each row (areas exact to the hundredth, phones, occupancy, duplicates) with its row number."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from openpyxl import Workbook

from services.council.domain.register import (
    DEVELOPER_KEY,
    RegisterFileError,
    against_register,
    natural_key,
    parse_area,
    parse_phone,
    parse_table,
    split_cell,
    validate_flat,
)
from services.council.spreadsheets import read_table

HEADER_ZH = [
    "楼栋",
    "单元",
    "房号",
    "专有部分面积",
    "业主姓名",
    "联系电话",
    "业主编号",
    "居住情况",
    "开发商持有",
]
HEADER_EN = ["building", "unit", "flat", "area", "owner", "phone", "owner key", "occupancy", "developer held"]
GOOD = ["1", "1", "101", "89.50", "王芳", "13800138000", "W1", "自住", "否"]


def table(*rows: list[str], header: list[str] = HEADER_ZH) -> list[list[str]]:
    return [header, *rows]


def codes(parsed) -> list[tuple[int, str | None, str]]:
    return [(e.row, e.field, e.code) for e in parsed.errors]


# --- areas ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "hundredths"),
    [
        ("89.5", 8950),
        ("89.50", 8950),
        ("89", 8900),
        ("0.01", 1),
        ("\uff11\uff12\uff10\uff0e\uff13", 12030),
        ("75.25㎡", 7525),
    ],
)
# Full-width digits (\uff11... = "1"...) and commas are what Chinese input methods often type.
def test_areas_are_exact_hundredths(raw: str, hundredths: int) -> None:
    assert parse_area(raw) == hundredths


def test_areas_never_go_through_floats() -> None:
    # 0.1 + 0.2 as floats is 0.30000000000000004; as hundredths the sum of rows is exact.
    total = sum(parse_area(raw) for raw in ("0.10", "0.20"))
    assert total == 30
    assert Decimal(total) / 100 == Decimal("0.3")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "missing"),
        ("abc", "area_not_number"),
        ("NaN", "area_not_number"),
        ("Infinity", "area_not_number"),
        ("0", "area_not_positive"),
        ("-12.5", "area_not_positive"),
        ("89.505", "area_decimals"),
        ("10000", "area_too_large"),
    ],
)
def test_bad_areas_are_refused_with_their_reason(raw: str, code: str) -> None:
    flat, errors = validate_flat(dict(zip(HEADER_EN_KEYS, [*GOOD[:3], raw, *GOOD[4:]], strict=True)), 7)
    assert flat is None
    assert [(e.row, e.field, e.code) for e in errors] == [(7, "area", code)]


HEADER_EN_KEYS = [
    "building",
    "unit",
    "flat",
    "area",
    "owner_names",
    "phones",
    "owner_key",
    "occupancy",
    "developer_held",
]


# --- phones, names, occupancy -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("138 0013 8000", "13800138000"), ("+86 13800138000", "13800138000"), ("010-62345678", "01062345678")],
)
def test_phones_are_stored_as_digits(raw: str, stored: str) -> None:
    assert parse_phone(raw) == stored


@pytest.mark.parametrize("raw", ["12345", "23800138000", "1380013800", "phone", "138001380001"])
def test_bad_phones_are_refused(raw: str) -> None:
    values = dict(zip(HEADER_EN_KEYS, GOOD, strict=True)) | {"phones": raw}
    flat, errors = validate_flat(values, 3)
    assert flat is None and [(e.field, e.code) for e in errors] == [("phones", "bad_phone")]


def test_several_owners_and_phones_in_one_cell() -> None:
    assert split_cell("王芳、李强\uff0c赵六; 钱七") == ["王芳", "李强", "赵六", "钱七"]
    values = dict(zip(HEADER_EN_KEYS, GOOD, strict=True)) | {
        "owner_names": "王芳、李强",
        "phones": "13800138000\uff0c13900139000",
    }
    flat, errors = validate_flat(values, 2)
    assert errors == [] and flat is not None
    assert flat.owner_names == ("王芳", "李强")
    assert flat.phones == ("13800138000", "13900139000")


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("自住", "owner_occupied"), ("Owner-occupied", "owner_occupied"), ("出租", "let"), ("空置", "vacant")],
)
def test_occupancy_words(raw: str, stored: str) -> None:
    values = dict(zip(HEADER_EN_KEYS, GOOD, strict=True)) | {"occupancy": raw}
    flat, _ = validate_flat(values)
    assert flat is not None and flat.occupancy == stored


def test_unknown_occupancy_and_yes_no_are_refused() -> None:
    values = dict(zip(HEADER_EN_KEYS, GOOD, strict=True)) | {"occupancy": "借住", "developer_held": "maybe"}
    flat, errors = validate_flat(values, 4)
    assert flat is None
    assert sorted((e.field, e.code) for e in errors) == [
        ("developer_held", "not_yes_no"),
        ("occupancy", "bad_occupancy"),
    ]


def test_owner_key_defaults() -> None:
    values = dict(zip(HEADER_EN_KEYS, GOOD, strict=True)) | {"owner_key": ""}
    flat, _ = validate_flat(values)
    assert flat is not None and flat.owner_key == "flat:1-1-101"  # its own owner, never merged by guess
    developer = values | {"owner_names": "", "developer_held": "是", "occupancy": "空置"}
    flat, errors = validate_flat(developer)
    assert errors == [] and flat is not None
    assert flat.owner_key == DEVELOPER_KEY and flat.developer_held and flat.owner_names == ()


def test_a_missing_owner_is_refused_unless_the_developer_holds_the_flat() -> None:
    values = dict(zip(HEADER_EN_KEYS, GOOD, strict=True)) | {"owner_names": " "}
    flat, errors = validate_flat(values, 9)
    assert flat is None and [(e.row, e.field, e.code) for e in errors] == [
        (9, "owner_names", "owner_missing")
    ]


# --- whole tables -----------------------------------------------------------------------------------


def test_every_bad_row_is_listed_with_its_row_number() -> None:
    parsed = parse_table(
        table(
            GOOD,
            ["1", "1", "102", "-3", "李强", "13900139000", "", "自住", ""],
            ["1", "1", "103", "70", "", "13900139000", "", "出租", ""],
            [],  # a blank row in the middle is skipped, yet row numbers stay the file's
            ["1", "1", "101", "88", "赵六", "", "", "自住", ""],
            ["", "1", "104", "70", "孙七", "12", "", "自住", ""],
        )
    )
    assert not parsed.clean
    assert codes(parsed) == [
        (3, "area", "area_not_positive"),
        (4, "owner_names", "owner_missing"),
        (6, "flat", "duplicate_in_file"),
        (7, "building", "missing"),
        (7, "phones", "bad_phone"),
    ]
    assert parsed.errors[2].params == {"first": "2"}
    assert [row.row for row in parsed.rows] == [2]


def test_duplicates_are_found_after_folding_labels() -> None:
    parsed = parse_table(table(GOOD, ["\uff11", "1", "101", "70", "李强", "", "", "自住", ""]))
    assert codes(parsed) == [(3, "flat", "duplicate_in_file")]


def test_a_clean_table_in_english_columns_in_another_order() -> None:
    header = ["owner", "flat", "unit", "building", "area", "occupancy"]
    parsed = parse_table([header, ["王芳", "201", "2", "3", "100.25", "let"]])
    assert parsed.clean
    (row,) = parsed.rows
    assert (row.building, row.unit, row.flat, row.area, row.occupancy) == (
        "3",
        "2",
        "201",
        Decimal("100.25"),
        "let",
    )


def test_missing_columns_and_empty_files_are_file_errors() -> None:
    with pytest.raises(RegisterFileError, match="area"):
        parse_table([["楼栋", "单元", "房号", "业主姓名", "居住情况"], GOOD[:5]])
    with pytest.raises(RegisterFileError):
        parse_table([])
    only_header = parse_table(table())
    assert not only_header.clean and codes(only_header) == [(1, None, "no_rows")]


def test_rows_already_in_the_register() -> None:
    parsed = parse_table(table(GOOD, ["1", "1", "102", "70", "李强", "", "", "自住", ""]))
    errors = against_register(parsed.rows, {("1", "1", "102")})
    assert [(e.row, e.code) for e in errors] == [(3, "in_register")]


def test_natural_order_of_labels() -> None:
    assert sorted(["10", "2", "1", "A座"], key=natural_key) == ["1", "2", "10", "A座"]


# --- files --------------------------------------------------------------------------------------------


def csv_bytes(rows: list[list[str]], encoding: str) -> bytes:
    return "\r\n".join(",".join(row) for row in rows).encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_in_the_encodings_excel_writes(encoding: str) -> None:
    rows = read_table("register.csv", csv_bytes(table(GOOD), encoding))
    assert rows[0] == HEADER_ZH
    parsed = parse_table(rows)
    assert parsed.clean and parsed.rows[0].owner_names == ("王芳",)


def test_xlsx_first_sheet_with_numbers_as_typed() -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER_ZH)
    sheet.append([1, 1, 101, 89.5, "王芳", 13800138000, "W1", "自住", "否"])
    sheet.append([1, 2, 201, 120, "李强", None, None, "出租", None])
    buffer = io.BytesIO()
    book.save(buffer)
    rows = read_table("register.xlsx", buffer.getvalue())
    assert rows[1][:4] == ["1", "1", "101", "89.5"]
    parsed = parse_table(rows)
    assert parsed.clean
    assert [r.area_hundredths for r in parsed.rows] == [8950, 12000]
    assert parsed.rows[0].phones == ("13800138000",)


def test_unreadable_files_are_file_errors() -> None:
    with pytest.raises(RegisterFileError):
        read_table("register.xlsx", b"PK\x03\x04 not really a zip")
    with pytest.raises(RegisterFileError):
        read_table("register.csv", b"")
    with pytest.raises(RegisterFileError, match="xls"):
        read_table("old.xls", b"\xd0\xcf\x11\xe0 legacy")
