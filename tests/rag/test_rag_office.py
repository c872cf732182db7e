"""Office documents and e-books: real .docx/.pptx/.xlsx/.odt/.epub/.rtf files written by their own libraries in the
test, ingested into real Chroma with real embeddings; corrupt ones are skipped and reported; re-ingest is a no-op."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.core.config import Settings, load_settings
from rag.ingest import ingest_paths
from rag.loaders import Skip, load_file
from rag.office import MAX_UNPACKED_BYTES
from rag.retrieve import retrieve_sync
from rag.store import open_collection


@pytest.fixture
def settings(home: Path) -> Settings:  # no LLM endpoint needed to ingest
    return load_settings(env={"LODESTAR_HOME": str(home)})


def write_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = "Harrison's sea clocks"
    document.add_heading("The H4 watch", level=1)
    document.add_paragraph("John Harrison finished the H4 marine chronometer in 1759.")
    document.add_heading("The Jamaica trial", level=2)
    document.add_paragraph("HMS Deptford carried H4 to Jamaica in 1761.", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Ship", "Year"
    table.cell(1, 0).text, table.cell(1, 1).text = "HMS Tartar", "1764"
    document.save(str(path))
    return path


def write_pptx(path: Path) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    for title, body in [
        ("Lighthouses", "The Eddystone lighthouse stands off Plymouth."),
        ("Fresnel", "Augustin Fresnel designed a compact lens in 1822."),
    ]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        slide.notes_slide.notes_text_frame.text = f"Speaker notes about {title.lower()}."
    table_slide = deck.slides.add_slide(deck.slide_layouts[5])
    table_slide.shapes.title.text = "Keepers"
    shape = table_slide.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1))
    shape.table.cell(0, 0).text, shape.table.cell(0, 1).text = "Keeper", "Station"
    shape.table.cell(1, 0).text, shape.table.cell(1, 1).text = "Henry Winstanley", "Eddystone"
    deck.save(str(path))
    return path


def write_xlsx(path: Path) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Voyages"
    sheet.append(["Captain", "Ship", "Departed"])
    sheet.append(["James Cook", "HMS Endeavour", 1768])
    sheet.append(["William Bligh", "HMS Bounty", 1787])
    second = book.create_sheet("Instruments")
    second.append(["Instrument", "Inventor"])
    second.append(["Reflecting octant", "John Hadley"])
    book.save(str(path))
    return path


def write_odt(path: Path) -> Path:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text="Polynesian wayfinding"))
    document.text.addElement(P(text="Navigators read ocean swells to find islands without instruments."))
    document.save(str(path))
    return path


def write_epub(path: Path) -> Path:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("lodestar-test-book")
    book.set_title("A short history of the compass")
    book.set_language("en")
    chapters = []
    for number, (heading, text) in enumerate(
        [
            ("Song dynasty", "Chinese sailors used the magnetic compass by the eleventh century."),
            ("Medieval Europe", "Alexander Neckam described the compass needle around 1190."),
        ],
        1,
    ):
        chapter = epub.EpubHtml(title=heading, file_name=f"ch{number}.xhtml", lang="en")
        chapter.content = f"<html><body><h1>{heading}</h1><p>{text}</p></body></html>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *chapters]
    epub.write_epub(str(path), book)
    return path


def write_rtf(path: Path) -> Path:
    path.write_bytes(
        rb"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard The lodestone is a naturally "
        rb"magnetised piece of magnetite.\par}"
    )
    return path


WRITERS = {
    ".docx": write_docx,
    ".pptx": write_pptx,
    ".xlsx": write_xlsx,
    ".odt": write_odt,
    ".epub": write_epub,
    ".rtf": write_rtf,
}


def write_all(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {suffix: writer(folder / f"sample{suffix}") for suffix, writer in WRITERS.items()}


def loaded_text(path: Path) -> tuple[str, str]:
    loaded = load_file(path, path.read_bytes())
    assert len(loaded.documents) == 1
    return loaded.documents[0].text, loaded.documents[0].title


def test_word_keeps_headings_lists_and_tables(tmp_path: Path) -> None:
    text, title = loaded_text(write_docx(tmp_path / "clocks.docx"))
    assert title == "Harrison's sea clocks"
    assert "# The H4 watch" in text.splitlines() and "## The Jamaica trial" in text.splitlines()
    assert "- HMS Deptford carried H4 to Jamaica in 1761." in text
    assert "Ship: HMS Tartar; Year: 1764" in text  # rows read with their header
    assert text.index("The H4 watch") < text.index("finished the H4") < text.index("Jamaica trial")


def test_powerpoint_slides_become_sections_with_notes_and_tables(tmp_path: Path) -> None:
    text, title = loaded_text(write_pptx(tmp_path / "deck.pptx"))
    assert title == "Lighthouses"
    lines = text.splitlines()
    assert [line for line in lines if line.startswith("## ")] == [
        "## Slide 1: Lighthouses",
        "## Slide 2: Fresnel",
        "## Slide 3: Keepers",
    ]
    assert "Notes: Speaker notes about fresnel." in text
    assert "Keeper: Henry Winstanley; Station: Eddystone" in text


def test_excel_sheets_become_sections_and_rows_keep_their_header(tmp_path: Path) -> None:
    text, _ = loaded_text(write_xlsx(tmp_path / "voyages.xlsx"))
    assert "## Sheet: Voyages" in text and "## Sheet: Instruments" in text
    assert "Captain: James Cook; Ship: HMS Endeavour; Departed: 1768" in text
    assert "Instrument: Reflecting octant; Inventor: John Hadley" in text


def test_opendocument_epub_and_rtf(tmp_path: Path) -> None:
    text, title = loaded_text(write_odt(tmp_path / "wayfinding.odt"))
    assert text.splitlines()[0] == "# Polynesian wayfinding" and "ocean swells" in text
    assert title == "Polynesian wayfinding"
    text, title = loaded_text(write_epub(tmp_path / "compass.epub"))
    assert title == "A short history of the compass"
    assert text.index("# Song dynasty") < text.index("eleventh century") < text.index("# Medieval Europe")
    text, _ = loaded_text(write_rtf(tmp_path / "lodestone.rtf"))
    assert text == "The lodestone is a naturally magnetised piece of magnetite."


@pytest.mark.parametrize("suffix", sorted(WRITERS))
def test_a_corrupt_file_is_skipped_with_a_reason(tmp_path: Path, suffix: str) -> None:
    good = WRITERS[suffix](tmp_path / f"good{suffix}").read_bytes()
    cases = [("garbage", b"this is not a document at all")]
    if suffix != ".rtf":  # a cut RTF is still text up to the cut; a cut zip has no central directory
        cases.append(("truncated", good[: len(good) // 2]))
    for name, data in cases:
        path = tmp_path / f"{name}{suffix}"
        path.write_bytes(data)
        with pytest.raises(Skip) as caught:
            load_file(path, data)
        reason = str(caught.value)
        assert reason and "\n" not in reason and "Traceback" not in reason


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(MAX_UNPACKED_BYTES // len(block) + 1):
                member.write(block)
    with pytest.raises(Skip, match="zip bomb"):
        load_file(path, path.read_bytes())


def test_ingest_office_files_alongside_bad_ones_then_reingest_changes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "office"
    write_all(folder)
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (folder / "broken.xlsx").write_bytes(b"")
    report = ingest_paths([str(folder)], settings)
    assert report.files == 6 and report.files_new == 6
    assert sorted(Path(s.path).name for s in report.skipped) == ["broken.docx", "broken.xlsx"]
    store = open_collection(settings)
    assert store is not None
    got = store.raw.get(include=["metadatas"])
    sections = {m["section"] for m in got["metadatas"]}
    assert {"Slide 1: Lighthouses", "Sheet: Voyages", "The H4 watch", "Song dynasty"} <= sections
    hits = retrieve_sync("Which ship carried H4 to Jamaica?", settings, top_k=3)
    assert "HMS Deptford" in hits[0].text
    again = ingest_paths([str(folder)], settings)
    assert (again.files_new, again.files_changed, again.files_unchanged, again.chunks_added) == (0, 0, 6, 0)
    assert again.chunks_unchanged == report.chunks_added


def test_long_decks_are_chunked_at_slide_boundaries(settings: Settings, tmp_path: Path) -> None:
    from pptx import Presentation

    deck = Presentation()
    for number in range(1, 13):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Topic {number}"
        slide.placeholders[1].text = " ".join(f"fact{number}x{i}" for i in range(150))
    deck.save(str(tmp_path / "long.pptx"))
    ingest_paths([str(tmp_path / "long.pptx")], settings)
    store = open_collection(settings)
    assert store is not None
    got = store.raw.get(include=["documents", "metadatas"])
    assert len(got["ids"]) >= 6  # too long for one chunk
    for text, meta in zip(got["documents"], got["metadatas"], strict=True):
        number = int(meta["section"].removeprefix("Slide ").split(":")[0])
        facts = {word.split("x")[0] for word in text.split() if word.startswith("fact")}
        assert facts <= {f"fact{number}", f"fact{number - 1}"}  # a chunk stays in its slide (plus overlap)
