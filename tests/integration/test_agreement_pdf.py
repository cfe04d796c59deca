# Chinese sample text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""The written agreement as a real PDF: rendered in Chinese and English with embedded CJK fonts, read
back with poppler (pdftotext for the words, pdftoppm for the pixels)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from services.mediation.agreement_pdf import (
    Agent,
    AgreementData,
    FontNotFound,
    InvalidAgreement,
    Party,
    find_font,
    render_pdf,
)
from shared.pdf_fonts import BODY

DATA = AgreementData(
    number="至和调字〔2026〕第012号",
    case_reference="LC-2026-000123",
    signed_on=date(2026, 3, 6),
    committee="莲花社区人民调解委员会",
    applicants=(
        Party("张三", "莲花小区3栋2-301", "13800138000", "男", 45),
        Party("王五", "莲花小区3栋2-302", "13700137000"),
    ),
    respondents=(Party("李四", "莲花小区3栋3-301", "13900139000", "女", 38),),
    agents=(Agent("赵六", "李四", "委托代理人", "13600136000"),),
    facts="被申请人李四家卫生间防水层老化，自2026年1月起持续向楼下申请人张三、王五家渗水，造成天花板霉变、墙面脱落。",
    issues="漏水原因及修复责任；申请人房屋损失的赔偿数额。",
    responsibility="经现场查看，漏水系被申请人卫生间防水层老化所致，被申请人应承担修复及赔偿责任。",
    terms=(
        "被申请人李四于2026年3月20日前请有资质的施工单位重做卫生间防水层，费用由被申请人承担。",
        "被申请人李四赔偿申请人张三天花板修复费用人民币1200元，赔偿申请人王五人民币800元。",
        "修复完成后，由社区巡逻队会同双方现场验收。",
    ),
    performance_method="一次性现金或转账支付；防水工程由被申请人委托施工。",
    performance_place="莲花社区人民调解委员会调解室",
    performance_deadline="2026年3月31日前",
    mediators=("陈调解",),
    recorder="刘记录",
)

needs_poppler = pytest.mark.skipif(
    not (shutil.which("pdftotext") and shutil.which("pdftoppm")),
    reason="poppler-utils missing: run devtools/install_system_deps.sh",
)


def _text(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, timeout=60)
    return out.stdout.decode("utf-8")


def _pages(pdf: Path, prefix: Path) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(prefix)], check=True, timeout=60)
    return sorted(prefix.parent.glob(f"{prefix.name}*.png"))


def _ink(png: Path) -> float:
    """The share of clearly dark pixels: text on a page."""
    gray = Image.open(png).convert("L")
    histogram = gray.histogram()
    return sum(histogram[:128]) / (gray.width * gray.height)


def _render(tmp_path: Path, language: str) -> Path:
    pdf = tmp_path / f"agreement-{language}.pdf"
    pdf.write_bytes(render_pdf(DATA, language))
    return pdf


def _squash(text: str) -> str:
    # pdftotext may split a line of Chinese text with spaces or line breaks: compare without them.
    return "".join(text.split())


@needs_poppler
def test_chinese_agreement_reads_back_with_every_required_item(tmp_path: Path) -> None:
    pdf = _render(tmp_path, "zh-CN")
    assert pdf.read_bytes().startswith(b"%PDF-")
    text = _squash(_text(pdf))
    for expected in (
        "人民调解协议书",
        "编号：至和调字〔2026〕第012号",
        "案件编号：LC-2026-000123",  # the reference the resident knows, beside the number
        "申请人：张三，男，45岁",
        "王五",
        "被申请人：李四，女，38岁",
        "委托代理人：赵六",
        "纠纷主要事实",
        "争议事项",
        "各方责任",
        "1.被申请人李四于2026年3月20日前",
        "3.修复完成后",
        "履行方式",
        "履行地点：莲花社区人民调解委员会调解室",
        "履行期限：2026年3月31日前",
        "本协议一式4份",  # three parties plus one kept
        "三十日内共同向人民法院申请司法确认",
        "签名、盖章或按指印",
        "人民调解员：陈调解",
        "记录人：刘记录",
        "（签名）",
        "莲花社区人民调解委员会（盖章）",
        "2026年3月6日",
    ):
        assert _squash(expected) in text, expected


@needs_poppler
def test_english_agreement_keeps_the_parties_names_in_chinese(tmp_path: Path) -> None:
    text = _squash(_text(_render(tmp_path, "en")))
    for expected in (
        "People's Mediation Agreement",
        "人民调解协议书",
        "No. 至和调字〔2026〕第012号 · Case LC-2026-000123",
        "Applicant: 张三, 男, age 45",
        "Respondent: 李四",
        "judicial confirmation (司法确认) within 30 days",
        "made in 4 copies",
        "Where: 莲花社区人民调解委员会调解室",
        "Mediator: 陈调解",
        "Recorder: 刘记录",
        "(signature)",
        "6 March 2026",
    ):
        assert _squash(expected) in text, expected


@needs_poppler
@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_pages_are_not_blank_and_fonts_are_embedded(tmp_path: Path, language: str) -> None:
    pdf = _render(tmp_path, language)
    pages = _pages(pdf, tmp_path / f"page-{language}")
    assert pages, "pdftoppm produced no page"
    assert _ink(pages[0]) > 0.01  # a page of text, not an empty sheet
    fonts = subprocess.run(
        ["pdffonts", str(pdf)], capture_output=True, check=True, timeout=60
    ).stdout.decode()
    rows = [line for line in fonts.splitlines()[2:] if line.strip()]
    assert rows and all(" yes " in row for row in rows), fonts  # every font embedded (emb column)


@needs_poppler
def test_title_is_drawn_in_ink_where_the_title_goes(tmp_path: Path) -> None:
    # The top band of page 1 holds the title: real glyphs, not empty boxes or nothing.
    page = _pages(_render(tmp_path, "zh-CN"), tmp_path / "p")[0]
    image = Image.open(page).convert("L")
    band = image.crop((0, int(image.height * 0.06), image.width, int(image.height * 0.12)))
    dark = sum(band.histogram()[:128])
    assert dark > 200, dark


def test_rendering_is_deterministic() -> None:
    assert render_pdf(DATA, "zh-CN") == render_pdf(DATA, "zh-CN")
    assert render_pdf(DATA, "zh-CN") != render_pdf(DATA, "en")


def test_agreement_missing_what_the_law_requires_is_refused() -> None:
    broken = AgreementData(**{**DATA.__dict__, "performance_place": " ", "terms": (), "respondents": ()})
    with pytest.raises(InvalidAgreement) as err:
        render_pdf(broken)
    message = str(err.value)
    assert "performance_place" in message and "term" in message and "respondent" in message
    unmatched = AgreementData(**{**DATA.__dict__, "case_reference": " "})
    with pytest.raises(InvalidAgreement, match="case_reference"):
        unmatched.validate()
    too_few = AgreementData(**{**DATA.__dict__, "copies": 3})
    with pytest.raises(InvalidAgreement, match="copies"):
        too_few.validate()
    stray_agent = AgreementData(**{**DATA.__dict__, "agents": (Agent("某", "不存在"),)})
    with pytest.raises(InvalidAgreement, match="unknown party"):
        stray_agent.validate()
    with pytest.raises(ValueError, match="no agreement form"):
        render_pdf(DATA, "fr")


def test_a_missing_font_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(FontNotFound, match="fonts-arphic-uming"):
        find_font(BODY, [tmp_path])
    assert find_font(BODY).name == "uming.ttc"
