"""The written people's mediation agreement (人民调解协议书): its data and its PDF, in Chinese and English.

from services.mediation.agreement_pdf import AgreementData, Party, render_pdf
pdf_bytes = render_pdf(data, "zh-CN")
"""

from services.mediation.agreement_pdf.fonts import FontNotFound, find_font, register_fonts
from services.mediation.agreement_pdf.model import Agent, AgreementData, InvalidAgreement, Party
from services.mediation.agreement_pdf.render import LANGUAGES, format_date, render_pdf

__all__ = [
    "LANGUAGES",
    "Agent",
    "AgreementData",
    "FontNotFound",
    "InvalidAgreement",
    "Party",
    "find_font",
    "format_date",
    "register_fonts",
    "render_pdf",
]
