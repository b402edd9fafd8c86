"""Real documents of every indexed format, written by the tests themselves:
a multi-page PDF (reportlab), a Word file (python-docx), an HTML page with
script and style, a text file, and the bad files a user drops (encrypted and
scanned PDFs, a damaged .docx, files whose suffix lies)."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rag.ingest.sentences import sentence_spans

from fakes import FakeGenerator

# One fact per document, each on its own words, so a question finds one passage.
PDF_FACT = "The harbour master in 1923 was Tomas Eriksen, who kept a ledger of 418 ships."
DOCX_FACT = "The Kestrel Valley orchard grows thirty-seven varieties of pear on its terraces."
HTML_FACT = "The Halden observatory telescope has a mirror of 2.4 metres, ground in Jena."
TXT_FACT = "The Morvik glacier retreated 312 metres between 1990 and 2020."
SCRIPT_TOKEN, STYLE_TOKEN = "ZEBRASCRIPTTOKEN", "ZEBRASTYLETOKEN"
QUESTIONS = {  # file -> (question, a word its answer must give)
    "harbour.pdf": ("Who was the harbour master in 1923?", "Eriksen"),
    "orchard.docx": ("How many varieties of pear does the Kestrel Valley orchard grow?", "thirty-seven"),
    "observatory.html": ("How large is the mirror of the Halden observatory telescope?", "2.4"),
    "glacier.txt": ("How far did the Morvik glacier retreat between 1990 and 2020?", "312"),
}

PDF_PAGES = [
    [
        "The Velmora Harbour Report",
        "Velmora is a small fishing town on a northern fjord.",
        "Its stone quay was built by the town council in 1871,",
        "and the lighthouse on the breakwater followed in 1880.",
        "Fishing boats from three parishes landed their catch at the quay,",
        "and a boatyard on the east shore built wooden hulls until 1950.",
        "In winter the fjord froze in some years, and the ferry stopped.",
    ],
    [
        "Harbour Masters",
        PDF_FACT,
        "His ledger lists every arrival with its cargo and its crew.",
    ],
    [
        "The Fish Market",
        "The covered fish market opened beside the quay in 1931.",
        "Herring and cod were sold there every morning except Sunday.",
        "The market hall was rebuilt in brick after a fire in 1958.",
        "Today it holds a cafe, a chandlery and a small museum of the fleet.",
    ],
]


def pdf_bytes(pages: list[list[str]] = PDF_PAGES) -> bytes:
    """A PDF with one page per list of lines, each line drawn as text (a real text layer)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4)
    for lines in pages:
        text = pdf.beginText(60, 780)
        text.setFont("Helvetica", 11)
        for line in lines:
            text.textLine(line)
        pdf.drawText(text)
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def scanned_pdf_bytes(pages: int = 2) -> bytes:
    """A PDF of pictures only, like a scan: shapes on every page, no text layer."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4)
    for _ in range(pages):
        pdf.rect(60, 500, 300, 200, fill=1)
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def encrypted_pdf_bytes(user_password: str = "secret", owner_password: str = "owner") -> bytes:
    """The PDF above, encrypted with AES-128 (needs a password to open unless user_password is '')."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes())))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes() -> bytes:
    """A Word file: a heading, paragraphs and a table, written by python-docx."""
    import docx

    document = docx.Document()
    document.add_heading("Kestrel Valley Orchard", level=1)
    document.add_paragraph("The orchard lies on the south slope of the Kestrel Valley.")
    document.add_paragraph(DOCX_FACT)
    table = document.add_table(rows=2, cols=2)
    for row, (name, tonnes) in zip(table.rows, [("Year", "Tonnes"), ("2022", "140")]):
        row.cells[0].text, row.cells[1].text = name, tonnes
    document.add_paragraph("Picking starts in late August and ends in October.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def html_bytes() -> bytes:
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Halden Observatory</title>
<style>body {{ font-family: {STYLE_TOKEN}; }}</style>
<script>var secret = "{SCRIPT_TOKEN}"; document.title = secret;</script></head>
<body><nav><a href="/">Home</a></nav>
<h1>Halden Observatory</h1>
<p>The observatory stands on a granite hill above the town.</p>
<p>{HTML_FACT.replace("2.4 metres", "<b>2.4&nbsp;metres</b>")}</p>
<ul><li>Open on Fridays</li><li>Closed in July</li></ul>
<script>console.log("{SCRIPT_TOKEN}")</script>
</body></html>""".encode()


def write_library(folder: Path) -> Path:
    """A folder with one good file of each format."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "harbour.pdf").write_bytes(pdf_bytes())
    (folder / "orchard.docx").write_bytes(docx_bytes())
    (folder / "observatory.html").write_bytes(html_bytes())
    (folder / "glacier.txt").write_text(TXT_FACT + "\nThe ice front is measured every September.\n", encoding="utf-8")
    return folder


def write_bad_files(folder: Path) -> dict[str, str]:
    """Files that cannot be indexed, by name, with a word their reason must hold."""
    folder.mkdir(parents=True, exist_ok=True)
    damaged = docx_bytes()
    files = {
        "locked.pdf": (encrypted_pdf_bytes(), "encrypted"),
        "scan.pdf": (scanned_pdf_bytes(), "no text layer"),
        "damaged.docx": (damaged[: len(damaged) // 2], "not a readable Word document"),
        "report.docx": (pdf_bytes(), "the content is a PDF"),  # a suffix that lies
        "notes.pdf": (b"Just some notes, not a PDF at all.\n", "the content is plain text"),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: why for name, (_, why) in files.items()}


def quoting_model(needle: str) -> FakeGenerator:
    """A fake model that answers with the one sentence of its passages holding `needle`, and that passage's [n]."""

    def reply(messages) -> str:
        prompt = "\n\n".join(m["content"] for m in messages)
        marks = list(re.finditer(r"^\[(\d+)\] ", prompt, flags=re.M))
        for mark, following in zip(marks, [*marks[1:], None]):
            text = prompt[mark.end() : following.start() if following else len(prompt)]
            for start, end in sentence_spans(text):
                if needle in text[start:end]:
                    return f"{' '.join(text[start:end].split())} [{mark.group(1)}]"
        return "The documents do not say."

    return FakeGenerator(reply)
