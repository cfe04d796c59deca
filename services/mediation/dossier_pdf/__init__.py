"""The archive dossier (卷宗) of a case as one PDF, in Chinese and English: its data and its rendering.

from services.mediation.dossier_pdf import DossierData, render_pdf
pdf_bytes = render_pdf(data, "zh-CN")
"""

from services.mediation.dossier_pdf.model import SECTIONS, Appendix, DossierData, Item, Section
from services.mediation.dossier_pdf.render import LANGUAGES, render_pdf

__all__ = ["LANGUAGES", "SECTIONS", "Appendix", "DossierData", "Item", "Section", "render_pdf"]
