# The Chinese form text uses Chinese (full-width) punctuation on purpose.
# ruff: noqa: RUF001
"""Render an `AgreementData` as an A4 PDF, in Chinese (`zh-CN`) or English (`en`), with reportlab.

The layout follows the usual people's mediation agreement form: title and number, the parties (and
agents), main facts, disputed issues, responsibility, the numbered terms, how / where / by when they
are performed, the effect and copies clause, the judicial-confirmation note, and the signature block.
Pure apart from reading the font files: returns the PDF bytes, writes nothing.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import date
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.mediation.agreement_pdf.model import AgreementData, Party
from shared.pdf_fonts import register_fonts

LANGUAGES = ("zh-CN", "en")

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# The form's own wording. `{...}` fields are filled per agreement.
TEXT: Mapping[str, Mapping[str, str]] = {
    "zh-CN": {
        "title": "人民调解协议书",
        "subtitle": "",
        "number": "编号：{number}　案件编号：{reference}",
        "applicant": "申请人",
        "respondent": "被申请人",
        "agent": "委托代理人",
        "agent_of": "（{party}的{kind}）",
        "age": "{age}岁",
        "address": "住址：{address}",
        "phone": "联系电话：{phone}",
        "sep": "，",
        "facts": "一、纠纷主要事实",
        "issues": "二、争议事项",
        "responsibility": "三、各方责任",
        "terms": "四、经{committee}主持调解，当事人自愿达成如下协议：",
        "performance": "五、协议履行的方式、地点和期限",
        "term_due": "（履行期限：{due}）",
        "method": "履行方式：{value}",
        "place": "履行地点：{value}",
        "deadline": "履行期限：{value}",
        "effect": (
            "本协议自各方当事人签名、盖章或者按指印，人民调解员签名并加盖人民调解委员会印章之日起生效。"
            "经人民调解委员会调解达成的调解协议，具有法律约束力，当事人应当按照约定履行"
            "（《中华人民共和国人民调解法》第三十一条）。"
        ),
        "copies": "本协议一式{copies}份，当事人各执一份，人民调解委员会留存一份。",
        "confirmation": (
            "双方当事人认为有必要的，可以自本协议生效之日起三十日内共同向人民法院申请司法确认"
            "（《中华人民共和国人民调解法》第三十三条）。"
        ),
        "sign_party": "（签名、盖章或按指印）",
        "sign": "（签名）",
        "mediator": "人民调解员",
        "recorder": "记录人",
        "seal": "{committee}（盖章）",
        "page": "第 {page} 页",
    },
    "en": {
        "title": "People's Mediation Agreement",
        "subtitle": "人民调解协议书",
        "number": "No. {number} · Case {reference}",
        "applicant": "Applicant",
        "respondent": "Respondent",
        "agent": "Agent",
        "agent_of": " ({kind} for {party})",
        "age": "age {age}",
        "address": "address: {address}",
        "phone": "phone: {phone}",
        "sep": ", ",
        "facts": "1. Main facts",
        "issues": "2. Disputed issues",
        "responsibility": "3. Responsibility",
        "terms": "4. Through mediation by {committee}, the parties voluntarily agree as follows:",
        "performance": "5. How, where and by when the agreement is performed",
        "term_due": " (to be performed by {due})",
        "method": "How: {value}",
        "place": "Where: {value}",
        "deadline": "By when: {value}",
        "effect": (
            "This agreement takes effect on the day every party has signed, sealed or fingerprinted it, "
            "the mediator has signed it and the people's mediation committee has sealed it. An agreement "
            "reached through people's mediation is legally binding and the parties shall perform it as "
            "agreed (People's Mediation Law of the PRC, Art. 31)."
        ),
        "copies": (
            "This agreement is made in {copies} copies: one for each party and one kept by the "
            "people's mediation committee."
        ),
        "confirmation": (
            "If they consider it necessary, the parties may jointly apply to a people's court for "
            "judicial confirmation (司法确认) within 30 days of this agreement taking effect "
            "(People's Mediation Law of the PRC, Art. 33)."
        ),
        "sign_party": "(signature, seal or fingerprint)",
        "sign": "(signature)",
        "mediator": "Mediator",
        "recorder": "Recorder",
        "seal": "{committee} (seal)",
        "page": "Page {page}",
    },
}


def _language(language: str) -> str:
    if language.lower().startswith("zh"):
        return "zh-CN"
    if language.lower().startswith("en"):
        return "en"
    raise ValueError(f"no agreement form in {language!r}; available: {', '.join(LANGUAGES)}")


def format_date(day: date, language: str) -> str:
    """2026年3月6日 / 6 March 2026."""
    if _language(language) == "zh-CN":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _has_cjk(text: str) -> bool:
    return any("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" for ch in text)


class _Styles:
    def __init__(self, body: str, heading: str) -> None:
        base: dict[str, Any] = {"fontName": body, "fontSize": 12, "leading": 21}
        self.title = ParagraphStyle("title", fontName=heading, fontSize=22, leading=30, alignment=TA_CENTER)
        self.subtitle = ParagraphStyle(
            "subtitle", fontName=heading, fontSize=13, leading=18, alignment=TA_CENTER
        )
        self.number = ParagraphStyle("number", fontName=body, fontSize=11, leading=16, alignment=TA_RIGHT)
        self.heading = ParagraphStyle("heading", fontName=heading, fontSize=12.5, leading=22, spaceBefore=8)
        self.body = ParagraphStyle("body", **base, firstLineIndent=24)
        self.plain = ParagraphStyle("plain", **base)
        self.term = ParagraphStyle("term", **base, leftIndent=24, firstLineIndent=-18)
        self.small = ParagraphStyle("small", fontName=body, fontSize=9, leading=12, alignment=TA_CENTER)
        self.hint = ParagraphStyle("hint", fontName=body, fontSize=9.5, leading=12, textColor=colors.dimgrey)
        self.right = ParagraphStyle("right", **base, alignment=TA_RIGHT)


def _para(text: str, style: ParagraphStyle) -> Paragraph:
    # Chinese text wraps between any two characters; Latin text between words only.
    if _has_cjk(text):
        style = ParagraphStyle(f"{style.name}-cjk", parent=style, wordWrap="CJK")
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _party_line(role: str, party: Party, text: Mapping[str, str], colon: str) -> str:
    bits = [party.name]
    if party.gender:
        bits.append(party.gender)
    if party.age is not None:
        bits.append(text["age"].format(age=party.age))
    bits.append(text["address"].format(address=party.address))
    if party.phone:
        bits.append(text["phone"].format(phone=party.phone))
    return f"{role}{colon}{text['sep'].join(bits)}"


def _signature_block(
    data: AgreementData, text: Mapping[str, str], styles: _Styles, lang: str, colon: str
) -> KeepTogether:
    """A line to sign on for every party, agent, mediator and the recorder; the committee's seal."""
    rows: list[list[Any]] = []

    def row(who: str, name: str, hint: str) -> None:
        rows.append([_para(f"{who}{colon}{name}", styles.plain), _para(hint, styles.hint)])

    for party in data.applicants:
        row(text["applicant"], party.name, text["sign_party"])
    for party in data.respondents:
        row(text["respondent"], party.name, text["sign_party"])
    for agent in data.agents:
        row(text["agent"], agent.name, text["sign"])
    for mediator in data.mediators:
        row(text["mediator"], mediator, text["sign"])
    row(text["recorder"], data.recorder, text["sign"])
    table = Table(rows, colWidths=[66 * mm, 92 * mm], rowHeights=[13 * mm] * len(rows))
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                ("FONTNAME", (0, 0), (-1, -1), styles.plain.fontName),  # no cell falls back to Helvetica
                # The line to sign on, under the right-hand cell.
                ("LINEBELOW", (1, 0), (1, -1), 0.6, colors.black),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    seal = [
        Spacer(1, 18 * mm),  # room for the committee's seal, stamped over its name and the date
        _para(text["seal"].format(committee=data.committee), styles.right),
        _para(format_date(data.signed_on, lang), styles.right),
    ]
    return KeepTogether([Spacer(1, 6 * mm), table, *seal])


def render_pdf(data: AgreementData, language: str = "zh-CN") -> bytes:
    """The agreement as PDF bytes, its form text in `language` ("zh-CN" or "en")."""
    lang = _language(language)
    data.validate()
    text = TEXT[lang]
    body, heading = register_fonts()
    # UMing's Latin letters are fixed-width: fine among Chinese text, poor for English prose, which
    # reads better in Micro Hei's proportional Latin (it has the CJK glyphs for names too).
    styles = _Styles(body if lang == "zh-CN" else heading, heading)
    colon = "：" if lang == "zh-CN" else ": "

    story: list[Any] = [_para(text["title"], styles.title)]
    if text["subtitle"]:
        story.append(_para(text["subtitle"], styles.subtitle))
    story += [
        Spacer(1, 3 * mm),
        _para(text["number"].format(number=data.number, reference=data.case_reference), styles.number),
        Spacer(1, 3 * mm),
    ]

    for role, parties in ((text["applicant"], data.applicants), (text["respondent"], data.respondents)):
        story += [_para(_party_line(role, party, text, colon), styles.plain) for party in parties]
    for agent in data.agents:
        kind = agent.kind or text["agent"]
        line = (
            f"{text['agent']}{colon}{agent.name}{text['agent_of'].format(party=agent.represents, kind=kind)}"
        )
        if agent.phone:
            line += text["sep"] + text["phone"].format(phone=agent.phone)
        story.append(_para(line, styles.plain))

    for key, value in (
        ("facts", data.facts),
        ("issues", data.issues),
        ("responsibility", data.responsibility),
    ):
        story += [_para(text[key], styles.heading), _para(value, styles.body)]

    story.append(_para(text["terms"].format(committee=data.committee), styles.heading))
    dues = data.term_dues + (None,) * (len(data.terms) - len(data.term_dues))
    story += [
        _para(f"{n}. {term}" + (text["term_due"].format(due=due) if due else ""), styles.term)
        for n, (term, due) in enumerate(zip(data.terms, dues, strict=False), start=1)
    ]

    story.append(_para(text["performance"], styles.heading))
    for key, value in (
        ("method", data.performance_method),
        ("place", data.performance_place),
        ("deadline", data.performance_deadline),
    ):
        story.append(_para(text[key].format(value=value), styles.body))

    story += [
        Spacer(1, 3 * mm),
        _para(text["effect"], styles.body),
        _para(text["copies"].format(copies=data.copy_count), styles.body),
        _para(text["confirmation"], styles.body),
        _signature_block(data, text, styles, lang, colon),
    ]

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(styles.small.fontName, 9)
        canvas.drawCentredString(A4[0] / 2, 12 * mm, text["page"].format(page=doc.page))
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=26 * mm,
        rightMargin=26 * mm,
        topMargin=24 * mm,
        bottomMargin=22 * mm,
        title=f"{TEXT[lang]['title']} {data.number}",
        author=data.committee,
        subject=data.number,
        creator="Concord",
        lang=lang,
        initialFontName=styles.plain.fontName,  # else reportlab references an unembedded Helvetica
        invariant=True,  # no timestamps or random ids: the same data gives the same bytes
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
