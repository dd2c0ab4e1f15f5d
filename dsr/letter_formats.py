"""A letter's body, an HTML fragment of a few plain tags (p, h1-h3, ul/li, b, i, br), as plain
text and as an A4 PDF (fpdf2: pure Python, no system libraries; the DejaVu fonts beside this
module cover the Latin, Greek and Cyrillic scripts a name may be written in)."""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

FONT_DIR = Path(__file__).resolve().parent / "letter_fonts"
FONT = "DejaVu"

# fpdf2 logs the characters its font lacks and fontTools the glyphs it keeps: from a letter,
# those are characters of a name (no personal data in logs).
logging.getLogger("fpdf").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.ERROR)

_BLOCKS = {"p", "h1", "h2", "h3", "ul", "ol", "div", "table", "tr"}


class _TextWriter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]

    def _break(self, blank: bool) -> None:
        if self.lines[-1].strip():
            self.lines.append("")
        if blank and len(self.lines) > 1 and self.lines[-2].strip():
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _BLOCKS:
            self._break(blank=True)
        elif tag == "br":
            self.lines.append("")
        elif tag == "li":
            self._break(blank=False)
            self.lines[-1] = "- "

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self._break(blank=True)

    def handle_data(self, data: str) -> None:
        text = re.sub(r"\s+", " ", data)
        if not self.lines[-1].strip():
            text = text.lstrip()
        self.lines[-1] += text

    def text(self) -> str:
        lines = [line.rstrip() for line in self.lines]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def html_fragment_text(fragment: str) -> str:
    """The fragment as plain text: paragraphs apart, list items as "- " lines."""
    writer = _TextWriter()
    writer.feed(fragment)
    writer.close()
    return writer.text()


class _LetterPDF(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font(FONT, size=8)
        self.set_text_color(110)
        self.cell(0, 10, f"{self.footer_text} · {self.page_no()}/{{nb}}", align="C")


def html_fragment_pdf(fragment: str, *, title: str, language: str) -> bytes:
    """The fragment as an A4 PDF. Every value in it is escaped by the template, so the fragment
    holds no tag of anyone else's; ``<img>`` (which fpdf2 would fetch) never occurs."""
    pdf = _LetterPDF(format="A4", unit="mm")
    pdf.footer_text = title
    pdf.set_title(title)
    pdf.set_lang(language)
    pdf.set_creator("Custos")
    pdf.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.add_font(FONT, "I", str(FONT_DIR / "DejaVuSans-Oblique.ttf"))
    pdf.set_margins(22, 20, 22)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    pdf.set_font(FONT, size=10)
    pdf.write_html(
        fragment,
        font_family=FONT,
        tag_styles={
            "h1": FontFace(family=FONT, emphasis="BOLD", size_pt=13, color=0),
            "h2": FontFace(family=FONT, emphasis="BOLD", size_pt=11.5, color=0),
            "h3": FontFace(family=FONT, emphasis="BOLD", size_pt=10.5, color=0),
        },
    )
    return bytes(pdf.output())
