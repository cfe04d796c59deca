"""Reading an uploaded register file into a table of strings: CSV (UTF-8 with or without BOM, or
GB18030 as Chinese Excel saves it) and XLSX (the first sheet, through openpyxl).

No database and no web here: bytes in, rows of cell strings out, for `domain.register.parse_table`.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime
from decimal import Decimal

from services.council.domain.register import RegisterFileError

MAX_COLUMNS = 40  # a register has ten or so; more is a wrong sheet, not a register


def read_table(filename: str, data: bytes) -> list[list[str]]:
    """The file's rows as strings; RegisterFileError when it is neither a readable CSV nor XLSX."""
    if not data:
        raise RegisterFileError("empty")
    name = (filename or "").lower()
    if data[:4] == b"PK\x03\x04" or name.endswith(".xlsx"):
        return read_xlsx(data)
    if name.endswith(".xls"):
        raise RegisterFileError("xls")
    return read_csv(data)


def decode_csv(data: bytes) -> str:
    """UTF-8 (a BOM is dropped), else GB18030, the superset of GBK that Chinese Excel writes."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as err:
        raise RegisterFileError("encoding") from err


def read_csv(data: bytes) -> list[list[str]]:
    text = decode_csv(data)
    if "\x00" in text:
        raise RegisterFileError("not_csv")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel  # type: ignore[assignment]
    rows = [row[:MAX_COLUMNS] for row in csv.reader(io.StringIO(text), dialect)]
    return [[cell.strip() for cell in row] for row in rows]


def read_xlsx(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook  # imported here: only XLSX uploads need it

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
        raise RegisterFileError("not_xlsx") from err
    try:
        sheet = workbook.worksheets[0]
        return [
            [cell_text(value) for value in row[:MAX_COLUMNS]] for row in sheet.iter_rows(values_only=True)
        ]
    finally:
        workbook.close()


def cell_text(value: object) -> str:
    """A cell as the committee typed it: 301 not "301.0", 89.5 not "89.50000001"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # repr is the shortest string that reads back as the same float: Excel's 89.5 stays 89.5.
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()
