# ruff: noqa: RUF001
"""Answer slips: issuing the slip codes of one building's flats and printing them as a PDF.

Codes are stored only as hashes, so printing IS issuing: each print draws new codes for the building's
flats and revokes the ones printed before (a lost or reprinted bundle of slips stops working at once).
A flat's slip number stays the same (it was fixed at opening), so paper slips already handed in still
match. Each slip shows the consultation's title, the flat, the code, a QR code of the answering URL with
the code, the slip number, and the questions as a paper ballot.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from pymongo.client_session import ClientSession
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from services.council import consultations
from services.council.bootstrap import Council
from services.council.domain import codes
from services.council.domain import consultation_states as states
from services.council.domain import questions as qs
from services.council.errors import Refused, forbidden
from shared.auth import Staff
from shared.db import in_transaction
from shared.pdf_fonts import register_fonts

BOX = "□"
QR_SIZE = 34 * mm


def issue(
    council: Council, staff: Staff, consultation_id: str, building: str, now: datetime
) -> list[dict[str, Any]]:
    """New slip codes for every flat of `building` (revoking earlier ones); the flats with their codes.
    Committee members, district admins, and the building's own leader; only while open."""
    doc = consultations.get_for(council, staff, consultation_id)
    if not consultations.may_enter_paper(staff, doc["community"], building):
        raise forbidden()
    if doc["status"] != states.OPEN:
        raise Refused(409, "not_open", *states.REASONS["not_open"])
    flats = [f for f in consultations.electorate(council, doc["_id"]) if f["building"] == building]
    if not flats:
        msg = ("这栋楼没有住户。", "This building has no flats in the register.")
        raise Refused(404, "no_flats", *msg, {"building": [msg]})
    issued = [{**f, "code": codes.new_slip_code()} for f in flats]
    secret = council.settings.secret_key

    def work(session: ClientSession) -> None:
        council.db.answer_codes.update_many(
            {
                "consultation_id": doc["_id"],
                "kind": "slip",
                "flat_id": {"$in": [f["flat_id"] for f in flats]},
            },
            {"$set": {"revoked": True, "revoked_at": now}},
            session=session,
        )
        council.db.answer_codes.insert_many(
            [
                {
                    "_id": codes.code_hash(secret, doc["_id"], f["code"]),
                    "consultation_id": doc["_id"],
                    "flat_id": f["flat_id"],
                    "kind": "slip",
                    "slip_number": f["slip_number"],
                    "issued_by": staff.user_id,
                    "created_at": now,
                }
                for f in issued
            ],
            session=session,
        )

    in_transaction(council.db, work)
    return issued


def _styles() -> dict[str, ParagraphStyle]:
    body, heading = register_fonts()
    return {
        "title": ParagraphStyle("title", fontName=heading, fontSize=15, leading=20, spaceAfter=2 * mm),
        "body": ParagraphStyle("body", fontName=body, fontSize=11, leading=16),
        "small": ParagraphStyle(
            "small", fontName=body, fontSize=9, leading=12, textColor=colors.HexColor("#333333")
        ),
        "code": ParagraphStyle("code", fontName=heading, fontSize=18, leading=24),
        "question": ParagraphStyle(
            "question", fontName=heading, fontSize=11.5, leading=16, spaceBefore=3 * mm
        ),
        "choice": ParagraphStyle("choice", fontName=body, fontSize=11, leading=17, leftIndent=4 * mm),
    }


def _qr(url: str) -> Drawing:
    widget = QrCodeWidget(url, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(QR_SIZE, QR_SIZE, transform=[QR_SIZE / (x1 - x0), 0, 0, QR_SIZE / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def _t(text: Any) -> str:
    return escape(str(text or ""))


def _ballot(question: qs.Question, number: int, st: Mapping[str, ParagraphStyle]) -> list[Any]:
    """One question on paper: boxes to tick, ranks to write, lines to write on, or a grid."""
    mandatory = "（必答 required）" if question.mandatory else ""
    out: list[Any] = [Paragraph(f"{number}. {_t(question.prompt)} {mandatory}", st["question"])]
    hint = {
        qs.SINGLE: "请选一项 · choose one",
        qs.MULTIPLE: "可选多项 · choose any that apply",
        qs.RANKING: f"在方框内写上名次1–{question.ranked_count()} · write ranks 1–{question.ranked_count()}",
    }.get(question.kind)
    if hint:
        out.append(Paragraph(hint, st["small"]))
    if question.kind in (qs.SINGLE, qs.MULTIPLE, qs.RANKING):
        out += [Paragraph(f"{BOX}&nbsp;&nbsp;{_t(o.label)}", st["choice"]) for o in question.options]
    elif question.kind in qs.TEXT_KINDS:
        lines = 1 if question.kind == qs.SHORT_TEXT else 4
        out += [
            Table(
                [[""]] * lines,
                colWidths=[170 * mm],
                rowHeights=[8 * mm] * lines,
                style=TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.5, colors.black)]),
            )
        ]
    elif question.kind == qs.MATRIX:
        header = [""] + [Paragraph(_t(o.label), st["small"]) for o in question.options]
        rows = [[Paragraph(_t(r.label), st["small"])] + [BOX] * len(question.options) for r in question.rows]
        width = 170 * mm
        first = 60 * mm
        other = (width - first) / max(1, len(question.options))
        table = Table([header, *rows], colWidths=[first] + [other] * len(question.options))
        table.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), register_fonts()[0]),
                    ("ALIGN", (1, 1), (-1, -1), "CENTER"),
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ]
            )
        )
        out.append(table)
    return out


def render(council: Council, consultation: Mapping[str, Any], slips: Sequence[Mapping[str, Any]]) -> bytes:
    """The slips as a PDF: one slip per page (A4), Chinese first with English beside it."""
    st = _styles()
    questions = consultations.questions_of(consultation)
    title_zh = consultation["title"].get("zh-CN") or consultation["title"].get("en", "")
    title_en = consultation["title"].get("en") or ""
    closes = consultation["closes_at"].astimezone(_local()).strftime("%Y-%m-%d %H:%M")
    story: list[Any] = []
    for index, slip in enumerate(slips):
        url = f"{consultations.public_url(council, consultation['_id'])}?code={slip['code']}"
        facts = [
            Paragraph(f"房号 Flat：<b>{_t(slip['label'])}</b>", st["body"]),
            Paragraph(f"答复单编号 Slip no.：{_t(slip['slip_number'])}", st["body"]),
            Paragraph("答复码 Code：", st["body"]),
            Paragraph(_t(codes.grouped(slip["code"])), st["code"]),
            Paragraph(f"截止 Closes：{closes}", st["body"]),
        ]
        head = Table([[facts, _qr(url)]], colWidths=[130 * mm, 40 * mm])
        head.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("BOX", (0, 0), (-1, -1), 0.8, colors.black),
                    ("LEFTPADDING", (0, 0), (-1, -1), 4 * mm),
                    ("TOPPADDING", (0, 0), (-1, -1), 3 * mm),
                ]
            )
        )
        story += [
            Paragraph(_t(title_zh), st["title"]),
            Paragraph(_t(title_en), st["small"]) if title_en and title_en != title_zh else Spacer(1, 0),
            Spacer(1, 3 * mm),
            head,
            Spacer(1, 2 * mm),
            Paragraph(
                "扫描二维码或打开网址并输入答复码，即可在手机上答复；也可填写本单交给楼栋长。"
                "每户只能选择一种方式答复。<br/>"
                f"Scan the QR code, or open {_t(consultations.public_url(council, consultation['_id']))}"
                " and type the code; or fill in this slip and give it to your building leader."
                " One answer per flat, one way only.",
                st["small"],
            ),
        ]
        for number, question in enumerate(questions, start=1):
            story.append(KeepTogether(_ballot(question, number, st)))
        if index < len(slips) - 1:
            story.append(PageBreak())
    buffer = io.BytesIO()
    pdf = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=title_zh,
        author="Concord",
        subject="answer slips",
    )
    pdf.build(story)
    return buffer.getvalue()


def _local() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def print_building(
    council: Council, staff: Staff, consultation_id: str, building: str, now: datetime
) -> bytes:
    """Issue the building's slip codes and return the PDF to print."""
    issued = issue(council, staff, consultation_id, building, now)
    return render(council, consultations.get(council, consultation_id), issued)
