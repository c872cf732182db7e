"""Reading files into documents: .txt, .md, .html (visible text only), .pdf, .jsonl (one document a line), and
office documents and e-books (.docx, .pptx, .xlsx, .odt, .epub, .rtf) through :mod:`rag.office`.

A loader never raises for a bad file: problems become :class:`Skip` reasons (binary, unreadable, empty, too large,
unsupported) so that one bad file never stops an ingest; malformed JSONL lines are reported with their numbers.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from agent.core.errors import one_line
from rag.office import OFFICE_SUFFIXES, Unreadable, office_to_text

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl", *OFFICE_SUFFIXES)
_BINARY_SAMPLE = 8192


@dataclass
class Document:
    """One logical document: a file, or one JSONL line. ``key`` is unique within its file."""

    text: str
    title: str
    key: str = ""


@dataclass
class LoadedFile:
    path: Path
    file_hash: str
    documents: list[Document] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # e.g. "line 7: not JSON"; the file itself still counts


class Skip(Exception):
    """A file that cannot be ingested; ``str()`` is the reason shown to the user."""

    def __init__(self, reason: str, problems: list[str] | None = None) -> None:
        super().__init__(reason)
        self.problems = problems or []


@dataclass
class Walk:
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    ignored: int = 0  # files of other types inside folders


def discover(paths: list[str]) -> Walk:
    """Expand command-line paths: files as given, folders recursively (hidden entries and other types ignored)."""
    walk = Walk()
    seen: set[Path] = set()

    def add(path: Path) -> None:
        if not _utf8_name(path):  # Chroma stores paths as UTF-8 text: such a file could never be found again
            walk.skipped.append((os.fsdecode(path).encode("utf-8", "backslashreplace").decode(), NON_UTF8_NAME))
            return
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:  # RuntimeError: Python's "Symlink loop" before 3.13
            looped = isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP
            walk.skipped.append((str(path), "symlink loop" if looped else f"unreadable: {exc}"))
            return
        if resolved not in seen:
            seen.add(resolved)
            walk.files.append(resolved)

    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    child = Path(root) / name
                    if child.suffix.lower() in SUPPORTED:
                        add(child)
                    else:
                        walk.ignored += 1
        elif path.is_symlink() and not path.exists():
            add(path)  # a broken or looping link: reported by add
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED:
                add(path)
            else:
                walk.skipped.append((str(path), f"unsupported file type {path.suffix or '(none)'!r}"))
        elif path.exists():
            walk.skipped.append((str(path), "not a regular file"))
        else:
            walk.skipped.append((str(path), "no such file or folder"))
    return walk


NON_UTF8_NAME = "the file name is not UTF-8 text: rename the file"


def _utf8_name(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_bytes(path: Path, max_mb: float) -> bytes:
    """The file's bytes after the size checks; raises :class:`Skip`."""
    try:
        size = path.stat().st_size
        if size > max_mb * 1024 * 1024:
            raise Skip(f"too large ({size / 1024 / 1024:.1f} MB > rag.max_file_mb = {max_mb:g} MB)")
        if size == 0:
            raise Skip("empty file")
        return path.read_bytes()
    except OSError as exc:
        raise Skip(f"unreadable: {exc.strerror or exc}") from None


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _looks_binary(data: bytes) -> bool:
    sample = data[:_BINARY_SAMPLE]
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return control > len(sample) * 0.05


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Latin-1 for old text files; binary data raises :class:`Skip`."""
    if _looks_binary(data):
        raise Skip("binary file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _title_from_markdown(text: str, fallback: str) -> str:
    for line in text.splitlines():
        match = re.match(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", line)
        if match:
            return match.group(1).strip()
        if line.strip():
            break
    return fallback


def _title_from_text(text: str, fallback: str) -> str:
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return first if 0 < len(first) <= 120 else fallback


# -- HTML -------------------------------------------------------------------------------------------------------

_INVISIBLE = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object", "canvas")
_CHROME = ("nav", "form", "button", "select", "dialog")  # site navigation and controls, not the document
_BLOCKS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "tr",
        "ul",
        "caption",
    ]
)
_CELLS = frozenset({"td", "th"})


def html_to_text(data: str) -> tuple[str, str]:
    """Visible text of an HTML page with block structure kept as blank lines and headings as ``#`` lines."""
    from selectolax.lexbor import LexborHTMLParser, LexborNode

    tree = LexborHTMLParser(data)
    title_node = tree.css_first("title")
    title = " ".join(title_node.text().split()) if title_node is not None else ""
    for node in tree.css(", ".join(_INVISIBLE)):
        node.decompose()
    for node in tree.css("[hidden], [aria-hidden=true], " + ", ".join(_CHROME)):
        node.decompose()
    # The page's main content when it marks it; else the whole body (less navigation, above).
    root = tree.css_first("main") or tree.css_first("article") or tree.body or tree.root
    parts: list[str] = []
    # An explicit stack, not recursion: a page nested 5,000 levels deep must not hit Python's recursion limit.
    # An item is a node to visit, or a string to emit once its children are done.
    stack: list[LexborNode | str] = [root] if root is not None else []
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        node = item
        tag = node.tag
        if tag == "-text":
            parts.append(node.text_content or "")
            continue
        if tag in ("-comment", "!doctype"):
            continue
        if tag == "br":
            parts.append("\n")
            continue
        heading = re.fullmatch(r"h([1-6])", tag or "")
        if heading:
            parts.append("\n\n" + "#" * int(heading.group(1)) + " ")
        elif tag in _BLOCKS:
            parts.append("\n\n")
        elif tag in _CELLS:
            parts.append(" | ")
        if heading or tag in _BLOCKS:
            stack.append("\n\n")
        stack.extend(reversed(list(node.iter(include_text=True))))
    text = "".join(parts)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    text = re.sub(r"^(#{1,6}) *$\n*", "", text, flags=re.MULTILINE)  # headings with no text
    if not title:
        title = _title_from_markdown(text, "")
    return text, title


# -- PDF --------------------------------------------------------------------------------------------------------


def pdf_to_text(data: bytes) -> tuple[str, str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Skip("encrypted PDF")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        meta_title = ""
        if reader.metadata is not None and reader.metadata.title:
            meta_title = str(reader.metadata.title).strip()
    except Skip:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise Skip(f"unreadable PDF: {one_line(str(exc), 120)}") from None
    except Exception as exc:  # pypdf raises a zoo of errors on damaged files
        raise Skip(f"unreadable PDF: {type(exc).__name__}") from None
    return "\n\n".join(p for p in pages if p), meta_title


# -- JSONL ------------------------------------------------------------------------------------------------------


def jsonl_documents(text: str, fallback_title: str) -> tuple[list[Document], list[str]]:
    """One document per line: ``text`` (required), ``id`` and ``title`` (optional). Bad lines become problems."""
    documents: list[Document] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            problems.append(f"line {number}: not JSON ({getattr(exc, 'msg', exc)})")
            continue
        if not isinstance(record, dict):
            problems.append(f"line {number}: not a JSON object")
            continue
        body = record.get("text")
        if not isinstance(body, str) or not body.strip():
            problems.append(f'line {number}: no "text" string')
            continue
        raw_id = record.get("id")
        if raw_id is not None and not isinstance(raw_id, (str, int)):
            problems.append(f'line {number}: "id" must be a string or a number')
            continue
        title = record.get("title")
        key = str(raw_id) if raw_id is not None else "sha-" + hashlib.sha256(body.encode()).hexdigest()[:12]
        if key in seen:
            problems.append(f"line {number}: duplicate id {key!r} (first on line {seen[key]})")
            continue
        seen[key] = number
        documents.append(Document(text=body, title=str(title).strip() if title else fallback_title, key=key))
    return documents, problems


# -- dispatch ---------------------------------------------------------------------------------------------------


def load_file(path: Path, data: bytes) -> LoadedFile:
    """Parse ``data`` (the bytes of ``path``) into documents; raises :class:`Skip` when nothing usable is inside."""
    try:
        return _load_file(path, data)
    except RecursionError:  # a parser's own recursion on a pathological file: that file only
        raise Skip("nested too deeply to parse") from None


def _load_file(path: Path, data: bytes) -> LoadedFile:
    suffix = path.suffix.lower()
    loaded = LoadedFile(path=path, file_hash=file_hash(data))
    stem = path.stem.replace("_", " ").replace("-", " ").strip() or path.name
    if suffix == ".pdf":
        if not data.startswith(b"%PDF"):
            raise Skip("not a PDF file")
        text, title = pdf_to_text(data)
        loaded.documents = [Document(text=text, title=title or stem)] if text.strip() else []
    elif suffix == ".jsonl":
        loaded.documents, loaded.problems = jsonl_documents(decode_text(data), stem)
    elif suffix in (".html", ".htm"):
        text, title = html_to_text(decode_text(data))
        loaded.documents = [Document(text=text, title=title or stem)] if text.strip() else []
    elif suffix in OFFICE_SUFFIXES:
        try:
            text, title = office_to_text(suffix, data, html_to_text)
        except Unreadable as exc:
            raise Skip(str(exc)) from None
        loaded.documents = [Document(text=text, title=title or stem)] if text.strip() else []
    else:
        text = decode_text(data)
        title = _title_from_markdown(text, stem) if suffix in (".md", ".markdown") else _title_from_text(text, stem)
        loaded.documents = [Document(text=text, title=title)] if text.strip() else []
    if not loaded.documents:
        if loaded.problems:
            raise Skip(f"no valid lines ({len(loaded.problems)} malformed)", loaded.problems)
        raise Skip("no text" if suffix == ".pdf" else "empty (no text)")
    return loaded
