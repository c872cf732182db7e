"""Office documents and e-books as structured text: .docx, .pptx, .xlsx, .odt, .epub, .rtf.

Each reader returns Markdown-shaped text (headings as ``#`` lines, slides and sheets as sections, table rows as
``a | b`` lines), so the chunker's heading-aware splitting and the ``section`` of every chunk work as they do for
Markdown. Each format is read by its own well-kept library, imported only when such a file turns up. A damaged file
raises :class:`Unreadable` with a short reason; the loader turns it into a skip.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from agent.core.errors import describe

OFFICE_SUFFIXES = (".docx", ".pptx", ".xlsx", ".odt", ".epub", ".rtf")
# A zip member table that unpacks past this is a bomb, not a document (the file itself passed the size limit).
MAX_UNPACKED_BYTES = 512 * 1024 * 1024
_KIND = {".docx": "Word", ".pptx": "PowerPoint", ".xlsx": "Excel", ".odt": "OpenDocument", ".epub": "EPUB"}


class Unreadable(Exception):
    """The file is not a readable document of its type; ``str()`` is the reason shown to the user."""


def _lines(parts: Iterable[str]) -> str:
    text = "\n\n".join(p.strip() for p in parts if p and p.strip())
    return re.sub(r"\n{3,}", "\n\n", text)


def _cell(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _rows_text(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """Table rows as lines; when the first row looks like a header, later rows read ``header: value; …``."""
    header: list[str] | None = None
    for number, row in enumerate(rows):
        cells = [_cell(v) for v in row]
        while cells and not cells[-1]:
            cells.pop()
        if not any(cells):
            continue
        if number == 0 and all(cells) and all(not _is_number(c) for c in cells):
            header = cells
            yield " | ".join(cells)
            continue
        if header and len(cells) <= len(header):
            yield "; ".join(f"{h}: {c}" for h, c in zip(header, cells, strict=False) if c)
        else:
            yield " | ".join(cells)


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def _check_zip(data: bytes, suffix: str) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise Unreadable(f"not a {_KIND.get(suffix, suffix)} file (not a zip archive)") from None
    if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
        raise Unreadable(f"unpacks to more than {MAX_UNPACKED_BYTES // 2**20} MiB (a zip bomb?)")
    return archive


# -- Word -------------------------------------------------------------------------------------------------------


def docx_to_text(data: bytes) -> tuple[str, str]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = docx.Document(io.BytesIO(data))
    parts: list[str] = []
    first_heading = ""
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            text = " ".join(block.text.split())
            if not text:
                continue
            style = (block.style.name if block.style is not None else "") or ""
            level = _heading_level(style)
            if level:
                first_heading = first_heading or text
                parts.append("#" * level + " " + text)
            elif style.lower().startswith("list"):
                parts.append("- " + text)
            else:
                parts.append(text)
        elif isinstance(block, Table):
            parts.append("\n".join(_rows_text([cell.text for cell in row.cells] for row in block.rows)))
    title = (document.core_properties.title or "").strip() or first_heading
    return _lines(parts), title


def _heading_level(style: str) -> int:
    if style == "Title":
        return 1
    match = re.fullmatch(r"Heading (\d)", style)
    return min(int(match.group(1)), 6) if match else 0


# -- PowerPoint -------------------------------------------------------------------------------------------------


def pptx_to_text(data: bytes) -> tuple[str, str]:
    from pptx import Presentation

    deck = Presentation(io.BytesIO(data))
    parts: list[str] = []
    first_title = ""
    for number, slide in enumerate(deck.slides, 1):
        title_shape = slide.shapes.title
        title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
        first_title = first_title or title
        body: list[str] = []
        for shape in slide.shapes:
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            body.extend(_shape_text(shape))
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = " ".join(slide.notes_slide.notes_text_frame.text.split())
            if notes:
                body.append(f"Notes: {notes}")
        if title or body:
            parts.append(f"## Slide {number}" + (f": {title}" if title else ""))
            parts.extend(body)
    title = (deck.core_properties.title or "").strip() or first_title
    return _lines(parts), title


def _shape_text(shape: Any) -> Iterator[str]:
    if getattr(shape, "has_text_frame", False):
        for paragraph in shape.text_frame.paragraphs:
            text = " ".join("".join(run.text for run in paragraph.runs).split())
            if text:
                yield ("- " if paragraph.level else "") + text
    if getattr(shape, "has_table", False):
        yield "\n".join(_rows_text([cell.text for cell in row.cells] for row in shape.table.rows))
    for child in getattr(shape, "shapes", ()):  # group shapes
        yield from _shape_text(child)


# -- Excel ------------------------------------------------------------------------------------------------------


def xlsx_to_text(data: bytes) -> tuple[str, str]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        parts: list[str] = []
        for sheet in book.worksheets:
            rows = "\n".join(_rows_text(sheet.iter_rows(values_only=True)))
            if rows:
                parts.append(f"## Sheet: {sheet.title}")
                parts.append(rows)
        title = (book.properties.title or "").strip() if book.properties is not None else ""
    finally:
        book.close()
    return _lines(parts), title


# -- OpenDocument text -----------------------------------------------------------------------------------------


def odt_to_text(data: bytes) -> tuple[str, str]:
    from odf import teletype
    from odf.namespaces import TABLENS, TEXTNS
    from odf.opendocument import load

    document = load(io.BytesIO(data))
    parts: list[str] = []
    first_heading = ""

    def walk(node: Any) -> None:
        qname = getattr(node, "qname", None)
        if qname == (TEXTNS, "h"):
            text = " ".join(teletype.extractText(node).split())
            if text:
                level = int(node.getAttribute("outlinelevel") or 1)
                nonlocal first_heading
                first_heading = first_heading or text
                parts.append("#" * min(max(level, 1), 6) + " " + text)
            return
        if qname == (TEXTNS, "p"):
            text = " ".join(teletype.extractText(node).split())
            if text:
                parts.append(text)
            return
        if qname == (TABLENS, "table"):
            rows = [
                [teletype.extractText(cell) for cell in row.childNodes if cell.qname[1] == "table-cell"]
                for row in _descendants(node, (TABLENS, "table-row"))
            ]
            parts.append("\n".join(_rows_text(rows)))
            return
        for child in getattr(node, "childNodes", ()):
            walk(child)

    walk(document.text)
    title = ""
    for meta in document.meta.childNodes:
        if getattr(meta, "qname", ("", ""))[1] == "title":
            title = " ".join(teletype.extractText(meta).split())
    return _lines(parts), title or first_heading


def _descendants(node: Any, qname: tuple[str, str]) -> Iterator[Any]:
    for child in getattr(node, "childNodes", ()):
        if getattr(child, "qname", None) == qname:
            yield child
        else:
            yield from _descendants(child, qname)


# -- e-books ----------------------------------------------------------------------------------------------------


def epub_chapters(data: bytes) -> tuple[list[str], str]:
    """The XHTML of each chapter in reading order, and the book's title; the caller turns XHTML into text."""
    import ebooklib
    from ebooklib import epub

    book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
    titles = book.get_metadata("DC", "title")
    title = str(titles[0][0]).strip() if titles else ""
    chapters: list[str] = []
    for item_id, _linear in book.spine:
        item = book.get_item_with_id(item_id)
        if item is not None and item.get_type() == ebooklib.ITEM_DOCUMENT:
            chapters.append(item.get_content().decode("utf-8", errors="replace"))
    return chapters, title


# -- RTF --------------------------------------------------------------------------------------------------------


def rtf_to_text(data: bytes) -> tuple[str, str]:
    from striprtf.striprtf import rtf_to_text as strip

    if not data.lstrip().startswith(b"{\\rtf"):
        raise Unreadable("not an RTF file")
    text = strip(data.decode("latin-1"), errors="ignore")
    return "\n".join(" ".join(line.split()) for line in text.splitlines()).strip(), ""


# -- dispatch ---------------------------------------------------------------------------------------------------

_READERS: dict[str, Callable[[bytes], tuple[str, str]]] = {
    ".docx": docx_to_text,
    ".pptx": pptx_to_text,
    ".xlsx": xlsx_to_text,
    ".odt": odt_to_text,
    ".rtf": rtf_to_text,
}


def office_to_text(suffix: str, data: bytes, html_to_text: Callable[[str], tuple[str, str]]) -> tuple[str, str]:
    """``(text, title)`` of an office document or e-book; raises :class:`Unreadable` for a damaged file.

    ``html_to_text`` reads an e-book's XHTML chapters (the loader's HTML reader, passed in so this module stays
    below it).
    """
    if suffix != ".rtf":
        _check_zip(data, suffix).close()
    try:
        if suffix == ".epub":
            chapters, title = epub_chapters(data)
            texts = [html_to_text(chapter) for chapter in chapters]
            return _lines(text for text, _ in texts), title or next((t for _, t in texts if t), "")
        return _READERS[suffix](data)
    except Unreadable:
        raise
    except Exception as exc:  # each library raises its own zoo (KeyError, lxml errors, ValueError…) on damage
        kind = _KIND.get(suffix, suffix.lstrip(".").upper())
        raise Unreadable(f"unreadable {kind} file: {describe(exc, 120)}") from None
