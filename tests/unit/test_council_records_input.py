# Residents type full-width characters.
# ruff: noqa: RUF001
"""What committee members and residents type for the plan and the accounts: decimals without floats,
item fields, resident codes, and photos re-encoded without their metadata. No I/O."""

from __future__ import annotations

import io
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from services.council import accounts, plan
from shared.images import MAX_SIDE, strip_metadata
from shared.uploads import UploadError


@pytest.mark.parametrize(
    ("text", "places", "expected"),
    [
        ("12800.00", 2, Decimal("12800.00")),
        ("１２,８００.５", 2, Decimal("12800.5")),  # full-width digits and a thousands comma
        ("¥ 30 元", 2, Decimal("30")),
        ("0.1", 2, Decimal("0.1")),
        ("12.345", 2, None),
        ("1e3", 2, None),
        ("NaN", 2, None),
        ("Infinity", 2, None),
        ("", 2, None),
        ("abc", 2, None),
        ("0.0001", 4, Decimal("0.0001")),
    ],
)
def test_parse_decimal(text: str, places: int, expected: Decimal | None) -> None:
    assert plan.parse_decimal(text, places) == expected


@given(st.integers(min_value=0, max_value=10**12))
def test_fen_and_yuan_round_trip_exactly(fen: int) -> None:
    text = plan.yuan(fen)
    assert text is not None and plan.fen(Decimal(text)) == fen
    assert plan.parse_decimal(text, 2) == Decimal(fen) / 100


def test_item_fields_list_every_problem() -> None:
    values = {"title": "", "progress": "150", "budget": "-1", "start": "2026-06-01", "end": "2026-05-01",
              "weight": "0", "colour": "red", "status": "finished"}  # fmt: skip
    _, errors = plan.parse_fields(values, creating=True)
    assert errors == {
        "colour": ["not_a_field"],
        "title": ["required"],
        "status": ["unknown_status"],
        "progress": ["progress_out_of_range"],
        "weight": ["weight_not_positive"],
        "budget": ["bad_budget"],
        "end": ["end_before_start"],
    }


def test_a_new_items_progress_follows_its_status_unless_typed() -> None:
    done, errors = plan.parse_fields({"title": "大门", "status": "done"}, creating=True)
    assert errors == {} and done["progress"] == "100"
    planned, _ = plan.parse_fields({"title": "大门"}, creating=True)
    assert (planned["status"], planned["progress"]) == ("planned", "0")
    edited, _ = plan.parse_fields({"budget": "12800.10"}, creating=False)
    assert edited == {"budget_fen": 1280010}  # absent fields stay absent when editing


def test_resident_codes_normalise_and_hash_per_flat() -> None:
    assert accounts.normalise_code(" acdef-ghjkm ") == "ACDEFGHJKM"
    assert accounts.normalise_code("ＡＣＤＥＦ　ＧＨＪＫＭ") == "ACDEFGHJKM"  # full-width, ideographic space
    one = accounts.code_hash("secret", "f1", "ACDEFGHJKM")
    assert one == accounts.code_hash("secret", "f1", "ACDEFGHJKM")
    assert one != accounts.code_hash("secret", "f2", "ACDEFGHJKM")  # bound to the flat
    assert one != accounts.code_hash("other", "f1", "ACDEFGHJKM")  # keyed
    assert "ACDEFGHJKM" not in one


def _jpeg_with_exif(size: tuple[int, int] = (40, 30), orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (Fraction(31), Fraction(14), Fraction(1))
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_strip_metadata_drops_exif_and_gps_and_keeps_the_picture_upright() -> None:
    original = _jpeg_with_exif(orientation=8)  # rotate 270°
    assert b"PhoneMaker" in original
    clean = strip_metadata(original)
    image = Image.open(io.BytesIO(clean))
    assert image.format == "JPEG" and dict(image.getexif()) == {}
    assert b"PhoneMaker" not in clean and b"Exif" not in clean
    assert image.size == (30, 40)


def test_strip_metadata_flattens_transparency_and_limits_the_size() -> None:
    out = io.BytesIO()
    png = Image.new("RGBA", (MAX_SIDE * 2, 10), (0, 0, 0, 0))
    png.info["Comment"] = "secret"
    png.save(out, format="PNG")
    image = Image.open(io.BytesIO(strip_metadata(out.getvalue())))
    assert image.mode == "RGB" and max(image.size) == MAX_SIDE
    assert image.getpixel((5, 2)) == (255, 255, 255)  # transparent became white, not black


def test_strip_metadata_refuses_what_is_not_an_image() -> None:
    with pytest.raises(UploadError):
        strip_metadata(b"\xff\xd8\xff\xe0 truncated jpeg")
