"""Readers for triple files (TSV, CSV, JSONL, N-Triples, Turtle) and alias files.

Each reader yields records tagged with their line number, and a :class:`Malformed` record for every line it
cannot use, so the caller can report or refuse (``--strict``) instead of dropping anything silently.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal, NamedTuple, cast
from urllib.parse import unquote

from agent.core.errors import BadInputError

Format = Literal["tsv", "csv", "jsonl", "nt", "ttl"]
FORMATS: tuple[str, ...] = ("tsv", "csv", "jsonl", "nt", "ttl")
_EXTENSIONS: dict[str, Format] = {
    ".tsv": "tsv",
    ".txt": "tsv",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".nt": "nt",
    ".ttl": "ttl",
}

# Column names accepted in a header row (and as JSONL keys), mapped to the field they fill.
_COLUMNS = {
    "head": "head",
    "subject": "head",
    "h": "head",
    "s": "head",
    "source": "head",
    "from": "head",
    "relation": "relation",
    "predicate": "relation",
    "r": "relation",
    "p": "relation",
    "rel": "relation",
    "edge": "relation",
    "label": "relation",
    "property": "relation",
    "tail": "tail",
    "object": "tail",
    "t": "tail",
    "o": "tail",
    "target": "tail",
    "to": "tail",
    "head_id": "head_id",
    "subject_id": "head_id",
    "source_id": "head_id",
    "tail_id": "tail_id",
    "object_id": "tail_id",
    "target_id": "tail_id",
}


class Record(NamedTuple):
    """One usable line: a triple (ids default to names), a name for an entity, or an alias.

    A NamedTuple, not a dataclass: a million of them are created per million-line load.
    """

    line: int
    kind: Literal["triple", "name", "alias"]
    head: str
    relation: str = ""
    tail: str = ""
    head_id: str | None = None
    tail_id: str | None = None


class Malformed(NamedTuple):
    line: int
    reason: str


def detect_format(path: Path, given: str | None) -> Format:
    if given:
        return cast(Format, given)  # the CLI's --format choices and GraphRequest allow only Format's values
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise BadInputError(f"{path}: cannot tell the format from the extension; pass --format tsv|csv|jsonl|nt|ttl")
    return fmt


_ODD_SPACE = re.compile(r"\s\s|[^\S ]")  # a whitespace run, or whitespace other than a plain space


def _clean(value: object) -> str:
    """Trimmed, with inner whitespace runs collapsed to one space (the common case skips the split/join)."""
    if value is None:
        return ""
    text = str(value).strip()
    if _ODD_SPACE.search(text):
        text = " ".join(text.split())
    return text


def _header_map(fields: list[str]) -> dict[str, int] | None:
    """Column positions if ``fields`` is a header row naming at least head, relation and tail; else None."""
    names = [f.strip().lower().lstrip("#").strip() for f in fields]
    if not all(n in _COLUMNS for n in names):
        return None
    mapping = {_COLUMNS[n]: i for i, n in enumerate(names)}
    if len(mapping) != len(names) or not {"head", "relation", "tail"} <= set(mapping):
        return None
    return mapping


def _from_fields(line: int, fields: list[str], columns: dict[str, int] | None, sep: str) -> Record | Malformed:
    if columns is None:
        if len(fields) != 3:
            return Malformed(line, f"expected 3 {sep}-separated fields (head, relation, tail), got {len(fields)}")
        columns = _PLAIN
    elif len(fields) != len(columns):
        return Malformed(line, f"expected {len(columns)} {sep}-separated fields as in the header, got {len(fields)}")
    if len(columns) == 3:  # the fast path: no id columns
        head = _clean(fields[columns["head"]])
        relation = _clean(fields[columns["relation"]])
        tail = _clean(fields[columns["tail"]])
        if head and relation and tail:
            return Record(line, "triple", head, relation, tail)
    values = {key: _clean(fields[i]) for key, i in columns.items()}
    return _triple(line, values)


_PLAIN = {"head": 0, "relation": 1, "tail": 2}


def _triple(line: int, values: dict[str, str]) -> Record | Malformed:
    missing = [k for k in ("head", "relation", "tail") if not values.get(k)]
    if missing:
        return Malformed(line, f"empty {missing[0]}")
    return Record(
        line,
        "triple",
        values["head"],
        values["relation"],
        values["tail"],
        values.get("head_id") or None,
        values.get("tail_id") or None,
    )


class _Rows:
    """The general path for delimited rows: blank and ``#`` rows skipped, a header recognised before any data."""

    def __init__(self, sep: str) -> None:
        self.sep = sep
        self.columns: dict[str, int] | None = None
        self.seen_data = False

    def feed(self, number: int, fields: list[str]) -> Record | Malformed | None:
        if not any(f.strip() for f in fields):
            return None
        if not self.seen_data:
            header = _header_map(fields)
            if header is not None:
                self.columns = header
                self.seen_data = True
                return None
        if fields[0].lstrip().startswith("#"):
            return None
        self.seen_data = True
        return _from_fields(number, fields, self.columns, self.sep)


_DIRTY_TSV = re.compile(r"  |[^\S \t]| \t|\t |\t\t")  # anything _clean would change, or an empty field


def read_tsv(path: Path) -> Iterator[Record | Malformed]:
    """Tab-separated triples. Clean three-column lines (nearly all of a big file) skip the general path."""
    rows = _Rows("tab")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for number, raw in enumerate(fh, 1):
            line = raw.rstrip("\r\n")
            columns = rows.columns or _PLAIN
            if (
                rows.seen_data
                and len(columns) == 3
                and line.count("\t") == 2
                and line[:1] not in ("", " ", "#", "\t")
                and line[-1] not in (" ", "\t")
                and not _DIRTY_TSV.search(line)
            ):
                fields = line.split("\t")
                yield Record(
                    number, "triple", fields[columns["head"]], fields[columns["relation"]], fields[columns["tail"]]
                )
                continue
            item = rows.feed(number, line.split("\t"))
            if item is not None:
                yield item


def read_csv(path: Path) -> Iterator[Record | Malformed]:
    """Comma-separated triples, one a line. Each line is parsed on its own: a triple never spans lines, so an
    unterminated quote is that line's error, never a field that swallows the lines after it."""
    rows = _Rows("comma")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for number, raw in enumerate(fh, 1):
            line = raw.rstrip("\r\n")
            if '"' not in line:
                fields = line.split(",")  # what csv makes of a line without quotes, without its cost
            else:
                try:
                    fields = next(csv.reader((line,), strict=True))
                except csv.Error as exc:
                    reason = "unterminated quote" if "end of data" in str(exc) else str(exc)
                    yield Malformed(number, f"bad CSV: {reason}")
                    continue
                except StopIteration:
                    continue
            item = rows.feed(number, fields)
            if item is not None:
                yield item


def read_jsonl(path: Path) -> Iterator[Record | Malformed]:
    """Objects with head/relation/tail (or subject/predicate/object…, optional head_id/tail_id), or [h, r, t]."""
    with path.open(encoding="utf-8-sig") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw)
            except ValueError as exc:
                yield Malformed(number, f"not JSON: {exc.args[0] if exc.args else exc}")
                continue
            if isinstance(item, list):
                if len(item) != 3:
                    yield Malformed(number, f"expected [head, relation, tail], got {len(item)} items")
                    continue
                yield _triple(number, {"head": _clean(item[0]), "relation": _clean(item[1]), "tail": _clean(item[2])})
                continue
            if not isinstance(item, dict):
                yield Malformed(number, "expected a JSON object or a [head, relation, tail] list")
                continue
            values: dict[str, str] = {}
            for key, value in item.items():
                field = _COLUMNS.get(str(key).lower())
                if field and field not in values and isinstance(value, (str, int, float)):
                    values[field] = _clean(value)
            yield _triple(number, values)


# -- N-Triples ------------------------------------------------------------------------------------------------

_IRI = r"<[^<>\"{}|^`\\\s]*>"
_BNODE = r"_:[A-Za-z0-9_.\-]+"
_LITERAL = r"\"(?:[^\"\\]|\\.)*\"(?:@[A-Za-z]+(?:-[A-Za-z0-9]+)*|\^\^" + _IRI + r")?"
_NT_LINE = re.compile(
    rf"^\s*(?P<s>{_IRI}|{_BNODE})\s+(?P<p>{_IRI})\s+(?P<o>{_IRI}|{_BNODE}|{_LITERAL})\s*\.\s*(?:#.*)?$"
)
_LABELS = {
    "http://www.w3.org/2000/01/rdf-schema#label",
    "http://www.w3.org/2004/02/skos/core#prefLabel",
    "http://schema.org/name",
    "https://schema.org/name",
    "http://xmlns.com/foaf/0.1/name",
}
_ALT_LABELS = {
    "http://www.w3.org/2004/02/skos/core#altLabel",
    "http://schema.org/alternateName",
    "https://schema.org/alternateName",
}
_ESCAPES = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def local_name(iri: str, *, spaces: bool) -> str:
    """``http://x.org/res/Pedro_Nunes`` → ``Pedro Nunes`` (``spaces``) or ``Pedro_Nunes``."""
    body = iri.rstrip("/#")
    cut = max(body.rfind("#"), body.rfind("/"))
    name = unquote(body[cut + 1 :] if cut >= 0 else body)
    if ":" in name and cut < 0:
        name = name.rsplit(":", 1)[1]
    name = name or iri
    return name.replace("_", " ") if spaces else name


def _unescape(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            width = 4 if nxt == "u" else 8 if nxt == "U" else 0
            digits = body[i + 2 : i + 2 + width]
            if width and len(digits) == width:
                try:
                    out.append(chr(int(digits, 16)))
                    i += 2 + width
                    continue
                except ValueError:
                    pass
        out.append(ch)
        i += 1
    return "".join(out)


def _literal(token: str) -> tuple[str, str | None]:
    """(text, language tag) of a literal token."""
    end = token.rfind('"')
    suffix = token[end + 1 :]
    return _unescape(token[1:end]), suffix[1:].lower() if suffix.startswith("@") else None


def read_nt(path: Path) -> Iterator[Record | Malformed]:
    """IRIs become entity ids named by their local name; rdfs:label-like literals name them (English first)."""
    with path.open(encoding="utf-8-sig") as fh:
        yield from _statements(enumerate(fh, 1))


def read_ttl(path: Path) -> Iterator[Record | Malformed]:
    """Turtle, parsed by pyoxigraph and read as the N-Triples statements it stands for (numbered in order).

    A syntax error ends the file there (Turtle cannot resynchronise), reported with its line."""
    import pyoxigraph as ox

    def lines() -> Iterator[tuple[int, str]]:
        try:
            for number, triple in enumerate(ox.parse(path=str(path), format=ox.RdfFormat.TURTLE), 1):
                yield number, f"{triple} ."
        except SyntaxError as exc:
            yield getattr(exc, "lineno", None) or 0, f"\0{' '.join(str(exc).split())}"

    yield from _statements(lines())


def _statements(lines: Iterable[tuple[int, str]]) -> Iterator[Record | Malformed]:
    labelled: dict[str, bool] = {}  # id -> whether its current label is English/untagged
    for number, raw in lines:
        text = raw.strip()
        if text.startswith("\0"):
            yield Malformed(number, f"not Turtle: {text[1:]}")
            continue
        if not text or text.startswith("#"):
            continue
        match = _NT_LINE.match(text)
        if match is None:
            yield Malformed(number, "not an N-Triples statement (<s> <p> <o> .)")
            continue
        s, p, o = match.group("s"), match.group("p")[1:-1], match.group("o")
        subject = s[1:-1] if s.startswith("<") else s
        subject_name = local_name(subject, spaces=True) if s.startswith("<") else None
        if o.startswith('"'):
            value, lang = _literal(o)
            value = _clean(value)
            if not value:
                yield Malformed(number, "empty literal")
                continue
            if p in _LABELS:
                preferred = lang in (None, "en") or lang.startswith("en-")
                if subject not in labelled or (preferred and not labelled[subject]):
                    labelled[subject] = preferred
                    yield Record(number, "name", subject, tail=value)
                else:
                    yield Record(number, "alias", subject, tail=value)
                continue
            if p in _ALT_LABELS:
                yield Record(number, "alias", subject, tail=value)
                continue
            yield Record(
                number,
                "triple",
                subject_name or subject,
                local_name(p, spaces=False),
                value,
                head_id=subject,
                tail_id=value,
            )
            continue
        obj = o[1:-1] if o.startswith("<") else o
        obj_name = local_name(obj, spaces=True) if o.startswith("<") else None
        yield Record(
            number,
            "triple",
            subject_name or "",
            local_name(p, spaces=False),
            obj_name or "",
            head_id=subject,
            tail_id=obj,
        )


READERS = {"tsv": read_tsv, "csv": read_csv, "jsonl": read_jsonl, "nt": read_nt, "ttl": read_ttl}


def read_triples(path: Path, fmt: Format) -> Iterator[Record | Malformed]:
    return READERS[fmt](path)


def read_aliases(path: Path) -> Iterator[Record | Malformed]:
    """``entity<TAB>alias[<TAB>alias…]`` lines (a header ``entity<TAB>alias`` is skipped)."""
    with path.open(encoding="utf-8-sig") as fh:
        for number, raw in enumerate(fh, 1):
            text = raw.rstrip("\r\n")
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            fields = [_clean(f) for f in text.split("\t")]
            if (
                number == 1
                and fields[0].lower() in ("entity", "name", "id")
                and len(fields) >= 2
                and fields[1].lower().startswith("alias")
            ):
                continue
            if len(fields) < 2 or not fields[0] or not all(fields[1:]):
                yield Malformed(number, "expected entity<TAB>alias")
                continue
            for alias in fields[1:]:
                yield Record(number, "alias", fields[0], tail=alias)
