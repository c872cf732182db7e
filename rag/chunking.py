"""Structure-following chunking measured in the embedding model's word pieces.

A document is split recursively, coarsest structure first: sections (at Markdown headings), paragraphs (blank
lines), lines and sentences, and only as a last resort fixed windows of word pieces. Adjacent pieces are merged
back greedily while they fit, so chunks end at the coarsest boundary that keeps them in budget. Consecutive
chunks of one section then overlap by up to ``overlap`` word pieces, starting at a sentence or word boundary.

Every chunk is an exact substring of the document (``text[start:end]``), so its offsets can be shown and
checked; no chunk exceeds the model's window (the special tokens are accounted for).
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

Span = tuple[int, int]

_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+\S.*$", re.MULTILINE)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_LINE_BREAK = re.compile(r"\n\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?…;:])[\"'”’)\]]*\s+(?=\S)")


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int
    end: int
    index: int
    section: str = ""


class _Tokens:
    """Word-piece offsets of one document, to count the pieces inside any character span quickly."""

    def __init__(self, offsets: list[tuple[int, int]]) -> None:
        pieces = [(a, b) for a, b in offsets if b > a]
        self.starts = [a for a, _ in pieces]
        self.ends = [b for _, b in pieces]

    def count(self, start: int, end: int) -> int:
        i = bisect.bisect_left(self.starts, start)
        j = bisect.bisect_right(self.ends, end)
        return max(0, j - i)

    def in_span(self, start: int, end: int) -> list[Span]:
        i = bisect.bisect_left(self.starts, start)
        j = bisect.bisect_right(self.ends, end)
        return list(zip(self.starts[i:j], self.ends[i:j], strict=False))


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_at(text: str, span: Span, pattern: re.Pattern[str], *, before: bool = False) -> list[Span]:
    """Split ``span`` at each match: after the match (separators) or before it (headings start a piece)."""
    start, end = span
    cuts = [start]
    for match in pattern.finditer(text, start, end):
        cut = match.start() if before else match.end()
        if start < cut < end:
            cuts.append(cut)
    cuts.append(end)
    pieces = [_trim(text, a, b) for a, b in itertools.pairwise(cuts)]
    return [p for p in pieces if p[1] > p[0]]


class Chunker:
    """Chunks documents for one tokenizer. ``offsets(text)`` gives the word pieces' character spans."""

    def __init__(
        self,
        offsets: Callable[[str], list[tuple[int, int]]],
        *,
        max_tokens: int,
        overlap: int = 0,
        count: Callable[[list[str]], list[int]] | None = None,
        hard_limit: int | None = None,
    ) -> None:
        if max_tokens < 8:
            raise ValueError("max_tokens must be at least 8")
        self._offsets = offsets
        self._count = count
        self.max_tokens = max_tokens
        self.hard_limit = hard_limit or max_tokens
        self.overlap = max(0, min(overlap, max_tokens // 2))
        self.budget = max_tokens - self.overlap  # room left for the overlap that is prepended later

    # -- splitting ----------------------------------------------------------------------------------------------

    def _levels(self) -> list[Callable[[str, Span], list[Span]]]:
        return [
            lambda text, span: _split_at(text, span, _HEADING, before=True),
            lambda text, span: _split_at(text, span, _PARAGRAPH_BREAK),
            lambda text, span: _split_at(text, span, _LINE_BREAK),
            lambda text, span: _split_at(text, span, _SENTENCE_END),
        ]

    def _windows(self, text: str, span: Span, tokens: _Tokens) -> list[Span]:
        """Last resort: windows of ``budget`` word pieces, cut at word starts when possible."""
        pieces = tokens.in_span(*span)
        if not pieces:
            return [span]
        out: list[Span] = []
        i = 0
        while i < len(pieces):
            j = min(i + self.budget, len(pieces))
            if j < len(pieces):  # back off to a word start so no word is cut in two
                k = j
                while k > i + 1 and not (pieces[k][0] > 0 and text[pieces[k][0] - 1].isspace()):
                    k -= 1
                j = k if k > i + 1 else j
            a = span[0] if i == 0 else pieces[i][0]
            b = span[1] if j == len(pieces) else pieces[j - 1][1]
            out.append(_trim(text, a, b))
            i = j
        return [p for p in out if p[1] > p[0]]

    def _split(self, text: str, span: Span, level: int, tokens: _Tokens) -> list[Span]:
        if tokens.count(*span) <= self.budget:
            return [span]
        levels = self._levels()
        while level < len(levels):
            parts = levels[level](text, span)
            if len(parts) > 1:
                out: list[Span] = []
                for part in parts:
                    out.extend(self._split(text, part, level + 1, tokens))
                return self._merge(text, out, tokens, sections=level == 0)
            level += 1
        return self._windows(text, span, tokens)

    def _merge(self, text: str, pieces: list[Span], tokens: _Tokens, *, sections: bool) -> list[Span]:
        """Greedily join neighbours while they fit. Sections join only while the chunk so far is small.

        A lone heading always joins the text after it when the two fit the full size: such a chunk starts at a
        heading, so it gets no overlap and may use the room kept for it.
        """
        merged: list[Span] = []
        for piece in pieces:
            if merged:
                start = merged[-1][0]
                total = tokens.count(start, piece[1])
                lone_heading = _HEADING.fullmatch(text, *merged[-1]) is not None
                fits = total <= self.budget or (lone_heading and total <= self.max_tokens)
                small = tokens.count(*merged[-1]) < self.budget // 4
                if fits and (not sections or small or lone_heading):
                    merged[-1] = (start, piece[1])
                    continue
            merged.append(piece)
        return merged

    # -- overlap ------------------------------------------------------------------------------------------------

    def _overlap_start(self, text: str, previous: Span, span: Span, tokens: _Tokens) -> int:
        """Where chunk ``span`` should start to repeat up to ``overlap`` word pieces of ``previous``."""
        if self.overlap == 0:
            return span[0]
        pieces = tokens.in_span(previous[0], span[0])
        if not pieces:
            return span[0]
        window = pieces[-self.overlap :]
        lowest = window[0][0]
        for match in _SENTENCE_END.finditer(text, lowest, span[0]):  # prefer a sentence start
            if match.end() < span[0]:
                return match.end()
        for a, _ in window:  # else the first word start inside the window
            if a == 0 or text[a - 1].isspace():
                return a if a < span[0] else span[0]
        return span[0]

    # -- public -------------------------------------------------------------------------------------------------

    def chunk(self, text: str) -> list[Chunk]:
        """Split ``text`` into chunks of at most ``max_tokens`` word pieces (and never over ``hard_limit``)."""
        whole = _trim(text, 0, len(text))
        if whole[1] <= whole[0]:
            return []
        tokens = _Tokens(self._offsets(text))
        spans = self._split(text, whole, 0, tokens)
        headings = [(m.start(), m.group(0).strip().lstrip("#").strip()) for m in _HEADING.finditer(text)]
        heading_starts = {start for start, _ in headings}
        final: list[Span] = []
        for i, span in enumerate(spans):
            start = span[0]
            if i and start not in heading_starts:
                start = self._overlap_start(text, spans[i - 1], span, tokens)
            final.append((start, span[1]))
        final = self._enforce_limit(text, final)
        heading_positions = [start for start, _ in headings]
        chunks = []
        for index, (a, b) in enumerate(final):
            h = bisect.bisect_right(heading_positions, a) - 1
            section = headings[h][1] if h >= 0 else ""
            chunks.append(Chunk(text=text[a:b], start=a, end=b, index=index, section=section))
        return chunks

    def _enforce_limit(self, text: str, spans: list[Span]) -> list[Span]:
        """Re-tokenize each chunk alone: context can change word pieces at the edges, so trim any overshoot."""
        if self._count is None:
            return spans
        counts = self._count([text[a:b] for a, b in spans])
        out = []
        for (a, b), n in zip(spans, counts, strict=False):
            while n > self.hard_limit and b > a:
                cut = text.rfind(" ", a, b - 1)
                b = cut if cut > a else b - max(1, (b - a) // 10)
                b = _trim(text, a, b)[1]
                n = self._count([text[a:b]])[0]
            if b > a:
                out.append((a, b))
        return out
