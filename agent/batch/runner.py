"""``lodestar batch IN.jsonl -o OUT.jsonl``: answer a file of questions concurrently, score them, survive crashes.

Input lines are ``{"id"?, "question", "answers"?: [...], "mode"?}``; the id defaults to the line number (``line-N``
when another line wrote that number as its id). Every input problem is reported on stderr with its line number and
counted in the summary (``--strict``: exit 2 before answering anything). Each finished question is appended to OUT
as one JSON line, flushed and fsync'd (fsyncs of lines that finish together are grouped), so a crash loses at most
the questions in flight; ``--resume`` keeps the answered lines, drops a line torn by a crash and error lines, and
answers what is left. A line is never written twice for one id. The last line on stdout is a JSON summary (counts,
EM/F1/accuracy/Hits@1 overall and per mode, LLM usage, wall time).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError

from agent.batch.metrics import Scoreboard, score
from agent.core.config import Settings
from agent.core.errors import (
    BadInputError,
    EndpointUnreachable,
    EnvironmentFault,
    LodestarError,
    error_line,
    os_error_message,
    validation_line,
)
from agent.core.terminal import safe_text
from agent.core.trace import Trace, Usage
from agent.run.modes import DEFAULT_MODE, MODE_NAMES, needs_probe
from agent.run.question import run_question

# -- input ------------------------------------------------------------------------------------------------------


class InputLine(BaseModel):
    """One input line. Types are strict: a number where a string belongs is an input error, not a guess."""

    model_config = ConfigDict(extra="ignore")  # datasets carry extra fields (type, supporting facts...)

    id: StrictInt | StrictStr | None = None
    question: StrictStr
    answers: list[StrictStr] | None = None
    mode: StrictStr | None = None
    gold_docs: list[StrictStr] | None = None  # ids of the documents that hold the answer (the report marks them)


@dataclass(frozen=True, slots=True)
class Item:
    id: int | str
    question: str
    mode: str
    line: int
    answers: tuple[str, ...] | None = None
    gold_docs: tuple[str, ...] | None = None
    implicit_id: bool = False  # no id on the line: its line number, or ``line-N`` if the user wrote that number

    @property
    def key(self) -> str:
        return id_key(self.id)


@dataclass
class Questions:
    items: list[Item] = field(default_factory=list)
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    duplicates: list[tuple[int, str]] = field(default_factory=list)


def id_key(value: object) -> str:
    """Ids compare as text: 7 and "7" are the same question."""
    return str(value)


def parse_line(raw: bytes, number: int, default_mode: str) -> Item:
    """One input line to an Item; raises ValueError with a short reason."""
    try:
        data = json.loads(raw.decode("utf-8-sig"))  # a BOM on line 1 is not an error
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(json_problem(exc)) from None
    if not isinstance(data, dict):
        raise ValueError(f"not a JSON object but {type(data).__name__}")
    try:
        line = InputLine.model_validate(data)
    except ValidationError as exc:
        raise ValueError(validation_line(exc, top="line")) from None
    question = line.question.strip()
    if not question:
        raise ValueError("question: empty")
    if isinstance(line.id, str) and not line.id.strip():
        raise ValueError("id: empty")
    mode = line.mode or default_mode
    if mode not in MODE_NAMES:
        raise ValueError(f"mode: unknown mode {mode!r} (modes: {', '.join(MODE_NAMES)})")
    answers = tuple(line.answers) if line.answers else None
    gold_docs = tuple(line.gold_docs) if line.gold_docs else None
    return Item(
        id=number if line.id is None else line.id,
        question=question,
        mode=mode,
        line=number,
        answers=answers,
        gold_docs=gold_docs,
        implicit_id=line.id is None,
    )


def read_input(path: Path) -> bytes:
    """A JSONL file given on the command line (questions, answers), or one BadInputError saying why not."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadInputError(f"{path}: is a folder, not a JSONL file") from None
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read: {exc.strerror}") from None


def json_problem(exc: json.JSONDecodeError) -> str:
    return f"not valid JSON ({exc.msg} at column {exc.colno})"


def read_questions(path: Path, default_mode: str) -> Questions:
    """Parse the whole input first: problems are known (and --strict can fail) before any question is asked."""
    data = read_input(path)
    found = Questions()
    first_line: dict[str, int] = {}
    parsed: list[Item] = []
    for number, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue  # blank lines hold no question
        try:
            parsed.append(parse_line(raw, number, default_mode))
        except ValueError as exc:
            found.malformed.append((number, str(exc)))
    written = {id_key(item.id) for item in parsed if not item.implicit_id}
    for item in parsed:
        if item.implicit_id and item.key in written:  # the line number is an id the user wrote for another line
            implicit = f"line-{item.line}"
            while implicit in written:
                implicit = f"_{implicit}"
            item = dataclasses.replace(item, id=implicit)
        number = item.line
        if item.key in first_line:
            found.duplicates.append((number, f"duplicate id {item.id!r} (first on line {first_line[item.key]})"))
            continue
        first_line[item.key] = number
        found.items.append(item)
    return found


# -- output -----------------------------------------------------------------------------------------------------


@dataclass
class Previous:
    """What an earlier run left in OUT."""

    kept: dict[str, dict[str, Any]] = field(default_factory=dict)  # id key -> answered record
    raw: list[bytes] = field(default_factory=list)  # the lines to keep, byte for byte
    dropped_torn: int = 0
    dropped_errors: int = 0
    dropped_duplicates: int = 0
    unterminated: bool = False  # the file does not end with a newline: appending needs a rewrite first

    @property
    def changed(self) -> bool:
        return bool(self.dropped_torn or self.dropped_errors or self.dropped_duplicates or self.unterminated)


def read_previous(path: Path, retry: set[str]) -> Previous:
    """Parse OUT for --resume. Unparsable lines (a crash can tear the last one) are dropped so their ids are
    answered again; so are error lines whose id is in ``retry`` (the ids of this input)."""
    previous = Previous()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return previous
    except OSError as exc:
        raise LodestarError(f"{path}: cannot read: {exc.strerror}") from None
    previous.unterminated = bool(data) and not data.endswith(b"\n")
    seen: set[str] = set()
    for number, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            previous.dropped_torn += 1
            continue
        if not isinstance(record, dict) or "id" not in record:
            previous.dropped_torn += 1
            continue
        if "answer" not in record:  # not an answers file (the questions, say): never count it, never rewrite it
            raise BadInputError(
                f'{path}: line {number} is not an answer record (no "answer" field): is -o the right file?'
            )
        key = id_key(record["id"])
        if key in seen:
            previous.dropped_duplicates += 1
            continue
        if record.get("error") and key in retry:
            previous.dropped_errors += 1
            continue
        seen.add(key)
        previous.raw.append(raw)
        if not record.get("error"):
            previous.kept[key] = record
    return previous


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def rewrite(path: Path, lines: list[bytes]) -> None:
    """Replace ``path`` with ``lines`` atomically (temp file, fsync, rename): a crash leaves old or new, whole."""
    tmp = path.with_name(f".{path.name}.rewrite")
    with tmp.open("wb") as fh:
        for raw in lines:
            fh.write(raw + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class OutputWriter:
    """Appends JSON lines; each line is written and flushed at once, then fsync'd.

    Lines are written synchronously on the event loop, so they never interleave; the fsync runs in a thread and
    covers every line written before it started, so questions finishing together share one fsync.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = path.open("ab")
        self._written = 0
        self._synced = 0
        self._lock = asyncio.Lock()

    def write(self, record: dict[str, Any]) -> int:
        self._fh.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
        self._fh.flush()
        self._written += 1
        return self._written

    async def sync(self, upto: int) -> None:
        async with self._lock:
            if self._synced >= upto:
                return
            target = self._written
            await asyncio.to_thread(os.fsync, self._fh.fileno())
            self._synced = max(self._synced, target)

    def close(self) -> None:
        if self._fh.closed:
            return
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        finally:
            self._fh.close()


# -- answering --------------------------------------------------------------------------------------------------


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def trace_name(item_id: int | str) -> str:
    """A file name for an id: readable when the id is, unique always (a hash is added when characters change)."""
    text = id_key(item_id)
    safe = _UNSAFE.sub("_", text)[:80].lstrip(".") or "_"
    if safe != text:
        safe += "-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{safe}.jsonl"


def traces_folder(settings: Settings, output: Path) -> Path:
    """traces/batch-<output stem>-<hash of its full path>: one folder per output file, stable across resumes."""
    digest = hashlib.sha256(str(output.resolve()).encode("utf-8")).hexdigest()[:8]
    return settings.traces_dir / f"batch-{_UNSAFE.sub('_', output.stem)[:60]}-{digest}"


def _record(
    item: Item,
    *,
    answer: str | None,
    citations: list[dict[str, Any]],
    usage: Usage,
    latency_s: float,
    trace_file: str | None,
    error: str | None,
) -> dict[str, Any]:
    record: dict[str, Any] = {"id": item.id, "question": item.question, "answer": answer, "mode": item.mode}
    if item.answers is not None:
        record["answers"] = list(item.answers)
        if error is None and answer is not None:
            record.update(score(answer, item.answers, mode=item.mode))
    if item.gold_docs is not None:
        record["gold_docs"] = list(item.gold_docs)
    record.update(citations=citations, usage=usage.model_dump(), latency_s=round(latency_s, 4), trace_file=trace_file)
    if error is not None:
        record["error"] = error
    return record


@dataclass
class Breaker:
    """Counts consecutive questions that failed because the endpoint could not be reached; at ``limit`` the batch
    stops taking new questions instead of spending every question's retry budget on a dead server."""

    limit: int = 5
    run: int = 0
    last_error: str = ""

    @property
    def tripped(self) -> bool:
        return self.limit > 0 and self.run >= self.limit

    def reason(self) -> str:
        return f"the endpoint was unreachable for {self.run} questions in a row ({self.last_error})"

    def note(self, unreachable: str | None) -> None:
        self.run = self.run + 1 if unreachable else 0
        self.last_error = unreachable or self.last_error


async def answer_item(item: Item, hub: Any, folder: Path, breaker: Breaker | None = None) -> dict[str, Any]:
    """Answer one question (its trace goes to ``folder``); every failure except cancellation becomes an error
    record."""
    started = time.perf_counter()
    path = folder / trace_name(item.id)
    # a resumed id starts a fresh trace; creating the file can wait on the disk's journal (the output's fsyncs), so
    # it happens in a thread rather than stalling every question in flight
    trace = await asyncio.to_thread(Trace, path=path, fresh=True, live=False)
    unreachable: str | None = None
    try:
        result = await run_question(item.question, item.mode, hub, trace=trace)
    except Exception as exc:  # a bug in one mode must not sink the batch; the trace records it too
        error = error_line(exc)
        unreachable = error if isinstance(exc, EndpointUnreachable) else None
    else:
        return _record(
            item,
            answer=result.answer,
            citations=[c.model_dump() for c in result.citations],
            usage=result.usage,
            latency_s=result.latency_s,
            trace_file=str(path),
            error=None,
        )
    finally:
        if breaker is not None:
            breaker.note(unreachable)
        await asyncio.to_thread(trace.close)  # the buffered events go to disk here: off the loop, like the open
    return _record(
        item,
        answer=None,
        citations=[],
        usage=trace.usage,
        latency_s=time.perf_counter() - started,
        trace_file=str(path),
        error=error,
    )


# -- progress ---------------------------------------------------------------------------------------------------


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr: done/total, questions per second, ETA and errors."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.1f} q/s" if speed else "- q/s", style="progress.data.speed")

    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[errors]} errors"),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )
    task = progress.add_task("batch", total=total, errors=0)

    def advance(errors: int) -> None:
        progress.update(task, advance=1, errors=errors)

    with progress:
        yield advance


# -- the command ------------------------------------------------------------------------------------------------


@dataclass
class BatchOptions:
    """The command's arguments, usable without argparse (tests, benchmarks)."""

    input: Path
    output: Path
    mode: str | None = None
    concurrency: int = 4
    resume: bool = False
    limit: int | None = None
    strict: bool = False
    cache: bool = False
    progress: bool = True
    breaker: int = 5  # consecutive unreachable-endpoint failures that stop the batch (0: never)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BatchOptions:
        return cls(
            input=Path(args.input),
            output=Path(args.output),
            mode=args.mode,
            concurrency=args.concurrency,
            resume=args.resume,
            limit=args.limit,
            strict=args.strict,
            cache=args.cache,
        )

    def check(self) -> None:
        if self.concurrency < 1:
            raise BadInputError(f"--concurrency must be at least 1, not {self.concurrency}")
        if self.limit is not None and self.limit < 0:
            raise BadInputError(f"--limit must be 0 or more, not {self.limit}")
        if self.mode is not None and self.mode not in MODE_NAMES:
            raise BadInputError(f"unknown mode {self.mode!r} (modes: {', '.join(MODE_NAMES)})")
        if self.input.exists() and self.output.exists() and self.input.resolve() == self.output.resolve():
            raise BadInputError("the output file must not be the input file")


def _warn(message: str) -> None:
    print(f"lodestar: {safe_text(message)}", file=sys.stderr, flush=True)


def _prepare_output(options: BatchOptions, items: list[Item]) -> Previous:
    """Make OUT ready to append to; with --resume, keep its answered lines (and rewrite it if a line is dropped)."""
    out = options.output
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if not options.resume:
            if out.exists() and out.stat().st_size > 0:
                raise BadInputError(f"{out}: already exists: pass --resume to continue it, or remove it")
            return Previous()
        previous = read_previous(out, {item.key for item in items})
        if previous.changed:
            rewrite(out, previous.raw)
    except OSError as exc:
        raise LodestarError(f"{out}: cannot prepare the output: {exc.strerror or exc}") from None
    if previous.dropped_torn:
        _warn(
            f"{out}: dropped {previous.dropped_torn} unreadable line(s) (torn by a crash?); "
            "their questions are asked again"
        )
    if previous.dropped_errors:
        _warn(f"{out}: answering {previous.dropped_errors} question(s) again that had failed")
    return previous


async def _probe_if_needed(hub: Any, modes: set[str]) -> None:
    """Modes that choose their fallbacks from the endpoint's capabilities need one probe (cached)."""
    if not needs_probe(modes):
        return
    try:
        await hub.probe_all()
    except EndpointUnreachable:
        raise
    except LodestarError as exc:
        _warn(f"could not probe the endpoint's capabilities ({exc}); assuming the defaults")


async def run_batch(options: BatchOptions, settings: Settings) -> dict[str, Any]:
    """The whole command; returns the summary. On Ctrl-C (cancellation) the summary so far is printed here, with
    ``interrupted: true``, and the CancelledError goes on up (the CLI exits 130)."""
    from agent.llm.cache import ResponseCache
    from agent.llm.hub import LLMHub

    options.check()
    started = time.perf_counter()
    found = read_questions(options.input, options.mode or DEFAULT_MODE)
    problems = sorted(found.malformed + found.duplicates)
    if options.strict and problems:
        number, reason = problems[0]
        raise BadInputError(f"{options.input}:{number}: {reason}")
    for number, reason in problems:
        _warn(f"{options.input}:{number}: skipped: {reason}")

    previous = _prepare_output(options, found.items)
    resumed = [item for item in found.items if item.key in previous.kept]
    todo = [item for item in found.items if item.key not in previous.kept]
    if options.limit is not None:
        todo = todo[: options.limit]

    board = Scoreboard()
    for item in resumed:  # an earlier run's answers count as they were made (their mode, their usage)
        record = previous.kept[item.key]
        board.plan(str(record.get("mode", item.mode)))
        board.add(record)
    for item in todo:
        board.plan(item.mode)

    def summary(interrupted: bool) -> dict[str, Any]:
        scores = board.summary()
        by_mode = scores.pop("by_mode")
        head = {key: scores.pop(key) for key in ("total", "answered", "errors")}
        overall = board.overall
        return {
            **head,
            "skipped_malformed": len(found.malformed),
            "duplicates": len(found.duplicates),
            **scores,
            "wall_s": round(time.perf_counter() - started, 3),
            **({"first_error": board.first_error} if board.first_error else {}),
            "by_mode": by_mode,
            "resumed": len(resumed),
            "remaining": len(found.items) - overall.answered - overall.errors,
            "interrupted": interrupted,
            **({"stopped": breaker.reason()} if breaker.tripped else {}),
            "output": str(options.output),
            "input": str(options.input),
        }

    breaker = Breaker(options.breaker)
    folder = traces_folder(settings, options.output).resolve()  # output lines name traces by absolute path
    cache = ResponseCache.for_settings(settings) if options.cache else None
    writer: OutputWriter | None = None
    try:
        writer = OutputWriter(options.output)
        async with LLMHub(settings, cache=cache) as hub:
            if todo:
                await _probe_if_needed(hub, {item.mode for item in todo})
            with _progress(len(todo), options.progress) as advance:
                await _answer_all(todo, hub, folder, writer, board, advance, options.concurrency, breaker)
    except asyncio.CancelledError:  # Ctrl-C: what finished is on disk; say so, then let the CLI exit 130
        print(json.dumps(summary(True), ensure_ascii=False), flush=True)
        raise
    except OSError as exc:  # name the file that failed: the output, a trace, the cache...
        raise EnvironmentFault(os_error_message(exc, exc.filename or options.output, "cannot write")) from None
    finally:
        if writer is not None:
            try:
                writer.close()  # the last flush and fsync: a full disk can show itself only here
            except OSError as exc:
                raise EnvironmentFault(os_error_message(exc, options.output, "cannot write")) from None
        if cache is not None:
            cache.close()
    return summary(False)


async def _answer_all(
    todo: list[Item],
    hub: Any,
    folder: Path,
    writer: OutputWriter,
    board: Scoreboard,
    advance: Any,
    concurrency: int,
    breaker: Breaker | None = None,
) -> None:
    """A fixed pool of workers pulls from one iterator: memory stays flat however long the batch. A tripped
    ``breaker`` stops the workers taking new questions; those in flight finish and are written."""
    queue = iter(todo)

    async def worker() -> None:
        for item in queue:
            if breaker is not None and breaker.tripped:
                return
            record = await answer_item(item, hub, folder, breaker)
            ticket = writer.write(record)  # on disk (in the OS) from here: a kill cannot lose it
            board.add(record)
            advance(board.errors)
            await writer.sync(ticket)

    workers = [asyncio.create_task(worker()) for _ in range(min(concurrency, len(todo)))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


async def cmd_batch(args: argparse.Namespace, settings: Settings) -> int:
    """The CLI handler: 0 when the batch ran (per-question errors are in OUT and the summary), 1 when questions
    ran but none could be answered (an endpoint down, say), 2 on bad input (raised as BadInputError), 1 on a
    runtime failure, 130 on Ctrl-C (via the CLI)."""
    summary = await run_batch(BatchOptions.from_args(args), settings)
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    if "stopped" in summary:
        print(
            f"lodestar: error: stopped: {summary['stopped']}; {summary['answered']} answered and written to "
            f"{summary['output']}, {summary['remaining']} left; when the endpoint is back, continue with: "
            f"lodestar batch {summary['input']} -o {summary['output']} --resume",
            file=sys.stderr,
        )
        return 1
    if summary["errors"] and not summary["answered"]:
        print(
            f"lodestar: error: no question could be answered ({summary['errors']} recorded as errors in "
            f"{summary['output']}); the first: {summary['first_error']}",
            file=sys.stderr,
        )
        return 1
    return 0
